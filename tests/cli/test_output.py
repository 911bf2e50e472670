"""What the CLI prints into a pipe: tables whole, and no library's log lines among them."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cli.output import UNLIMITED, table_console

REPO = Path(__file__).resolve().parents[2]
LONG_SUBJECT = "Remediation overdue on " + "-".join(f"asset{n:03d}.plant.example.cn" for n in range(8))


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The command with stdout and stderr piped, as `cyberins … | grep` runs it: no COLUMNS either."""
    clean = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "FORCE_COLOR", "TTY_COMPATIBLE")}
    clean = {k: v for k, v in clean.items() if not k.startswith(("CYBERINS_", "TEMPORAL_")) and k != "DATABASE_URL"}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], cwd=REPO, env={**clean, **(env or {})},
        capture_output=True, text=True, timeout=60, check=False,
    )


def test_a_table_into_a_pipe_is_not_cut(tmp_path):
    folder = tmp_path / "mail"
    folder.mkdir()
    (folder / "000001-20261203T101500.000000Z.eml").write_text(
        "Return-Path: <cyberins@platform.example>\n"
        "X-Envelope-To: duty-officer-of-the-insured-company@manufacturing-group.example.cn\n"
        f"Subject: {LONG_SUBJECT}\n"
        "X-Cyberins-Event-Type: finding.remediation_overdue\n\nbody\n",
        encoding="utf-8",
    )
    result = run("mail", "--folder", str(folder))
    assert result.returncode == 0, result.stderr
    assert LONG_SUBJECT in result.stdout
    assert "duty-officer-of-the-insured-company@manufacturing-group.example.cn" in result.stdout
    assert "…" not in result.stdout


def test_on_a_terminal_tables_fit_it_unless_wide(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setenv("FORCE_COLOR", "1")  # Rich takes this for a terminal
    assert table_console().width < UNLIMITED
    assert table_console(wide=True).width == UNLIMITED


def test_columns_set_by_hand_are_obeyed_off_a_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    assert table_console().width == 100


class _Refusing(BaseHTTPRequestHandler):
    """An API that refuses every key: enough for a command to make one real request."""

    requests = 0

    def do_POST(self) -> None:
        type(self).requests += 1
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps({"code": "unauthenticated", "detail": "unknown API key"}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/problem+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def refusing_api():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_api_calling_command_prints_no_http_request_lines(tmp_path, refusing_api):
    finding = {
        "policy_id": "pol-1", "vendor_event_id": "ev-1", "kind": "exposed_service", "severity": "low",
        "asset": "203.0.113.10:3389", "title": "RDP reachable", "observed_at": "2026-11-20T02:15:00Z",
    }
    path = tmp_path / "findings.jsonl"
    path.write_text(json.dumps(finding) + "\n", encoding="utf-8")
    secret = "whsec_" + base64.b64encode(b"0123456789abcdef0123").decode()
    result = run(
        "signals", "send", str(path), "--api-url", refusing_api,
        env={"CYBERINS_API_KEY": "cyk_test", "CYBERINS_WEBHOOK_SECRET": secret, "CYBERINS_LOG_LEVEL": "DEBUG"},
    )
    assert _Refusing.requests == 1, result.stderr
    assert result.returncode == 1 and "unknown API key" in result.stderr
    assert "HTTP Request:" not in result.stdout + result.stderr
