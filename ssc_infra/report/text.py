"""Results as people read them: rich markup lines and tables, every value escaped.

Lines are rich markup of our own; every value in them (names, keys, DNs, paths, messages) goes
through `rich.markup.escape`, so a surname `Smit[/x]` prints as it is instead of ending a style
(a MarkupError). Table cells are `Text`, never markup. Print with a console from `console()`:
it does not turn `:x:` in a value into an emoji.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ssc_infra.core.desired import DesiredPartner
from ssc_infra.core.errors import Problem
from ssc_infra.core.movers import Mover
from ssc_infra.core.plan import (
    WAITING_FOR_SYNC,
    Action,
    Backend,
    Change,
    ObjectKind,
    Plan,
    Unmanaged,
)
from ssc_infra.hosts.ansible import HostOutcome, host_of
from ssc_infra.hosts.checks import CheckResult
from ssc_infra.report.summary import PartnerSummary


def console(stderr: bool = False, width: int | None = None) -> Console:
    """The console every command prints through: no emoji codes, no guessed highlighting.

    Our own markup uses no emoji; a value such as `:x:` must print as it is.
    """
    return Console(stderr=stderr, width=width, highlight=False, emoji=False)


def _v(value: object) -> str:
    """A value inside a markup line, followed by plain text: shown literally.

    `escape` doubles a trailing backslash, which only a following tag undoes; before plain
    text the backslash is literal already. A value followed by a tag takes `escape` itself.
    """
    return escape(f"{value}\0")[:-1]


# Problems of one file with one hint shown at most this many times; the rest are counted
# (a renamed site or a cut-off export can give thousands of lines that say one thing).
PROBLEMS_ALIKE_SHOWN = 10


def problem_lines(problems: Sequence[Problem]) -> Iterator[str]:
    """The problems of the inventory at their file:line, with their hints: of one file with
    one hint the first PROBLEMS_ALIKE_SHOWN, then how many more there are like them
    (`validate --format json` lists every one)."""
    yield (f"[bold red]The inventory has {len(problems)} "
           f"problem{'s' if len(problems) != 1 else ''}:[/]")
    alike: Counter[tuple[str, str]] = Counter()
    for p in problems:
        alike[(p.file, p.hint)] += 1
        if alike[(p.file, p.hint)] > PROBLEMS_ALIKE_SHOWN:
            continue
        yield f"  [bold]{escape(p.where())}[/]: {escape(p.message)}"
        if p.hint:
            yield f"      [dim]hint: {escape(p.hint)}[/]"
    for (file, hint), count in alike.items():
        if count > PROBLEMS_ALIKE_SHOWN:
            more = count - PROBLEMS_ALIKE_SHOWN
            yield (f"  [bold]{escape(file)}[/]: {more:,} more problem{'s' if more != 1 else ''}"
                   f" like the {PROBLEMS_ALIKE_SHOWN} above with the hint "
                   f"'{escape(hint)}' (every one: `ssc-infra validate --format json`)")


def desired_lines(partners: Iterable[DesiredPartner]) -> Iterator[str]:
    """The desired state of these partners in figures: OUs, accounts by state, groups."""
    for p in partners:
        yield f"[bold]{escape(p.code)}[/] — {escape(p.name)} ({p.identity.value})"
        yield f"  OUs: {escape(', '.join(p.ous))}"
        counts: dict[str, int] = {}
        for a in p.accounts:
            counts[a.state.value] = counts.get(a.state.value, 0) + 1
        yield "  accounts: " + ", ".join(f"{n:,} {s}" for s, n in sorted(counts.items()))
        for g in p.groups:
            yield f"  group {escape(g.name)}: {len(g.members):,} members"
        yield f"  workplaces: {len(p.workplaces):,}"


def partner_table(title: str, rows: list[PartnerSummary]) -> Table:
    table = Table(title=Text(title), title_justify="left")
    table.add_column("partner", no_wrap=True)
    table.add_column("name", max_width=34, overflow="ellipsis", no_wrap=True)
    for heading in ("people", "active", "pre-start", "leavers", "not yet", "vdi", "laptop",
                    "thin client"):
        table.add_column(heading, justify="right")
    table.add_column("services", overflow="fold")
    for r in rows:
        w = r.workplaces
        table.add_row(Text(r.code), Text(r.name), f"{r.people:,}", f"{r.active:,}", str(r.prestart),
                      str(r.leavers), str(r.not_yet), f"{w['vdi']:,}", f"{w['laptop']:,}",
                      f"{w['thin_client']:,}", Text(", ".join(r.services)))
    total = {k: sum(r.workplaces[k] for r in rows) for k in ("vdi", "laptop", "thin_client")}
    table.add_section()
    table.add_row("total", f"{len(rows)} partners", f"{sum(r.people for r in rows):,}",
                  f"{sum(r.active for r in rows):,}", str(sum(r.prestart for r in rows)),
                  str(sum(r.leavers for r in rows)), str(sum(r.not_yet for r in rows)),
                  f"{total['vdi']:,}", f"{total['laptop']:,}", f"{total['thin_client']:,}", "")
    return table


# -- plans ------------------------------------------------------------------------------

_SYMBOL = {
    Action.CREATE: "[green]+[/]",
    Action.UPDATE: "[yellow]~[/]",
    Action.MOVE: "[yellow]>[/]",
    Action.ENABLE: "[cyan]^[/]",
    Action.DISABLE: "[red]-[/]",
    Action.RESET_PASSWORD: "[yellow]*[/]",
    Action.ARCHIVE: "[red]-[/]",
    Action.DELETE: "[red]-[/]",
    Action.REVOKE: "[red]-[/]",
}
# details for the apply, not for the reader
_HIDDEN = {"uac", "add_keys", "remove_keys", "keep_address"}


def _by_partner(plan: Plan) -> Plan:
    """The sections shown per partner: all but the hosts' (shown per host, `host_lines`)."""
    return Plan(tuple(s for s in plan.sections if s.backend is not Backend.HOSTS), plan.movers)


