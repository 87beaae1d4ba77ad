"""The process model of ``congthu serve``: a small supervisor and N worker processes.

The protocols run on one asyncio event loop under the GIL, so one process uses one core.
With ``server.workers`` above 1 (0, the default, is one per core the process may use)
``congthu serve`` becomes a supervisor that:

- runs the schema migrations once, then binds, for every enabled listener, one socket
  per worker with SO_REUSEPORT (``congthu.net.bind_listener``; a plain bind first, so a
  port taken by another program, even another ``congthu serve``, is an error rather than
  a share of its connections) and starts the workers: ``congthu serve`` again, each with
  its number in ``CONGTHU_WORKER`` and its own sockets handed down (``pass_fds``, named in
  ``CONGTHU_LISTEN_FDS``). The kernel spreads new connections over the workers' sockets
  by a hash of their addresses. (One socket shared by every worker gave a burst of
  connections, such as clients reconnecting after a restart or 20 clients of a load
  test, all to the worker that woke first, leaving the other cores idle for the life of
  those connections.) When a worker dies its sockets are closed, so new connections go
  to the others until it is back with new ones; connections that were waiting in its
  queue are reset and their clients connect again (Linux's ``net.ipv4.tcp_migrate_req =
  1`` hands them to the other workers instead);
- waits for each worker's "ready" line on its standard output (the listeners it took;
  the supervisor closes the sockets no worker took, so a switched-off listener refuses
  connections instead of leaving them waiting), then prints the banner;
- restarts a worker that dies, after 0.5 s, then twice as long after each quick death
  (at most 30 s; a worker that ran a minute starts the count again). A worker that fails
  before it is ready while the server is starting, or five times in a row later, stops
  the whole server with a non-zero exit and one message: a configuration or database
  problem is reported once, not in a restart loop;
- forwards SIGHUP (every worker reloads the TLS certificate) and, on SIGTERM or SIGINT,
  closes the sockets, asks every worker to stop (each stops accepting, lets its sessions
  finish their current command and closes its database), waits up to ``STOP_TIMEOUT``
  and then kills what is left.

A worker dies with the supervisor (``PR_SET_PDEATHSIG``), so a killed supervisor leaves
no orphan holding the ports. Workers write their log to the supervisor's standard error
directly, one JSON line per event with ``"worker": n`` (``congthu.log``); the supervisor's
own events are ``supervisor.*``.

What the workers share goes through the database (the group commit's writer lock, rate
limits, the POP3 lock, the outbound queue's claims, job leases in ``congthu.cluster``) or
through the change feed's local channel (``congthu.store.changes.LocalFeed``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from congthu.config.settings import Settings
from congthu.log import event
from congthu.net import LISTEN_FDS_ENV, bind_listener, inherited_listeners

WORKER_ENV = "CONGTHU_WORKER"
SUPERVISOR_ENV = "CONGTHU_SUPERVISOR"
READY = b"ready "  # the first line a worker writes on its standard output, then JSON

FIRST_DELAY = 0.5  # seconds before restarting a worker that died
MAX_DELAY = 30.0
STEADY = 60.0  # a worker that ran this long died of something new: restart at once again
MAX_START_FAILURES = 5  # failures before ready, in a row, that stop the server
START_TIMEOUT = 180.0  # seconds a worker may take to be ready
STOP_TIMEOUT = 60.0  # seconds the workers have to drain before they are killed

_PR_SET_PDEATHSIG = 1


class WorkerFailed(Exception):
    """Workers cannot be kept running: the server stops with this message."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def worker_number() -> int | None:
    """This process's worker number (1...), or None if it is not a supervised worker."""
    value = os.environ.get(WORKER_ENV, "")
    return int(value) if value.isdigit() else None


def worker_count(settings: Settings) -> int:
    """How many workers ``congthu serve`` runs: ``server.workers``, 0 being one per core
    this process may run on."""
    if settings.server.workers:
        return settings.server.workers
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not Linux
        return max(os.cpu_count() or 1, 1)


