"""`ssc-infra hr`: people from the partners' HR systems. `hr pull` reads each partner's HR
system (AFAS Profit, Visma Raet, or the export file it drops) and writes its people CSV, or
holds it with its last good file; `hr serve` takes SCIM pushes. Options and output only; the
work is `ssc_infra.lifecycle.hrpull`, `scim_server` and `scim_store`.
"""

from __future__ import annotations

import signal
import sys
import threading
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource
from rich.markup import escape

from ssc_infra.cli.common import (
    SOURCE_KEY,
    CommandGroup,
    format_option,
    inventory_options,
    out,
    partner_option,
    print_json,
    target_options,
)
from ssc_infra.core.errors import SscError, quoted
from ssc_infra.core.plan import parse_allow_disable
from ssc_infra.lifecycle.hrpull import Pulled, PullRequest, pull_all
from ssc_infra.lifecycle.scim_server import open_server
from ssc_infra.run.targets import Target, load_target, scim_tokens
from ssc_infra.sources.files import FilesSource
from ssc_infra.sources.regionfiles import read_partner_files
from ssc_infra.sources.schema import HrEntry, HrSystem
from ssc_infra.state.folder import run_id


@click.group(cls=CommandGroup)
def hr() -> None:
    """People from the partners' HR systems (AFAS Profit, Visma Raet, SCIM, export files).

    \b
    Examples:
      ssc-infra hr pull                          every partner with `hr:` in its file
      ssc-infra hr pull --partner waadhoeke --dry-run --format json
      ssc-infra hr serve --listen 0.0.0.0:8443 --cert hr.pem --key hr-key.pem --target production
    """


@hr.command("pull")
@inventory_options
@target_options
@format_option
@partner_option
@click.option("--dry-run", is_flag=True, help="Read and check; write nothing.")
@click.option("--allow-lost", "allow_lost", multiple=True, metavar="PARTNER=N",
              help="Let PARTNER's answer lose up to N people who have not left (a known "
                   "reorganisation); repeatable.")
def pull(inventory: Path, today: date, targets_file: Path, target_name: str, state_dir: Path,
         fmt: str, partners: tuple[str, ...], dry_run: bool,
         allow_lost: tuple[str, ...]) -> None:
    """Read each partner's people from its HR system and write its people CSV.

    A partner is pulled when its partner file names its HR system (`hr: {system: afas |
    visma-raet | csv, ...}`); the target's `hr:` section says where the systems are and names
    the environment variables (or files) of each partner's token or client secret. The answer
    is converted with the partner's mapping file, checked with the whole region, and written
    whole over its people CSV. A partner is HELD — its last good file kept, the others pulled
    all the same — when its system fails or answers half-way, answers with no people or with a
    bad record, or has lost more people who have not left than its threshold (`hr.max_lost`,
    else the region's guards). What the new people change is the next plan's to show.

    \b
    Examples:
      ssc-infra hr pull
      ssc-infra hr pull --partner waadhoeke --dry-run
      ssc-infra hr pull --partner vlieland --allow-lost vlieland=12 --format json
    Exit code 0 every partner pulled (or unchanged), 2 a partner held, 1 error.
    """
    known = {d.spec.code: d for d in read_partner_files(inventory)[0]}
    chosen = partners or tuple(sorted(c for c, d in known.items() if d.spec.hr is not None))
    for code in chosen:
        if code not in known:
            raise click.BadParameter(f"no partner {quoted(code)} in {inventory}/partners",
                                     param_hint="--partner")
        if known[code].spec.hr is None:
            raise SscError(f"{code} names no HR system: add `hr: {{system: ...}}` to "
                           f"partners/{code}.yaml (docs/hr.md)")
    if not chosen:
        raise SscError("no partner names an HR system (`hr:` in its partner file): nothing "
                       "to pull; see docs/hr.md")
    loaded = FilesSource(inventory).load(today)
    entries = {c: entry for c in chosen if (entry := known[c].spec.hr) is not None}
    target = _target(targets_file, target_name, list(entries.values()))
    request = PullRequest(
        inventory, loaded.region, entries,
        {c: (loaded.data_files.get(c) or ("",))[0] for c in chosen}, target, target_name,
        today, dry_run, parse_allow_disable(allow_lost, "--allow-lost"))
    progress = (lambda code: None) if fmt == "json" or not sys.stderr.isatty() else (
        lambda code: click.echo(f"pulling {code} ...", err=True))
    done = pull_all(request, progress)
    if fmt == "json":
        print_json({"partners": [_as_dict(p) for p in done],
                    "held": [p.partner for p in done if p.held], "dry_run": dry_run})
    else:
        for p in done:
            _print(p)
    if any(p.held for p in done):
        click.get_current_context().exit(2)


@hr.command("serve")
@inventory_options
@target_options
@click.option("--listen", required=True, metavar="HOST:PORT",
              help="Where to listen: 0.0.0.0:8443, [::]:8443, 127.0.0.1:0 (0: a free port).")