def plan_lines(plan: Plan, names: Mapping[str, str], compact: bool = False) -> Iterator[str]:
    """The plan as a reader wants it: per partner, one line per object, changed attributes.

    A line about one person names them ("Vries, Jelle de") after the key. Each person whose
    place changes (`core.movers`) has a line of their own first: "» waadhoeke/1002 Wâtse Bûmâ
    moves from Burgerzaken (wdh-franeker, laptop) to Vergunningen (wdh-harlingen, vdi)".

    Args:
        plan: the plan to show (its hosts' section is `host_lines`'s).
        names: partner code -> name, for the headings.
        compact: one line per object, without the changed attributes below it.
    """
    plan = _by_partner(plan)
    by_partner: dict[str, list[Change]] = {}
    for change in plan.changes:
        by_partner.setdefault(change.partner, []).append(change)
    yield from privileged_lines(plan.privileged)
    unmanaged: dict[str, list[Unmanaged]] = {}
    for item in plan.unmanaged:
        if not (item.privileged and not item.known):
            unmanaged.setdefault(item.partner, []).append(item)
    movers: dict[str, list[Mover]] = {}
    for mover in plan.movers:
        movers.setdefault(mover.partner, []).append(mover)
    for partner in sorted(set(by_partner) | set(unmanaged) | set(movers)):
        title = names.get(partner, "") if partner else "region"
        yield f"[bold]{escape(partner or 'region')}[/]" + (f" — {_v(title)}" if partner and title
                                                        else "")
        yield from _mover_lines(movers.get(partner, []), compact)
        for change in by_partner.get(partner, []):
            yield from _change_lines(change, compact)
        items = unmanaged.get(partner, [])
        waiting = [u for u in items if u.known == WAITING_FOR_SYNC]
        if waiting:
            yield (f"  [dim]= {len(waiting):,} accounts not in Microsoft 365 yet: "
                   f"{WAITING_FOR_SYNC}[/]")
        for item in items:
            if item.known == WAITING_FOR_SYNC:
                continue
            if item.known:
                yield f"  [dim]= known {_v(item.dn)}{_who(item.label)}: {_v(item.reason)}[/]"
            elif item.key:
                yield f"  [magenta]?[/] {_v(item.key)}{_who(item.label)}: {_v(item.reason)}"
            else:
                yield f"  [magenta]?[/] unmanaged {_v(item.dn)}: {_v(item.reason)}"
    if plan.held:
        yield "[bold red]Held back by guards[/] (nothing of these partners is applied):"
        for held in plan.held:
            yield f"  [red]![/] {_v(held.message())}"


def _mover_lines(movers: Sequence[Mover], compact: bool) -> Iterator[str]:
    for mover in movers:
        yield f"  [cyan]»[/] {_v(mover.text())}"
        if mover.entry and not compact:
            yield f"        [dim]{escape(mover.entry)}: {escape(mover.reason)}[/]"


def privileged_lines(found: Sequence[Unmanaged]) -> Iterator[str]:
    """The privileged groups' drift, first of all: who is in them and should not be."""
    if not found:
        return
    yield ("[bold red]Privileged groups[/] (changed outside the tool, or not as governance.yaml "
           "says):")
    for item in found:
        who = f" {_v(item.label)}:" if item.label else ""
        yield f"  [red]![/] {_v(item.key)}:{who} {_v(item.reason)}"


def _who(label: str) -> str:
    """The person a line is about, after its key: ` "Vries, Jelle de"` (or nothing)."""
    return f' "{_v(label)}"' if label else ""


