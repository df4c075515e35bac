"""Apply the 4,500-person sample to every workplace host, against a naive per-person loop.

In one run, with real Ansible (connection local, a folder per host):
  1. the full apply of the sample region to all five workplace hosts;
  2. a re-run with nothing to do (it must report 0 changed);
  3. a naive playbook that makes the same home directories with a per-person `loop:`, timed
     for two sample sizes and extrapolated to all homes (its cost is linear per item).
Run: `make bench` or `python bench/hosts_apply.py [--sample N]`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from ssc_infra.core.desired import derive
from ssc_infra.hosts.ansible import AnsibleSettings, RunResult, run_playbook
from ssc_infra.hosts.backend import make_bundle, run_hosts
from ssc_infra.sources.files import load

ROOT = Path(__file__).resolve().parent.parent
TODAY = date(2026, 11, 23)
NAIVE = """\
- name: Home directories, one task item per person (the way not to do it)
  hosts: fs01
  gather_facts: false
  tasks:
    - name: Home directory
      ansible.builtin.file:
        path: "{{ root }}/srv/homes/{{ item.partner }}/{{ item.name }}"
        state: directory
        mode: "0700"
      loop: "{{ homes }}"
"""


def timed(label: str, run: object) -> tuple[float, RunResult]:
    start = time.perf_counter()
    result = run()  # type: ignore[operator]
    seconds = time.perf_counter() - start
    changed = sum(h.changed for h in result.hosts.values())
    failed = len(result.failed_hosts)
    print(f"{label:<44} {seconds:7.1f} s   {changed} tasks changed, {failed} hosts failed")
    return seconds, result


def naive(work: Path, homes: list[dict[str, str]]) -> float:
    project = work / "naive"
    project.mkdir(exist_ok=True)
    (project / "naive.yml").write_text(NAIVE, encoding="utf-8")
    root = work / f"naive-root-{len(homes)}"
    for partner in {h["partner"] for h in homes}:
        (root / "srv/homes" / partner).mkdir(parents=True, exist_ok=True)
    inventory = {"all": {"hosts": {"fs01": {"ansible_connection": "local",
                                            "ansible_python_interpreter": sys.executable}}}}
    start = time.perf_counter()
    result = run_playbook(private_data_dir=work / "naive-runner", inventory=inventory,
                          extravars={"root": str(root), "homes": homes}, check=False,
                          playbook="naive.yml", project=project)
    assert not result.failed_hosts, result.failed_hosts
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=60,
                        help="people in the smaller naive sample (the larger is 3x)")
    args = parser.parse_args()
    region = load(ROOT / "inventory", TODAY)
    desired = derive(region, TODAY)
    with tempfile.TemporaryDirectory(prefix="ssc-bench-hosts-") as tmp:
        work = Path(tmp)
        state = work / "state"
        state.mkdir()
        settings = AnsibleSettings(connection="local", root=work / "hosts", reload=False,
                                   unknown_owner="keep")
        start = time.perf_counter()
        bundle = make_bundle(region, desired, state)
        print(f"{'derive + render the bundle':<44} {time.perf_counter() - start:7.1f} s")
        homes = json.loads((bundle.path / "fs01/.ssc/homes.json").read_text())["homes"]
        print(f"{len(region.hosts)} hosts, {len(homes):,} home directories, "
              f"{len(bundle.workplaces.vpn.peers):,} VPN peers, "
              f"{sum(len(s.reservations) for s in bundle.workplaces.dhcp.subnets):,} DHCP "
              "reservations")
        full, _ = timed("full apply, all hosts",
                        lambda: run_hosts(region, bundle, settings, state, check=False))
        _, result = timed("re-run with nothing to do",
                             lambda: run_hosts(region, bundle, settings, state, check=False))
        assert not result.changes, "the re-run changed something"
        small, large = args.sample, 3 * args.sample
        t_small = naive(work, homes[:small])
        t_large = naive(work, homes[:large])
        per_item = (t_large - t_small) / (large - small)
        extrapolated = t_small + per_item * (len(homes) - small)
        print(f"{f'naive loop, {small} homes':<44} {t_small:7.1f} s")
        print(f"{f'naive loop, {large} homes':<44} {t_large:7.1f} s   "
              f"({per_item * 1000:.0f} ms per person)")
        print(f"{f'naive loop, all {len(homes):,} homes (extrapolated)':<44} "
              f"{extrapolated:7.1f} s   (homes only; no config files)")
        print(f"speed-up of the full apply over the naive homes loop: {extrapolated / full:.0f}x")


if __name__ == "__main__":
    main()
