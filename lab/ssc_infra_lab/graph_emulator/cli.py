"""`python -m ssc_infra_lab.graph_emulator`: a Graph emulator in the foreground, for the lab."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ssc_infra_lab.emulator_process import add_arguments, serve
from ssc_infra_lab.graph_emulator.server import GraphEmulator


def _tenant_argument(text: str) -> tuple[str, list[str]]:
    tenant_id, _, domains = text.partition("=")
    names = [d.strip() for d in domains.split(",") if d.strip()]
    if not tenant_id or not names:
        raise argparse.ArgumentTypeError(f"expected TENANT_ID=domain1,domain2, not {text!r}")
    return tenant_id, names


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ssc_infra_lab.graph_emulator",
        description="Run a Microsoft Graph EMULATOR (a stand-in for the lab and tests, never "
                    "Microsoft 365) on a loopback HTTPS port until SIGTERM or Ctrl-C. It "
                    "writes DIR/emulator.json once listening and keeps its tenants in "
                    "DIR/state.json across restarts.")
    add_arguments(parser)
    parser.add_argument("--tenant", type=_tenant_argument, action="append", default=[],
                        metavar="TENANT_ID=DOMAIN[,DOMAIN...]",
                        help="a tenant to have (kept when state.json has it already)")
    parser.add_argument("--write-limit", type=int, default=3000,
                        help="writes per tenant per window before 429 (default 3000)")
    parser.add_argument("--write-window", type=float, default=150.0,
                        help="the write window in seconds (default 150)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the emulator until SIGTERM or SIGINT; 0 on a clean stop, 2 on bad arguments."""
    args = _parser().parse_args(argv)
    try:
        emulator = GraphEmulator(args.dir, args.address, args.port,
                                 write_limit=args.write_limit, write_window=args.write_window)
        for tenant_id, domains in args.tenant:
            emulator.add_tenant(tenant_id, domains)
    except ValueError as e:
        print(f"graph emulator: {e}", file=sys.stderr)
        return 2
    return serve(
        emulator, args, "Microsoft Graph emulator",
        lambda: {"url": emulator.url, "login_url": emulator.login_url,
                 "ca_file": str(emulator.ca_file.resolve()), "client_id": emulator.client_id,
                 "pid": os.getpid(), "tenants": emulator.tenants(),
                 "note": "Microsoft Graph EMULATOR for the lab and tests, not Microsoft 365"},
        lambda: f"Microsoft Graph EMULATOR (not Microsoft 365) listening on {emulator.url}; "
                f"tenants: {', '.join(emulator.tenants()) or 'none'}; CA: {emulator.ca_file}; "
                f"client id {emulator.client_id}, secret in {args.dir / 'client-secret'}")