def _change_lines(change: Change, compact: bool = False) -> Iterator[str]:
    symbol = _SYMBOL[change.action]
    label = f"{change.kind.value:<8}"
    who = _who(change.label)
    if change.kind is ObjectKind.CLOUD_LICENCE:
        add, remove = change.after.get("add_names", []), change.after.get("remove_names", [])
        what = ", ".join([*(f"+{n}" for n in add), *(f"-{n}" for n in remove)])
        yield f"  {symbol} {label} {_v(change.key)}{who} {_v(change.target)}: {_v(what)}"
        return
    if change.kind in (ObjectKind.MEMBERS, ObjectKind.CLOUD_MEMBERS):
        add, remove = change.after.get("add", []), change.after.get("remove", [])
        yield f"  {symbol} {label} {_v(change.key)}: +{len(add)} -{len(remove)}"
        return
    if change.kind is ObjectKind.OU:
        yield f"  {symbol} {label} {_v(change.dn)}"
        return
    if change.action is Action.CREATE:
        after = change.after
        if change.kind is ObjectKind.CLOUD_USER:
            state = "enabled" if after.get("accountEnabled") else "disabled until the start date"
            yield (f"  {symbol} {label} {_v(change.key)} {_v(after.get('userPrincipalName'))} "
                   f"\"{_v(after.get('displayName'))}\" ({state})")
        elif change.kind is ObjectKind.ACCOUNT:
            state = "enabled" if after.get("enabled") else "disabled until the start date"
            yield (f"  {symbol} {label} {_v(change.key)} {_v(after.get('sAMAccountName'))} "
                   f"\"{_v(after.get('displayName'))}\" ({state})")
        else:
            yield f"  {symbol} {label} {_v(change.key)}{who}"
        return
    yield f"  {symbol} {label} {_v(change.key)}{who} ({change.action.value})"
    if compact:
        return
    for name, value in change.after.items():
        if name not in _HIDDEN:
            yield f"        {_v(name)}: {_v(repr(change.before.get(name)))} -> {_v(repr(value))}"


def plan_summary(plan: Plan) -> str:
    """One line of counts over the sections shown per partner."""
    plan = _by_partner(plan)
    counts = plan.counts()
    parts = [f"{counts[a.value]:,} to {a.value}" for a in Action if counts[a.value]]
    text = "Plan: " + (", ".join(parts) if parts else "no changes") + "."
    if plan.movers:
        moving = len(plan.movers)
        text += f" {moving:,} {'person moves' if moving == 1 else 'people move'} (» above)."
    if plan.held:
        text += (f" {len(plan.held)} partner{'s' if len(plan.held) != 1 else ''} held back "
                 f"({len(plan.held_changes):,} changes).")
    if plan.privileged:
        text += f" {len(plan.privileged)} in privileged groups (see above)."
    if len(plan.drift) > len(plan.privileged):
        text += (f" {len(plan.drift) - len(plan.privileged)} drift findings (unmanaged or "
                 "locked by hand).")
    waiting = sum(1 for u in plan.acknowledged if u.known == WAITING_FOR_SYNC)
    if len(plan.acknowledged) > waiting:
        text += f" {len(plan.acknowledged) - waiting} known (holds.yaml)."
    if waiting:
        text += f" {waiting:,} accounts waiting for Entra Connect."
    return text


# -- workplace hosts ----------------------------------------------------------------------

DIFF_LINES = 12  # of each file's diff in the text plan; --format json has all of it


_HOMES_WORDS = (("shares", "shares to create"), ("create", "to create"),
                ("restore", "to restore"), ("archive", "to archive"), ("fix", "to fix"),
                ("move", "to move along from a merged partner"))


def host_lines(changes: Sequence[Change], failed: Sequence[HostOutcome],
               full: bool = False, compact: bool = False) -> Iterator[str]:
    """The host part of a plan: per host, the files and homes that change, with their diff.

    The home folders of every partner on one host make one line, with the partners named;
    below it each home to archive or restore, with its person.

    Args:
        full: every line of each file's diff (else the first DIFF_LINES).
        compact: one line per file and per host's homes: no diff, no homes listed.
    """
    if not changes and not failed:
        return
    yield "[bold]workplace hosts[/]"
    homes: dict[str, list[Change]] = {}
    for change in changes:
        if change.kind is ObjectKind.HOMES:
            homes.setdefault(host_of(change), []).append(change)
    shown: set[str] = set()
    for change in changes:
        host = host_of(change)
        if change.kind is ObjectKind.HOMES:
            if host not in shown:
                shown.add(host)
                yield _homes_line(host, homes[host])
                if not compact:
                    yield from _people_lines(homes[host])
            continue
        yield from _file_lines(host, change, full, compact)
    for outcome in failed:
        state = "unreachable" if outcome.unreachable else "failed"
        for message in outcome.messages[:3] or [state]:
            yield f"  [red]![/] {_v(f'{outcome.host:<8}')} {state}: {_v(message)}"


