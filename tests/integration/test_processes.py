"""Processes started by tests and benchmarks end with whoever started them, even a kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from devstack.processes import spawn, stop

REPO = Path(__file__).resolve().parents[2]


def _gone(pid: int) -> bool:
    """Exited (a zombie waiting for its reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"


def _wait_until_gone(pid: int, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.05)
    return False


def test_a_child_ends_when_its_parent_is_killed(tmp_path):
    parent_code = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from devstack.processes import spawn
        child = spawn(["sleep", "300"], log=Path({str(tmp_path / "child.log")!r}))
        print(child.pid, flush=True)
        time.sleep(300)
    """)
    parent = subprocess.Popen([sys.executable, "-c", parent_code], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        child_pid = int(parent.stdout.readline())
        time.sleep(0.5)  # the launcher has become `sleep` by now
        assert not _gone(child_pid)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        assert _wait_until_gone(child_pid), "the child outlived its killed parent"
    finally:
        parent.kill()
        parent.wait()


def test_a_child_runs_in_a_session_of_its_own_and_stops_on_request(tmp_path):
    log = tmp_path / "child.log"
    child = spawn([sys.executable, "-c", "import os, time; print(os.getsid(0), flush=True); time.sleep(300)"], log=log)
    try:
        deadline = time.monotonic() + 10
        while not log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert int(log.read_text()) == child.pid != os.getsid(0)  # its own session, led by itself
    finally:
        stop(child, timeout=10)
    assert child.returncode == -signal.SIGTERM
