"""Shared test fixtures: a fresh data directory, an open App, and a running server.

``server`` runs ``congthu.server.serve`` for real (every listener on a free loopback
port) in a background thread with its own event loop, so tests can use blocking clients
(imaplib, poplib, smtplib, curl) against real sockets. ``server.run(coro)`` runs a
coroutine on the server's loop, e.g. to create a user with the server's own App.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import contextlib
import dataclasses
import os
import random
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from congthu import config
from congthu.app import App
from congthu.cli.core import initialise
from congthu.config import ListenSettings
from congthu.config.template import render
from congthu.store import indexer

T = TypeVar("T")


def need(tool: str, package: str | None = None) -> str:
    """The path of a program the test drives; the test fails (never skips) without it,
    since ``make test`` installs every such program: a skip would hide a missing install."""
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not installed (apt-get install {package or tool})")
    return path


def _listening_range() -> tuple[int, int]:
    """Ports for this test process's servers.

    Below the kernel's ephemeral range, from which every outgoing connection (and a bind
    to port 0) takes its local port: a port chosen there could be taken by another test's
    client between the choice and the server's bind ("address already in use"). And a
    slice of its own for each pytest-xdist worker: two workers checking the same free
    port at the same moment would both choose it (seen in CI)."""
    try:
        ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral = 32768
    low, high = 10000, max(10001, ephemeral - 1)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    index = int(worker) if worker.isdigit() else 0
    size = (high - low + 1) // max(count, 1)
    return low + index * size, low + (index + 1) * size - 1


# Ports this process handed out lately: a port is free when chosen but taken only when
# its server starts, so two data directories made before either server starts (two nodes
# of one test) could otherwise be given the same one (seen in the clean room).
_RECENT_PORTS: collections.deque[int] = collections.deque(maxlen=2048)


# Ports Chromium refuses to open (net::ERR_UNSAFE_PORT; net/base/port_util.cc), from
# 1024 up: a webmail test server given one could not be visited by the browser tests.
BROWSER_UNSAFE_PORTS = frozenset({1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666,
                                  6667, 6668, 6669, 6679, 6697, 10080})


def free_port(taken: set[int] | None = None) -> int:
    """A free loopback port for a test server (see ``_listening_range``), none of the
    ports this process handed out lately, nor one a browser refuses."""
    low, high = _listening_range()
    while True:
        port = random.randint(low, high)
        if (taken is not None and port in taken) or port in _RECENT_PORTS or port in BROWSER_UNSAFE_PORTS:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _RECENT_PORTS.append(port)
        return port


def loopback_ports() -> dict[str, Any]:
    names = [f.name for f in dataclasses.fields(ListenSettings) if f.name != "host"]
    taken: set[int] = set()
    ports: dict[str, Any] = {}
    for name in names:
        ports[name] = free_port(taken)
        taken.add(ports[name])
    ports["host"] = "127.0.0.1"
    return ports


async def make_data_dir(path: Path, **overrides: dict[str, Any]) -> Path:
    """Initialise a data directory for tests: dev mode, free ports, cheap argon2.

    What ``congthu init`` makes beside the configuration (the database at the head of
    every migration, the TLS certificate and key, the DKIM key, the directories) is the
    same for every test of a process with the same names and key paths, and costs most of
    a second (the migrations, a 2048-bit RSA key): it is made once per process by the real
    ``initialise`` into a template directory (``_template``) and copied; the
    configuration is each test's own, written and checked as ``initialise`` does. The
    database of another engine (``database.url``) and an S3 blob store are made by
    ``initialise`` itself, as is a directory that already holds something."""
    sections: dict[str, dict[str, Any]] = {
        "listen": loopback_ports(),
        # Tests create many accounts: argon2id stays, with small costs.
        "passwords": {"argon2_time_cost": 1, "argon2_memory_kib": 8192, "argon2_parallelism": 1},
        # A session left in the middle of a command holds the server fixture's stop (its
        # 30 s join) for this long at most.
        "server": {"drain_seconds": 5},
    }
    for section, values in overrides.items():
        sections.setdefault(section, {}).update(values)
    settings = _test_settings(sections)
    if settings.database.url or settings.blobs.backend != "disk" or (path.exists() and any(path.iterdir())):
        await initialise(path, dev=True, overrides=sections)
        return path
    path.mkdir(parents=True, exist_ok=True)
    # As initialise: the configuration first, and it must load.
    (path / config.CONFIG_FILE).write_text(render(settings), encoding="utf-8")
    config.load(path)
    shaping = {"system": dataclasses.asdict(settings.system), "tls": dataclasses.asdict(settings.tls),
               "smtp": {"dkim_key": settings.smtp.dkim_key}}
    template = await asyncio.to_thread(_template, shaping)
    shutil.copytree(template, path, dirs_exist_ok=True,
                    ignore=lambda directory, _names: [config.CONFIG_FILE] if directory == str(template) else [])
    return path


def _test_settings(sections: dict[str, dict[str, Any]]) -> config.Settings:
    """The settings ``initialise(path, dev=True, overrides=sections)`` writes to a new directory."""
    settings = config.Settings()
    settings.system.dev_allow_plaintext_loopback = True
    for section, values in sections.items():
        for name, value in values.items():
            setattr(getattr(settings, section), name, value)
    return settings


# This process's initialised data directories to copy (make_data_dir), by the settings
# that shape their files: the certificate's names, the paths of the keys.
_TEMPLATES: dict[str, Path] = {}
_TEMPLATES_LOCK = threading.Lock()  # make_data_dir runs in several threads at once (tests/webmail)


def _template(shaping: dict[str, dict[str, Any]]) -> Path:
    """The template directory for these settings, made by the real ``initialise`` the
    first time (in this thread's own event loop: the caller's is running)."""
    key = repr(sorted(shaping.items()))
    with _TEMPLATES_LOCK:
        if key not in _TEMPLATES:
            root = Path(tempfile.mkdtemp(prefix="congthu-template-"))
            atexit.register(shutil.rmtree, root, True)
            asyncio.run(initialise(root / "data", dev=True, overrides=shaping))
            _TEMPLATES[key] = root / "data"
        return _TEMPLATES[key]


# The files that took longest in CI (``--durations``; tests/ldap/test_codec.py's fuzzing
# on this machine), each a minute or near it on one worker: handed out first. With
# ``--dist loadfile`` (``make test``) each file runs whole on one worker (its
# module-scoped servers and browser started once), one file at a time as a worker runs
# out; a long file handed out last would leave the other worker idle until it ends, so
# the long ones go first and the short ones fill in at the end.
LONGEST_FIRST = (
    "tests/webmail/test_xss.py", "tests/ldap/test_clients.py", "tests/api/test_openapi.py",
    "tests/cluster/test_many_nodes.py", "tests/migrate/test_migrate_files.py", "tests/ldap/test_wire.py",
    "tests/store/test_durability.py", "tests/content/test_learning.py", "tests/imap/test_notify.py",
    "tests/webmail/test_richtext.py", "tests/webmail/test_compose.py", "tests/cluster/test_drain.py",
    "tests/imap/test_offlineimap.py", "tests/smtp/test_idle_deadline.py", "tests/cluster/test_move_locks.py",
    "tests/ldap/test_codec.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order the files for the workers: ``LONGEST_FIRST``, then the others by their
    number of tests, most first (what xdist's own ordering of files goes by); the tests
    of a file keep their order and stay together."""
    files: dict[str, int] = collections.Counter(item.nodeid.split("::")[0] for item in items)
    rank = {name: index for index, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: (rank.get(path := item.nodeid.split("::")[0], len(rank)), -files[path], path))


