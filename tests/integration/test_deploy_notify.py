"""deploy/ssc-infra-notify, the scheduler's wrapper: the command's output and exit code pass
through, and exit 2 (drift) or 1 (error) is told by mail (a fake sendmail on PATH) and to a
webhook (a real HTTP server on a free loopback port), never leaking the webhook's URL."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration

NOTIFY = ROOT / "deploy" / "ssc-infra-notify"
TOKEN = "s3cr3t-token-in-the-url"


@dataclass
class Hook:
    url: str
    posts: list[dict[str, object]] = field(default_factory=list)
    status: int = 200


@pytest.fixture
def hook() -> Iterator[Hook]:
    found = Hook("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            found.posts.append({"path": self.path, "type": self.headers.get("Content-Type"),
                                "body": json.loads(self.rfile.read(length))})
            self.send_response(found.status)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    found.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/{TOKEN}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fake_bin(tmp_path: Path) -> Path:
    """A bin folder with a `sendmail` that keeps what it was given, and a command to run."""
    folder = tmp_path / "bin"
    folder.mkdir()
    sendmail = folder / "sendmail"
    sendmail.write_text(f'#!/bin/sh\n{{ echo "ARGS: $*"; cat; }} >> {tmp_path}/mail.txt\n')
    check = folder / "fake-drift"
    check.write_text('#!/bin/sh\necho "alpha — Gemeente Alpha"\necho "Plan: 1 to disable."\n'
                     'echo "held back: something" >&2\necho "drift found — report: x"\n'
                     'exit "${FAKE_RC:-2}"\n')
    for path in (sendmail, check):
        path.chmod(0o755)
    return folder


def _run(fake_bin: Path, rc: int, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {"PATH": f"{fake_bin}:/usr/bin:/bin", "FAKE_RC": str(rc), "HOME": "/tmp",
                   **env}
    return subprocess.run([str(NOTIFY), "fake-drift", "--report", "/srv/r"], env=environment,
                          capture_output=True, text=True, timeout=60, check=False)


def test_drift_is_mailed_and_posted_and_the_exit_code_passes_through(
        fake_bin: Path, hook: Hook, tmp_path: Path) -> None:
    url_file = tmp_path / "webhook"
    url_file.write_text(hook.url + "\n")
    url_file.chmod(0o600)
    run = _run(fake_bin, 2, SSC_NOTIFY_MAIL="ict@example.org",
               SSC_NOTIFY_WEBHOOK_FILE=str(url_file),
               SSC_NOTIFY_REPORT="https://intranet.example.org/ssc/latest.html")
    assert run.returncode == 2
    # the output goes on as it came: stdout and stderr apart
    assert run.stdout.splitlines() == ["alpha — Gemeente Alpha", "Plan: 1 to disable.",
                                       "drift found — report: x"]
    assert run.stderr == "held back: something\n"
    mail = (tmp_path / "mail.txt").read_text()
    assert mail.startswith("ARGS: -t -oi\nTo: ict@example.org\n")
    assert "Subject: [ssc-infra] drift found on " in mail and "(exit 2)" in mail
    assert "Report: https://intranet.example.org/ssc/latest.html" in mail
    assert "Command: fake-drift --report /srv/r" in mail and "Plan: 1 to disable." in mail
    [post] = hook.posts
    assert post["type"] == "application/json" and post["path"] == f"/hooks/{TOKEN}"
    text = str(post["body"]["text"])  # type: ignore[index]
    assert "drift found (exit code 2)" in text and "held back: something" in text


@pytest.mark.parametrize("rc", [1, 2])
def test_an_error_and_drift_notify_and_a_clean_night_does_not(fake_bin: Path, hook: Hook,
                                                               rc: int) -> None:
    assert _run(fake_bin, 0, SSC_NOTIFY_WEBHOOK=hook.url).returncode == 0
    assert hook.posts == []
    assert _run(fake_bin, rc, SSC_NOTIFY_WEBHOOK=hook.url).returncode == rc
    [post] = hook.posts
    words = "error, or the check was left incomplete" if rc == 1 else "drift found"
    assert words in str(post["body"])


def test_a_webhook_that_fails_makes_the_run_fail_and_its_url_stays_secret(
        fake_bin: Path, hook: Hook) -> None:
    hook.status = 500
    run = _run(fake_bin, 2, SSC_NOTIFY_WEBHOOK=hook.url)
    assert run.returncode == 1
    assert "the webhook answered 500" in run.stderr
    assert TOKEN not in run.stderr + run.stdout
    bad = _run(fake_bin, 2, SSC_NOTIFY_WEBHOOK=f"nonsense://{TOKEN}")
    assert bad.returncode == 1 and TOKEN not in bad.stderr + bad.stdout


def test_a_notice_due_with_nobody_to_tell_is_an_error(fake_bin: Path) -> None:
    run = _run(fake_bin, 2)
    assert run.returncode == 1 and "nobody was told" in run.stderr
    assert _run(fake_bin, 2, SSC_NOTIFY_ON="1").returncode == 2  # only errors notify here


def test_the_wrapper_is_executable_and_holds_no_secret() -> None:
    assert os.access(NOTIFY, os.X_OK)
    text = NOTIFY.read_text()
    assert "http://" not in text and "https://" not in text
