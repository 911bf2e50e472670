"""Keeping the dev stack's servers up: a Temporal dev server or PostgreSQL that dies is started again.

Each server is watched on its own. When one exits without being asked to, it is started again on the
same ports and state (Temporal's SQLite file and PostgreSQL's data folder stay in the state folder,
so no policy is lost) after a pause that doubles with each attempt. The worker and the API are left
running: their Temporal client and database pools reconnect by themselves once the server answers
again (tests/integration/test_dev_supervision.py shows it). After a restart the supervisor asks them
to reach it, which both tells the developer they do and spends the one failed query a pool without
pre-ping makes on a dead connection (storage/db.py). A restart that holds for a while wipes the slate; a server that keeps failing stops the whole stack, because a stack that only looks alive
is worse for the developer than one that says what broke and where its log is.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from devstack.postgres import EmbeddedPostgres, EmbeddedPostgresError
from devstack.temporal import TemporalDevServer, TemporalDevServerError
from logs import get_logger
from observability.health import Check, run_checks

log = get_logger(__name__)

# Often enough that a restart begins within a second of the death, rarely enough to cost nothing.
POLL_SECONDS = 0.5
# A restarted Temporal dev server replays its SQLite file before it serves; on a busy machine that
# can take as long as the first start.
SERVE_TIMEOUT_SECONDS = 60.0
# How long the worker and the API get to reach a restarted server before the status line says they
# do not yet (they keep trying; the stack goes on).
RECONNECT_SECONDS = 20.0


@dataclass(frozen=True)
class RestartPolicy:
    """How hard the stack tries: `max_attempts` restarts in a row (0: none, the first death stops the
    stack), waiting `first_delay` seconds before the first and twice as long before each next one, at
    most `max_delay`. A restart that has held for `stable_after` seconds starts the count afresh."""

    max_attempts: int = 5
    first_delay: float = 1.0
    max_delay: float = 30.0
    stable_after: float = 60.0

    def delay(self, attempt: int) -> float:
        """The pause before restart number `attempt` (1-based)."""
        return min(self.first_delay * 2 ** (attempt - 1), self.max_delay)


@dataclass
class RestartBudget:
    """The attempts one server has used. Times are passed in, so the policy is a pure calculation."""

    policy: RestartPolicy
    attempts: int = 0  # in the current run of failures
    restarts: int = 0  # since the stack started, for the status lines
    last_restart: float | None = None

    def next_delay(self, now: float) -> float | None:
        """After a failure at `now`: the pause before the next attempt, or None to give up."""
        if self.last_restart is not None and now - self.last_restart >= self.policy.stable_after:
            self.attempts = 0
        if self.attempts >= self.policy.max_attempts:
            return None
        self.attempts += 1
        return self.policy.delay(self.attempts)

    def restarted(self, now: float) -> None:
        self.restarts += 1
        self.last_restart = now


class Part(Protocol):
    """A server the stack runs and can start again."""

    name: str
    log_file: Path

    def exit_reason(self) -> str | None:
        """None while it runs; once it has stopped, why, as far as can be told."""

    async def restart(self) -> None:
        """Start it again and return once it serves; raise if it does not."""


class PartKeptFailing(RuntimeError):
    def __init__(self, part: Part, attempts: int, reason: str) -> None:
        self.part = part
        if attempts:
            what = f"kept failing ({reason}; {attempts} restart{'s' if attempts != 1 else ''} in a row did not hold)"
        else:
            what = f"stopped unexpectedly ({reason}) and restarts are off"
        super().__init__(f"the {part.name} {what}, so the stack stopped; see its log {part.log_file}")


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by {name}"
    return f"exit code {returncode}"


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:300]


def last_log_line(log_file: Path, marker: str) -> str:
    """The server's own words on why it stopped: its log's last line with `marker` (from the marker
    on), else its last line."""
    try:
        with log_file.open("rb") as log_:
            log_.seek(max(0, log_.seek(0, 2) - 8000))
            lines = [line.strip() for line in log_.read().decode(errors="replace").splitlines() if line.strip()]
    except FileNotFoundError:
        return "no log"
    for line in reversed(lines):
        if marker in line:
            return line[line.index(marker):][:300]
    return lines[-1][:300] if lines else "nothing in its log"


class RestartFailed(RuntimeError):
    """A restart attempt that did not bring the server back, said in one line."""


@dataclass
class Supervisor:
    """Watches one part until the stack stops; restarts it, or raises PartKeptFailing."""

    part: Part
    policy: RestartPolicy
    say: Callable[[str], None]
    users: Mapping[str, Check] = field(default_factory=dict)  # who must reach the part, e.g. "the API"
    clock: Callable[[], float] = time.monotonic
    budget: RestartBudget = field(init=False)

    def __post_init__(self) -> None:
        self.budget = RestartBudget(self.policy)

    async def run(self, stopping: asyncio.Event) -> None:
        while True:
            reason = await self._wait_for_exit(stopping)
            if reason is None:
                return
            # A server that went while the stack stops (the whole machine shutting down) is no failure.
            if stopping.is_set():
                return
            log.warning("dev_server_stopped", part=self.part.name, reason=reason)
            if not await self._bring_back(reason, stopping):
                return

    async def _wait_for_exit(self, stopping: asyncio.Event) -> str | None:
        while not stopping.is_set():
            reason = self.part.exit_reason()
            if reason is not None:
                return reason
            await _pause(POLL_SECONDS, stopping)
        return None

    async def _bring_back(self, reason: str, stopping: asyncio.Event) -> bool:
        """True once the part serves again, False if the stack began to stop meanwhile."""
        what = f"stopped unexpectedly ({reason})"
        while True:
            delay = self.budget.next_delay(self.clock())
            if delay is None:
                raise PartKeptFailing(self.part, self.budget.attempts, reason)
            self.say(
                f"{self.part.name} {what}; restarting (attempt {self.budget.attempts} of "
                f"{self.policy.max_attempts}) in {delay:g} s"
            )
            if await _pause(delay, stopping):
                return False
            try:
                await self.part.restart()
            except Exception as error:  # noqa: BLE001 - any failure to come back uses an attempt
                reason = _first_line(error)
                what = f"did not come back ({reason})"
                log.warning("dev_server_restart_failed", part=self.part.name, reason=reason)
                continue
            self.budget.restarted(self.clock())
            count = self.budget.restarts
            at = f"{datetime.now():%H:%M:%S}"
            log.info("dev_server_restarted", part=self.part.name, restarts=count)
            users = await self._users_reach_it(stopping)
            self.say(
                f"{self.part.name} restarted at {at} ({count} restart{'s' if count != 1 else ''} since the "
                f"stack started){users}"
            )
            return True

    async def _users_reach_it(self, stopping: asyncio.Event) -> str:
        """What the status line adds about the worker and the API once the server is back."""
        if not self.users:
            return ""
        deadline = self.clock() + RECONNECT_SECONDS
        while True:
            results = await run_checks(self.users)
            failing = {name: result for name, result in results.items() if result != "ok"}
            if not failing:
                return f"; {' and '.join(self.users)} reach it again"
            if self.clock() > deadline or stopping.is_set():
                name, result = next(iter(failing.items()))
                log.warning("dev_server_users_not_back", part=self.part.name, failing=failing)
                return f"; {' and '.join(failing)} do not reach it yet ({name}: {result.splitlines()[0][:200]})"
            await _pause(0.5, stopping)


async def _pause(seconds: float, stopping: asyncio.Event) -> bool:
    """Sleep `seconds`; True if the stack began to stop meanwhile."""
    try:
        await asyncio.wait_for(stopping.wait(), seconds)
    except TimeoutError:
        return False
    return True


class TemporalPart:
    """The Temporal dev server: our own child, so its exit code is known."""

    name = "Temporal dev server"

    def __init__(self, server: TemporalDevServer) -> None:
        self.server = server
        self.log_file = server.log_file

    def exit_reason(self) -> str | None:
        process = self.server.process
        if process is None or process.poll() is None:
            return None
        return describe_exit(process.returncode)

    async def restart(self) -> None:
        # stop() also ends a server that runs but never came to serve on an earlier attempt.
        await asyncio.to_thread(self.server.stop)
        self.server.start()
        try:
            await self.server.wait_until_serving(SERVE_TIMEOUT_SECONDS)
        except TemporalDevServerError as error:
            reason = self.exit_reason()
            if reason is None:
                raise RestartFailed(_first_line(error)) from error
            raise RestartFailed(f"{reason}: {last_log_line(self.log_file, 'Error: ')}") from error


@dataclass(frozen=True)
class ProcessIdentity:
    """A process that is not our child, told apart from a later one that reuses its pid by its start
    time (field 22 of /proc/<pid>/stat)."""

    pid: int
    started: str

    @classmethod
    def of(cls, pid: int) -> ProcessIdentity | None:
        fields = _stat_fields(pid)
        return None if fields is None else cls(pid, fields[19])

    def alive(self) -> bool:
        fields = _stat_fields(self.pid)
        # A zombie has exited; only its parent has not collected it yet.
        return fields is not None and fields[0] not in ("Z", "X") and fields[19] == self.started


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first), or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return stat.rsplit(")", 1)[1].split()


class PostgresPart:
    """PostgreSQL's postmaster, which `pg_ctl` detaches: watched by pid, so its exit code is unknown
    (its log says why it went)."""

    name = "PostgreSQL server"

    def __init__(self, postgres: EmbeddedPostgres) -> None:
        self.postgres = postgres
        self.log_file = postgres.log_file
        self.postmaster: ProcessIdentity | None = None

    def watch(self) -> None:
        """Note which process is the server; call after each start."""
        pid = self.postgres.postmaster_pid()
        self.postmaster = None if pid is None else ProcessIdentity.of(pid)
        if self.postmaster is None:
            raise RuntimeError(f"PostgreSQL started but its postmaster.pid names no running process; see {self.log_file}")

    def exit_reason(self) -> str | None:
        if self.postmaster is None or self.postmaster.alive():
            return None
        return f"its process {self.postmaster.pid} is gone"

    async def restart(self) -> None:
        # start() clears the postmaster.pid a killed server leaves behind, then waits until it accepts.
        starting = asyncio.ensure_future(asyncio.to_thread(self.postgres.start))
        try:
            await asyncio.shield(starting)
        except asyncio.CancelledError:
            # The stack is stopping: its pg_ctl stop must come after this start, or the server would
            # outlive the stack.
            await asyncio.wait([starting])
            raise
        except EmbeddedPostgresError as error:
            raise RestartFailed(f"did not start: {last_log_line(self.log_file, 'FATAL')}") from error
        self.watch()


def supervisors(
    server: TemporalDevServer,
    postgres: EmbeddedPostgres | None,
    policy: RestartPolicy,
    say: Callable[[str], None],
    temporal_users: Mapping[str, Check],
    database_users: Mapping[str, Check],
) -> list[Supervisor]:
    """One supervisor per server the stack started (none for a DATABASE_URL database: not ours); the
    users are the checks by which the worker and the API show they reach each server."""
    watching = [Supervisor(TemporalPart(server), policy, say, temporal_users)]
    if postgres is not None:
        part = PostgresPart(postgres)
        part.watch()
        watching.append(Supervisor(part, policy, say, database_users))
    return watching

