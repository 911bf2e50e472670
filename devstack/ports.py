"""Checking that the dev stack's ports are free before starting anything on them."""

from __future__ import annotations

import errno
import socket


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when a server could listen on host:port now.

    SO_REUSEADDR as the servers themselves set it, so that sockets of an earlier run still in
    TIME_WAIT do not count as taken while a listener (any program's) does.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def taken_ports(wanted: dict[str, int], host: str = "127.0.0.1") -> dict[str, int]:
    """The subset of {purpose: port} that something else already listens on."""
    return {purpose: port for purpose, port in wanted.items() if not port_is_free(port, host)}


# The dev stack's ports (Temporal, its UI, the API, the codec server, the mail sink, PostgreSQL) and a
# system PostgreSQL's: a test's or a benchmark's server never takes them, even while they are free.
RESERVED_PORTS = frozenset({5432, 7233, 8233, 8300, 8301, 8325, 55432})


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel considers free now and that `make dev` does not use (tests and benchmarks
    start their servers on these)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
        if port not in RESERVED_PORTS:
            return port
