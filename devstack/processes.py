"""Child processes that cannot outlive whoever started them.

Tests and benchmarks start `cyberins worker`, `cyberins api`, the bank simulator and Temporal dev
servers as processes of their own. Each gets a session of its own, so a kill -9 or a Ctrl-C meant
for the parent reaches only the process it is aimed at, and asks the kernel to send it SIGTERM when
its parent dies. A killed pytest or `make bench` therefore leaves nothing running to take CPU and
ports from the next run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

# Run before the command, in the child: ask for SIGTERM when the parent dies (Linux's
# PR_SET_PDEATHSIG, which survives exec), leave at once if the parent is already gone, then become
# the command. A launcher rather than `preexec_fn`, which is unsafe in a process with threads.
_LAUNCHER = """
import ctypes, os, signal, sys
parent, command = int(sys.argv[1]), sys.argv[2:]
if sys.platform.startswith("linux"):
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:
        sys.exit(143)
os.execvp(command[0], command)
"""


def spawn(
    command: Sequence[str], *, log: Path, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen:
    """Start `command` in its own session, its output appended to `log`; it ends with its parent."""
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER, str(os.getpid()), *command], cwd=cwd,
            env=None if env is None else dict(env), stdin=subprocess.DEVNULL, stdout=output,
            stderr=subprocess.STDOUT, start_new_session=True,
        )


def stop(process: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM, then SIGKILL once `timeout` seconds have passed."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def tail(log: Path, chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else ""


def wait_for_health(
    url: str, *, log: Path, process: subprocess.Popen | None = None, seconds: float = 60
) -> None:
    """Until `url` answers 200; a clear error naming the log's end if the process exits or time runs out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url} will not answer: the process exited with {process.returncode}:\n{tail(log)}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer 200 within {seconds:.0f} s:\n{tail(log)}")