@pytest.fixture
async def data_dir(tmp_path: Path) -> Path:
    return await make_data_dir(tmp_path / "data")


@pytest.fixture
async def app(data_dir: Path) -> AsyncIterator[App]:
    opened = await App.open(data_dir)
    try:
        yield opened
    finally:
        await opened.close()


class ServerThread:
    """A real server on loopback in a background thread."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.loop = asyncio.new_event_loop()
        self.app: App = None  # type: ignore[assignment]
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="congthu-test-server", daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported by start()
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        from congthu import server

        self.app = await App.open(self.data_dir)
        self._stop = asyncio.Event()
        try:
            await server.serve(self.app, stop=self._stop, ready=lambda _s: self._ready.set(),
                               install_signals=False)
        finally:
            await self.app.close()

    def start(self) -> ServerThread:
        self._thread.start()
        if not self._ready.wait(60):
            raise RuntimeError("server did not start")
        if self._error:
            raise self._error
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        """Run a coroutine on the server's event loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def wait_indexed(self, seconds: float = 20) -> None:
        """Wait until the search indexer has indexed every content delivered (it runs
        after delivery, ``congthu.store.indexer``); fail if it has not within ``seconds``."""
        deadline = time.monotonic() + seconds
        while self.run(self.app.store.search_index_pending()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.run(self.app.store.search_index_pending()) == 0

    @property
    def settings(self) -> Any:
        return self.app.settings

    def port(self, service: str) -> int:
        return int(getattr(self.app.settings.listen, service))

    def add_user(self, address: str, password: str = "Mk@12345678", name: str = "",
                 must_change: bool = False) -> int:
        """Create a mailbox with a password; returns its id."""
        async def create() -> int:
            mailbox = await self.app.store.create_mailbox(
                address, name, quota_bytes=self.app.settings.mailbox_quota_bytes)
            await self.app.accounts.set_password(mailbox.id, password, must_change=must_change)
            return mailbox.id
        return self.run(create())


@contextlib.contextmanager
def serving(path: Path, **overrides: dict[str, Any]) -> Iterator[ServerThread]:
    """A ServerThread on a new data directory at ``path`` (``make_data_dir`` with the
    settings of ``overrides``), stopped when the block ends: the body of the many
    ``server`` fixtures."""
    running = ServerThread(asyncio.run(make_data_dir(path, **overrides))).start()
    try:
        yield running
    finally:
        running.stop()


def config_refusal(text: str, source: str | Path = "/etc/congthu.toml") -> config.ConfigError:
    """The ConfigError ``config.parse`` raises for ``text`` read from ``source`` (the
    test fails if it accepts it)."""
    with pytest.raises(config.ConfigError) as caught:
        config.parse(text, source)
    return caught.value


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    with serving(tmp_path / "data") as running:
        yield running


@pytest.fixture(scope="session")
def postgres() -> Iterator[Any]:
    """A PostgreSQL server for the whole test session (skipped nowhere: it must exist)."""
    from tests.postgres import PostgresServer

    pg = PostgresServer().start()
    try:
        yield pg
    finally:
        pg.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
async def any_app(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[App]:
    """An open App on SQLite, then on a real PostgreSQL: the same tests for both engines."""
    database: dict[str, Any] = {}
    if request.param == "postgresql":
        database["url"] = request.getfixturevalue("postgres").create_database()
    data = await make_data_dir(tmp_path / "data", database=database)
    opened = await App.open(data)
    try:
        yield opened
    finally:
        await opened.close()


@contextlib.contextmanager
def database_calls(db: Any, packages: tuple[str, ...]) -> Iterator[list[str]]:
    """The transactions ``db`` runs meanwhile whose function is in one of ``packages``
    (module prefixes, e.g. "congthu.store"), as "run_small_read FUNCTION" lines; not
    those of the search indexer, a background job that looks for work every half second
    (``congthu.store.indexer``)."""
    calls: list[str] = []
    names = ("run_small_read", "run_read", "run_write")

    def counting(name: str) -> Callable[..., Any]:
        original = getattr(db, name)

        def run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            if fn.__module__.startswith(packages) and fn.__module__ != indexer.__name__:
                calls.append(f"{name} {fn.__qualname__}")
            return original(fn, *args, **kwargs)
        return run

    for name in names:
        setattr(db, name, counting(name))
    try:
        yield calls
    finally:
        for name in names:
            delattr(db, name)
