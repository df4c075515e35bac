"""A lab emulator as a process of its own (`python -m ssc_infra_lab.<emulator> --dir D`): the
command-line options every emulator has, and the run in the foreground until SIGTERM or Ctrl-C,
with DIR/emulator.json (0600) saying where it listens for as long as it does. The lab's
launchers start it detached and find it by that file."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from ssc_infra.state.folder import write_private

INFO = "emulator.json"


class Emulator(Protocol):
    def start(self) -> object: ...

    def stop(self) -> None: ...


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """--dir, --address and --port."""
    parser.add_argument("--dir", type=Path, required=True, help="the emulator's folder")
    parser.add_argument("--address", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--port", type=int, default=0, help="port (0: a free one)")


def serve(emulator: Emulator, args: argparse.Namespace, name: str,
          info: Callable[[], dict[str, Any]], banner: Callable[[], str]) -> int:
    """Start the emulator, write DIR/emulator.json (`info()`) and print `banner()` once it
    listens, and serve until SIGTERM or SIGINT; then stop it and remove emulator.json.

    Returns:
        0 on a clean stop, 2 when it cannot listen.
    """
    stopped = threading.Event()

    def on_signal(number: int, frame: FrameType | None) -> None:
        stopped.set()

    before = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    info_file = Path(args.dir) / INFO
    try:
        try:
            emulator.start()
        except OSError as e:
            print(f"{name}: cannot listen on {args.address}:{args.port}: {e}", file=sys.stderr)
            return 2
        write_private(info_file, json.dumps(info(), indent=2) + "\n")
        print(banner(), flush=True)
        while not stopped.wait(0.5):  # a wait with a timeout lets the signal handler run
            pass
    finally:
        emulator.stop()
        info_file.unlink(missing_ok=True)
        for number, handler in before.items():
            signal.signal(number, handler)
    print(f"{name} stopped", flush=True)
    return 0