@click.option("--cert", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="The server's TLS certificate (chain), PEM.")
@click.option("--key", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="Its private key, PEM.")
@click.option("--insecure-loopback", is_flag=True,
              help="Plain HTTP, on a loopback address only: a lab or a test, never production.")
def serve(inventory: Path, today: date, targets_file: Path, target_name: str, state_dir: Path,
          listen: str, cert: Path | None, key: Path | None, insecure_loopback: bool) -> None:
    """Take SCIM 2.0 pushes of people (/scim/v2/Users) from the partners' HR systems.

    Serves every partner whose partner file says `hr: {system: scim}`; each authenticates
    with its own bearer token, named in the target (`hr.partners.<code>.scim_token_env` or
    `scim_token_file`), and reaches only its own people. A push is written to the partner's
    people CSV only when the whole region loads with it (else a SCIM 400 with the problem),
    and never goes to the directory: the next plan shows what it changes. DELETE and `active:
    false` give an end date (nothing is removed); more such leavers in a day than the
    partner's threshold (`hr.max_lost`, else the region's guards) are refused (403). One log
    line per request goes to stderr: method, path, partner, status, never a token or a name.
    Runs until SIGTERM or Ctrl-C.

    \b
    Examples:
      ssc-infra hr serve --listen 0.0.0.0:8443 --cert /etc/ssl/ssc/hr.pem \\
          --key /etc/ssl/ssc/hr-key.pem --target production
      ssc-infra hr serve --listen 127.0.0.1:0 --insecure-loopback     a lab
    Then, from a partner's HR system: https://HOST:8443/scim/v2/Users with its token.
    """
    if click.get_current_context().meta.get(SOURCE_KEY) == "netbox":
        raise SscError("hr serve writes the people files of the inventory folder: leave out "
                       "--source netbox")
    scim = sorted(d.spec.code for d in read_partner_files(inventory)[0]
                  if d.active and d.spec.hr is not None and d.spec.hr.system is HrSystem.SCIM)
    if not scim:
        raise SscError("no partner's people are pushed by SCIM: add `hr: {system: scim}` to its "
                       "partner file (docs/hr.md, 'SCIM in')")
    tokens = scim_tokens(load_target(targets_file, target_name), target_name, scim)
    fixed = click.get_current_context().get_parameter_source("today") is not \
        ParameterSource.DEFAULT
    serving = open_server(inventory, state_dir, listen, tokens, cert=cert, key=key,
                          insecure_loopback=insecure_loopback,
                          today=(lambda: today) if fixed else date.today, log=_log,
                          run=run_id(), target=target_name)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    serving.start()
    click.echo(f"serving SCIM for {', '.join(scim)} at {serving.url}", nl=True)
    if insecure_loopback:
        click.echo("warning: plain HTTP (--insecure-loopback): for a lab or a test only",
                   err=True)
    sys.stdout.flush()
    while not stop.wait(0.5):
        pass
    serving.stop()
    click.echo("stopped", err=True)


def _log(line: str) -> None:
    click.echo(f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ} {line}", err=True)


def _target(path: Path, name: str, entries: list[HrEntry]) -> Target | None:
    """The target, when a chosen partner's system is pulled (not when all push by SCIM)."""
    if all(e.system is HrSystem.SCIM for e in entries):
        return None
    return load_target(path, name)


def _print(p: Pulled) -> None:
    code = escape(p.partner)
    if p.status == "skipped":
        out.print(f"skipped {code} ({p.system}): {escape(p.reason)}")
    elif p.held:
        out.print(f"[bold red]HELD[/] {code} ({p.system}): {escape(p.reason)}; its last good "
                  "file is kept")
        for problem in p.problems:
            out.print(f"  {escape(problem.where())}: {escape(problem.message)}"
                      + (f" — {escape(problem.hint)}" if problem.hint else ""))
    else:
        fields = ", ".join(f"{escape(c)} {n:,}" for c, n in p.changed.items())
        out.print(f"{p.status} {code} ({p.system}): {p.people:,} people; {len(p.joiners):,} "
                  f"joiners, {len(p.leavers):,} leavers, {len(p.movers):,} movers"
                  + (f"; changed: {fields}" if fields else "")
                  + (f"; {p.kept:,} who left before the data window kept as they were"
                     if p.kept else "")
                  + (f" [{p.requests:,} requests, {p.seconds:.1f} s]" if p.requests else ""))
    if p.private:
        out.print(f"  [yellow]private fields in the answer, dropped[/]: "
                  f"{escape(', '.join(p.private))} — take them out of what the HR system gives "
                  "the SSC")


def _as_dict(p: Pulled) -> dict[str, Any]:
    return {"partner": p.partner, "system": p.system, "status": p.status, "people": p.people,
            "joiners": list(p.joiners), "leavers": list(p.leavers), "movers": list(p.movers),
            "changed": dict(p.changed), "lost": p.lost, "kept": p.kept, "reason": p.reason,
            "problems": [{"where": x.where(), "message": x.message, "hint": x.hint}
                         for x in p.problems],
            "private_fields": list(p.private), "requests": p.requests, "retries": p.retries,
            "seconds": round(p.seconds, 3)}