def die_with_parent() -> None:
    """In a worker: be sent SIGTERM when the supervisor dies (Linux), and stop now if it
    is already gone."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    supervisor = os.environ.get(SUPERVISOR_ENV, "")
    if supervisor.isdigit() and os.getppid() != int(supervisor):
        os.kill(os.getpid(), signal.SIGTERM)


def report_ready(services: Sequence[Any]) -> None:
    """In a worker: tell the supervisor it is serving, and which listeners it took."""
    listeners = inherited_listeners()
    listeners.close_untaken()
    info = {"pid": os.getpid(),
            "services": [[s.name, getattr(s, "port", 0)] for s in services],
            "taken": [[host, port] for host, port in listeners.taken]}
    sys.stdout.buffer.write(READY + json.dumps(info).encode() + b"\n")
    sys.stdout.buffer.flush()


@dataclass
class _Slot:
    number: int
    proc: asyncio.subprocess.Process | None = None
    failures: int = 0  # deaths before ready, in a row
    info: dict[str, Any] = field(default_factory=dict)


class Supervisor:
    """Binds the listeners, starts ``count`` workers running ``command`` and keeps them
    running until stopped (see the module's docstring)."""

    def __init__(self, settings: Settings, command: list[str], count: int, *,
                 banner: Any = None) -> None:
        self.settings, self.command, self.count = settings, command, count
        self.banner = banner  # called with the first worker's ready info once all are up
        self.slots = [_Slot(n) for n in range(1, count + 1)]
        self.listeners: list[tuple[str, str, int]] = []  # (name, host, port) of each listener
        # Worker number -> its sockets, by (host, port); a dead worker's are closed.
        self.sockets: dict[int, dict[tuple[str, int], socket.socket]] = {}
        self.stopping = asyncio.Event()
        self.all_up = asyncio.Event()
        self.failure: WorkerFailed | None = None

    def bind(self) -> None:
        """Bind every listener with a port, a socket per worker (OSError, naming the port,
        if one is taken)."""
        listen = self.settings.listen
        for f in dataclasses.fields(listen):
            name, port = f.name, getattr(listen, f.name)
            if name == "host" or not port or any(p == port for _n, _h, p in self.listeners):
                continue
            self.listeners.append((name, listen.host, port))
            try:
                # A plain bind fails on a port another program listens on, even with
                # SO_REUSEPORT (which would otherwise join its group and share its traffic).
                bind_listener(listen.host, port).close()
            except OSError as exc:
                raise OSError(exc.errno, f"{name}: {listen.host}:{port}: {exc.strerror}") from None
        try:
            for slot in self.slots:
                self._bind_worker(slot.number)
        except OSError:
            self.close_sockets()
            raise

    def _bind_worker(self, number: int) -> None:
        """Worker ``number``'s own socket of every listener (SO_REUSEPORT)."""
        sockets = self.sockets.setdefault(number, {})
        for name, host, port in self.listeners:
            try:
                sockets[(host, port)] = bind_listener(host, port, reuse_port=True)
            except OSError as exc:
                raise OSError(exc.errno, f"{name}: {host}:{port}: {exc.strerror}") from None

    def close_sockets(self, number: int | None = None) -> None:
        """Close worker ``number``'s sockets, or every worker's."""
        for n in [number] if number is not None else list(self.sockets):
            for sock in self.sockets.pop(n, {}).values():
                sock.close()

    async def run(self) -> int:
        """Run until SIGTERM/SIGINT (0) or until workers cannot be kept running
        (``WorkerFailed``)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        loop.add_signal_handler(signal.SIGHUP, self._forward, signal.SIGHUP)
        event("supervisor.started", pid=os.getpid(), workers=self.count)
        keepers = [asyncio.create_task(self._keep(slot)) for slot in self.slots]
        try:
            await self.stopping.wait()
        finally:
            await self._drain(keepers)
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
        if self.failure is not None:
            event("supervisor.failed", error=str(self.failure))
            raise self.failure
        event("supervisor.stopped")
        return 0

    def _forward(self, sig: int) -> None:
        event("supervisor.signal", signal=signal.Signals(sig).name)
        for slot in self.slots:
            if slot.proc is not None and slot.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    slot.proc.send_signal(sig)

    def _fail(self, message: str, code: int = 1) -> None:
        if self.failure is None:
            self.failure = WorkerFailed(message, code)
        self.stopping.set()

    async def _keep(self, slot: _Slot) -> None:
        """Run worker ``slot`` and restart it when it dies, until the server stops."""
        delay = FIRST_DELAY
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                if slot.number not in self.sockets:
                    self._bind_worker(slot.number)
            except OSError as exc:
                self.close_sockets(slot.number)
                self._fail(f"Không mở lại được cổng / cannot bind again: {exc}")
                return
            was_ready, code = await self._run_worker(slot)
            # Its sockets go with it: new connections go to the other workers meanwhile.
            self.close_sockets(slot.number)
            if self.stopping.is_set():
                return
            ran = time.monotonic() - started
            event("supervisor.worker_died", worker=slot.number, code=code, seconds=round(ran, 1),
                  ready=was_ready)
            if not was_ready:
                slot.failures += 1
                if not self.all_up.is_set():
                    self._fail(f"Tiến trình xử lý {slot.number} không khởi động được / worker {slot.number} "
                               f"failed to start (exit code {code}); its error is above", code if code and code > 0 else 1)
                    return
                if slot.failures >= MAX_START_FAILURES:
                    self._fail(f"Tiến trình xử lý {slot.number} chết khi khởi động {slot.failures} lần liên tiếp / "
                               f"worker {slot.number} failed to start {slot.failures} times in a row "
                               f"(exit code {code}); its error is above")
                    return
            else:
                slot.failures = 0
            delay = FIRST_DELAY if ran >= STEADY else delay
            event("supervisor.restarting", worker=slot.number, delay=delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)
            delay = min(delay * 2, MAX_DELAY)

    async def _run_worker(self, slot: _Slot) -> tuple[bool, int | None]:
        """Start worker ``slot``, wait for it to be ready and then to end: (was it ready,
        its exit code)."""
        fds = {key: sock.fileno() for key, sock in self.sockets[slot.number].items()}
        env = dict(os.environ)
        env[WORKER_ENV] = str(slot.number)
        env[SUPERVISOR_ENV] = str(os.getpid())
        env[LISTEN_FDS_ENV] = json.dumps([[host, port, fd] for (host, port), fd in fds.items()])
        proc = slot.proc = await asyncio.create_subprocess_exec(
            *self.command, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            env=env, pass_fds=tuple(fds.values()))
        event("supervisor.worker_started", worker=slot.number, pid=proc.pid)
        assert proc.stdout is not None
        ready = False
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), START_TIMEOUT)
        except TimeoutError:
            line = b""
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        if line.startswith(READY):
            ready = True
            slot.info = json.loads(line[len(READY):])
            self._worker_ready()
        relay = asyncio.create_task(_relay_output(proc.stdout))
        code = await proc.wait()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(relay, 2)
        return ready, code

    def _worker_ready(self) -> None:
        if self.all_up.is_set() or not all(s.info for s in self.slots):
            return
        # Listeners no worker took (switched off in them, e.g. TLS ports without a
        # certificate) are closed, so they refuse connections rather than queue them.
        taken = {(str(h), int(p)) for s in self.slots for h, p in s.info.get("taken", [])}
        self.listeners = [(name, h, p) for name, h, p in self.listeners if (h, p) in taken]
        for sockets in self.sockets.values():
            for key in [key for key in sockets if key not in taken]:
                sockets.pop(key).close()
        self.all_up.set()
        event("supervisor.ready", workers=[s.info.get("pid") for s in self.slots])
        if self.banner is not None:
            self.banner(self.slots[0].info, [s.info.get("pid") for s in self.slots])

    async def _drain(self, keepers: list[asyncio.Task[None]]) -> None:
        """Stop: close the sockets, SIGTERM every worker, wait, kill what is left."""
        self.stopping.set()
        self.close_sockets()
        live = [s.proc for s in self.slots if s.proc is not None and s.proc.returncode is None]
        for proc in live:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        if live:
            _done, pending = await asyncio.wait([asyncio.create_task(p.wait()) for p in live],
                                                timeout=STOP_TIMEOUT)
            if pending:
                event("supervisor.killing", workers=len(pending))
                for proc in live:
                    if proc.returncode is None:
                        with contextlib.suppress(ProcessLookupError):
                            proc.kill()
                await asyncio.wait(pending, timeout=10)
        for keeper in keepers:
            keeper.cancel()
        await asyncio.gather(*keepers, return_exceptions=True)


async def _relay_output(stream: asyncio.StreamReader) -> None:
    """What a worker writes on its standard output after "ready" goes to ours."""
    while line := await stream.readline():
        sys.stdout.buffer.write(line)
        sys.stdout.buffer.flush()


def worker_command(data_dir: Path, *, verbose: bool, only: str | None) -> list[str]:
    """The command line of a worker: this interpreter running ``congthu serve``."""
    command = [sys.executable, "-m", "congthu", "--data", str(data_dir)]
    if verbose:
        command.append("-v")
    command.append("serve")
    if only:
        command += ["--only", only]
    return command