def homes_counts(changes: Sequence[Change]) -> str:
    """What homes changes do, counted: "1 to create, 2 to archive" (plain text)."""
    counts = Counter({what: sum(len(c.after.get(what, ())) for c in changes)
                      for what, _ in _HOMES_WORDS})
    return ", ".join(f"{counts[what]:,} {words}" for what, words in _HOMES_WORDS
                     if counts[what])


def _homes_line(host: str, changes: Sequence[Change]) -> str:
    partners = ", ".join(sorted({c.partner for c in changes}))
    return (f"  [yellow]~[/] {_v(f'{host:<8}')} homes: {_v(homes_counts(changes))} "
            f"({_v(partners)})")


# The homes that are listed one by one, with their person: taken away or brought back.
_HOMES_LISTED = (("archive", "[red]-[/] archive"), ("restore", "[cyan]^[/] restore"))


def _people_lines(changes: Sequence[Change]) -> Iterator[str]:
    for what, words in _HOMES_LISTED:
        for change in changes:
            for entry in change.after.get(what, ()):
                yield f"        {words} {_v(entry)}{_who(change.names.get(str(entry), ''))}"


def _file_lines(host: str, change: Change, full: bool, compact: bool = False) -> Iterator[str]:
    diff = str(change.after.get("diff", ""))
    where = f"  [yellow]~[/] {_v(f'{host:<8}')} {_v(change.target)}"
    if not diff:
        yield f"{where} (installed or updated)"
        return
    if diff.startswith("~ "):  # mode or owner, not content
        yield f"{where} ({_v('; '.join(line[2:] for line in diff.splitlines()))})"
        return
    yield (f"{where} (+{int(change.after.get('added', 0)):,} "
           f"-{int(change.after.get('removed', 0)):,} lines)")
    if compact:
        return
    body = diff.splitlines()[2:]
    for line in body if full else body[:DIFF_LINES]:
        colour = "green" if line.startswith("+") else "red" if line.startswith("-") else "dim"
        yield f"        [{colour}]{escape(line)}[/]"
    if not full and len(body) > DIFF_LINES:
        yield f"        [dim]... {len(body) - DIFF_LINES:,} more diff lines[/]"


@dataclass(frozen=True)
class HostPart:
    """The hosts' part of a plan as it is shown: what changes, which hosts failed, which
    changed files their checker refuses, and how many hosts one read showed unchanged."""

    changes: Sequence[Change]
    failed: Sequence[HostOutcome] = ()
    refused: Sequence[CheckResult] = ()
    in_sync: int = 0


def shown_plan_lines(plan: Plan, names: Mapping[str, str], hosts: HostPart | None,
                     hosts_held: bool = False, compact: bool = False) -> Iterator[str]:
    """Everything `plan` prints of a plan, in order: per partner, per host, then the counts.

    `ssc-infra plan`, `drift` and `show PLAN` print a plan through this, so a saved plan reads
    as it did when it was made.

    Args:
        plan: every section of the plan.
        names: partner code -> name, for the headings.
        hosts: the hosts' part; None when the run had no hosts to check.
        hosts_held: the hosts were held back (said instead of their counts).
        compact: one line per object (see `plan_lines`, `host_lines`).
    """
    yield from plan_lines(plan, names, compact)
    if hosts is not None:
        yield from host_lines(hosts.changes, hosts.failed, compact=compact)
        for r in hosts.refused:
            yield (f"  [red]refused[/] {_v(r.host)}:/{_v(r.path)} by its checker: "
                   f"{_v(r.message)}; apply would keep the old file — fix the value or "
                   "template it names")
    yield plan_summary(plan)
    if hosts is not None:
        yield host_summary(hosts.changes, hosts.failed, hosts.in_sync)
    elif hosts_held:
        yield "Hosts: [yellow]held back[/] (see above)."


def host_summary(changes: Sequence[Change], failed: Sequence[HostOutcome],
                 in_sync: int = 0) -> str:
    """One line; `in_sync`: hosts known unchanged by one read, not checked in full."""
    hosts = {host_of(c) for c in changes}
    text = "Hosts: no changes"
    if changes:
        text = (f"Hosts: {len(changes)} change{'s' if len(changes) != 1 else ''} on "
                f"{len(hosts)} host{'s' if len(hosts) != 1 else ''}")
    if failed:
        text += f", [red]{len(failed)} host{'s' if len(failed) != 1 else ''} failed[/]"
    if in_sync:
        text += (f" ({in_sync} host{'s' if in_sync != 1 else ''} unchanged since the last run, "
                 "by one read each; `drift` checks every host in full)")
    return text + "."
