"""`python -m ssc_infra_lab.hr_emulator`: the HR systems' emulator in the foreground, for the
lab. It starts with no sources; the lab's launcher (`ssc_infra_lab.hr`) seeds them through the
control surface, from the inventory's people."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ssc_infra_lab.emulator_process import add_arguments, serve
from ssc_infra_lab.hr_emulator.server import HrEmulator


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ssc_infra_lab.hr_emulator",
        description="Run an EMULATOR of AFAS Profit's GetConnector and Visma Raet's IAM API "
                    "(a stand-in for the lab and tests, never a real HR system) on a loopback "
                    "HTTPS port until SIGTERM or Ctrl-C. It writes DIR/emulator.json once "
                    "listening; its sources are seeded through its control surface.")
    add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the emulator until SIGTERM or SIGINT; 0 on a clean stop, 2 on bad arguments."""
    args = _parser().parse_args(argv)
    try:
        emulator = HrEmulator(args.dir, args.address, args.port)
    except ValueError as e:
        print(f"hr emulator: {e}", file=sys.stderr)
        return 2
    return serve(
        emulator, args, "HR emulator",
        lambda: {"url": emulator.url, "ca_file": str(emulator.ca_file.resolve()),
                 "control_secret_file": str(emulator.control_secret_file.resolve()),
                 "pid": os.getpid(),
                 "note": "HR systems EMULATOR (AFAS Profit, Visma Raet) for the lab and tests, "
                         "not a real HR system"},
        lambda: f"HR systems EMULATOR (not AFAS or Visma Raet) listening on {emulator.url}; "
                f"CA: {emulator.ca_file}; control secret in {emulator.control_secret_file}")
