"""The processes a fault test starts and kills: `cyberins worker`s, the bank simulator and a Temporal
dev server of its own. Each runs in its own session, so a kill -9 reaches that process alone, and
ends with the test run (`devstack.processes`)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, DescribeTaskQueueRequest
from temporalio.client import Client

from codec.converter import boundary_data_converter
from devstack import processes
from workflows import search_attributes

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """kill -9: no shutdown, no flushing, in-flight work is lost."""
        os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)

    def stop(self, timeout: float = 20) -> None:
        processes.stop(self.popen, timeout)

    def tail(self, chars: int = 3000) -> str:
        return processes.tail(self.log, chars)


def start(name: str, command: list[str], folder: Path, env: dict[str, str] | None = None) -> Process:
    log = folder / f"{name}.log"
    return Process(name, processes.spawn(command, log=log, env=env, cwd=REPO), log)


def worker_env(
    *,
    database_url: str,
    temporal_address: str,
    namespace: str,
    task_queue: str,
    payment_url: str,
    state_dir: Path,
) -> dict[str, str]:
    """`cyberins worker` as production runs it, every setting from the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "CYBERINS_"))}
    env.update(
        DATABASE_URL=database_url,
        TEMPORAL_ADDRESS=temporal_address,
        TEMPORAL_NAMESPACE=namespace,
        CYBERINS_TASK_QUEUE=task_queue,
        CYBERINS_PAYMENT_URL=payment_url,
        CYBERINS_STATE_DIR=str(state_dir),
        CYBERINS_LOG_FORMAT="json",
        CYBERINS_LOG_LEVEL="WARNING",
    )
    return env


class Bank:
    """The bank simulator (`python -m payments.simulator`) and its admin endpoints."""

    def __init__(self, folder: Path, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.process = start(
            "bank",
            [
                sys.executable,
                "-m",
                "payments.simulator",
                "--port",
                str(port),
                "--state",
                str(folder / "bank.sqlite"),
            ],
            folder,
        )

    async def wait_serving(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        async with httpx.AsyncClient() as http:
            while True:
                if not self.process.alive():
                    raise RuntimeError(f"the bank simulator exited:\n{self.process.tail()}")
                try:
                    if (await http.get(f"{self.url}/health", timeout=2)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the bank simulator did not answer:\n{self.process.tail()}")
                await asyncio.sleep(0.1)

    async def _admin(self, method: str, path: str, **params):
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as http:
            response = await http.request(method, path, params=params)
            response.raise_for_status()
            return response.json()

    async def hold(self, seconds: float) -> None:
        await self._admin("POST", "/admin/hold", seconds=seconds)

    async def payouts(self) -> list[dict]:
        return await self._admin("GET", "/admin/payouts")

    async def requests(self) -> list[dict]:
        return await self._admin("GET", "/admin/requests")

    def stop(self) -> None:
        # Held answers would keep a graceful shutdown waiting; the books are a temporary file.
        if self.process.alive():
            self.process.kill()


ATTRIBUTE_TYPES = {"KEYWORD": "Keyword", "INT": "Int", "BOOL": "Bool"}


class DevServer:
    """`temporal server start-dev` on a fixed port with a SQLite file, so it can be killed and restarted."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder, self.port = folder, port
        self.address = f"127.0.0.1:{port}"
        self.db_file = folder / "temporal.db"
        self.process: Process | None = None

    def start(self) -> None:
        attributes = []
        for key in search_attributes.ALL:
            kind = key.indexed_value_type.name.removeprefix("INDEXED_VALUE_TYPE_")
            attributes += ["--search-attribute", f"{key.name}={ATTRIBUTE_TYPES[kind]}"]
        # WAL, synced at checkpoints: a committed write survives the process being killed (only a
        # crash of the machine could lose the last ones), and the server is not bound by fsyncs.
        command = [
            str(BIN / "temporal"), "server", "start-dev", "--headless",
            "--ip", "127.0.0.1", "--port", str(self.port), "--db-filename", str(self.db_file),
            "--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal",
            "--log-level", "error", *attributes,
        ]  # fmt: skip
        self.process = start("temporal", command, self.folder)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    async def connect(self, seconds: float = 60) -> Client:
        """A client, once the frontend answers for the namespace (not merely once the port accepts)."""
        deadline = time.monotonic() + seconds
        while True:
            assert self.process is not None
            if not self.process.alive():
                raise RuntimeError(f"the dev server exited:\n{self.process.tail()}")
            try:
                client = await Client.connect(self.address, data_converter=boundary_data_converter)
                await client.workflow_service.describe_namespace(
                    DescribeNamespaceRequest(namespace="default")
                )
                return client
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)


# The dev server splits a task queue into 4 partitions; a worker's polls may land on any of them.
PARTITIONS = 4


async def pollers(client: Client, task_queue: str) -> set[int]:
    """The pids of the workers polling `task_queue` (the SDK's identity is pid@host), on any partition."""
    names = [task_queue, *(f"/_sys/{task_queue}/{n}" for n in range(1, PARTITIONS))]
    kinds = (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)
    responses = await asyncio.gather(*(
        client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace, task_queue=TaskQueue(name=name), task_queue_type=kind
            )
        )
        for name in names
        for kind in kinds
    ))  # fmt: skip
    identities = {poller.identity for response in responses for poller in response.pollers}
    return {int(pid) for pid, _, _ in (i.partition("@") for i in identities) if pid.isdigit()}
