"""The metadata database: one SQLAlchemy 2 (async) engine, SQLite in WAL mode by default,
PostgreSQL (asyncpg) by configuration. The same table definitions and queries serve both.

Every package declares its tables on the shared ``metadata`` below (``<package>/tables.py``)
and owns an Alembic branch in ``congthu/migrations/versions`` (file names start with the
package name). ``migrate()`` upgrades every branch to its head.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import fcntl
import functools
import logging
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import Engine, MetaData, Table, create_engine, event, func, select
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool, Pool

T = TypeVar("T")
log = logging.getLogger("congthu.db")

# Stable constraint names, so migrations can refer to them on both engines.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

SQLITE_FILE = "meta.db"

# PostgreSQL rolled the whole transaction back and says running it again may succeed:
# a deadlock's victim (40P01), a serialisation failure (40001). run_write runs it again
# (as SQLite's group commit re-runs a batch's functions: they hold one transaction's SQL).
PG_RETRY_SQLSTATES = frozenset({"40P01", "40001"})
PG_RETRIES = 5


def like_escape(text: str) -> str:
    """``text`` as a literal inside a LIKE pattern written with ``escape="\\\\"``."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# Where a write function leaves notes for after its commit (``after_commit``): a set in
# ``Connection.info`` while ``run_write`` runs it.
_NOTES = "congthu_after_commit"


def after_commit(conn: Connection, note: str) -> None:
    """Leave ``note`` for ``Database.on_commit``, told once the transaction of ``conn``
    has committed (a write function of ``run_write``; ignored elsewhere, as in a read,
    which changes nothing). A note of a function whose transaction rolls back is never
    told. So an owner's function that changes something other processes keep (the state
    a login is decided on) says so itself, whoever's transaction it joins."""
    notes = conn.info.get(_NOTES)
    if notes is not None:
        notes.add(note)


# ``Database.run_write``'s ``before``: (run, items), ``run(items)`` done before the
# transaction.
Before = tuple[Callable[[list[Any]], object], Sequence[Any]]


class DatabaseUnavailable(Exception):
    """The metadata database is locked, gone or unreachable: answer "try again later"."""


def database_url(configured: str, data_dir: Path) -> str:
    """The SQLAlchemy URL: the configured one, or SQLite in the data directory."""
    if configured:
        return configured
    return f"sqlite+aiosqlite:///{(data_dir / SQLITE_FILE).resolve()}"


@dataclass(frozen=True)
class SQLiteTuning:
    """Per-connection SQLite settings (``[database]`` in the configuration)."""

    busy_timeout: float = 10.0  # seconds to wait for another process's write lock
    mmap_bytes: int = 0  # of the file read through memory mapping (PRAGMA mmap_size)


def _sqlite_engine(url: str, tuning: SQLiteTuning, *, writer: bool) -> AsyncEngine:
    # The writer engine has a single connection (migrate's, under the in-process write
    # slot, ``Database._write_slot``); readers run beside it (WAL). It is handed back
    # without the pool's ROLLBACK: migrate's begin() ends its own transaction.
    pool_args: dict[str, Any] = (
        {"pool_size": 1, "max_overflow": 0, "pool_timeout": 3600, "pool_reset_on_return": None} if writer else {}
    )
    engine = create_async_engine(url, connect_args={"timeout": tuning.busy_timeout}, **pool_args)
    _sqlite_events(engine.sync_engine, tuning, writer=writer)
    return engine


def _sqlite_sync_engine(url: str, tuning: SQLiteTuning, *, writer: bool, pool_size: int,
                        poolclass: type[Pool] | None = None) -> Engine:
    # The same database through the synchronous pysqlite driver, for transactions run
    # whole in a worker thread (see Database.run_write); same pragmas, same BEGIN.
    sync_url = make_url(url).set(drivername="sqlite+pysqlite")
    pool_args: dict[str, Any] = ({"poolclass": poolclass} if poolclass is not None
                                 else {"pool_size": pool_size, "max_overflow": 0, "pool_timeout": 3600})
    engine = create_engine(
        sync_url, connect_args={"timeout": tuning.busy_timeout, "check_same_thread": False}, **pool_args,
    )
    _sqlite_events(engine, tuning, writer=writer)
    return engine


def _sqlite_events(engine: Engine, tuning: SQLiteTuning, *, writer: bool) -> None:
    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
        # Durability: a delivery is reported done only once its commit is on disk,
        # so synchronous=FULL; WAL lets readers go on while one writer commits.
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(tuning.busy_timeout * 1000)}")
        cursor.execute(f"PRAGMA mmap_size={int(tuning.mmap_bytes)}")
        cursor.close()

    begin = "BEGIN IMMEDIATE" if writer else "BEGIN"

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn: Connection) -> None:
        # A writer takes the lock at BEGIN IMMEDIATE, so it waits (busy_timeout) for
        # another process's writer instead of failing when it upgrades a read lock.
        driver = conn.connection.driver_connection
        if not isinstance(driver, sqlite3.Connection):
            conn.exec_driver_sql(begin)  # aiosqlite, through SQLAlchemy's adapter
            return
        if writer and driver.in_transaction:
            return  # begun on the driver by the writer thread (``_begin``): Core joins it
        try:
            driver.execute(begin)  # pysqlite: straight to the driver, it is every transaction
        except sqlite3.Error as exc:
            # As SQLAlchemy would have raised it (OperationalError for "database is locked").
            raise DBAPIError.instance(begin, (), exc, sqlite3.Error) from exc


class Database:
    """The metadata database, and the one way into it for every package: ``run_write``,
    ``run_read`` and ``run_small_read`` run a synchronous function holding one
    transaction's SQL (SQLAlchemy Core on a ``Connection``).

    Behind them, on PostgreSQL one async engine (asyncpg) runs those functions through
    ``run_sync``; on SQLite the functions run on synchronous pysqlite connections in
    threads, and the async writer engine serves only ``migrate`` (a single connection
    that takes the write lock at BEGIN). The async engines are private: other modules
    never open a connection of their own.
    """

    def __init__(self, url: str, busy_timeout: float = 10.0, *, sqlite_mmap_mib: int = 0) -> None:
        self.url = url
        self.sqlite = SQLiteTuning(busy_timeout, sqlite_mmap_mib << 20)
        if url.startswith("sqlite"):
            self._async_writer = _sqlite_engine(url, self.sqlite, writer=True)
            self._async_reader = _sqlite_engine(url, self.sqlite, writer=False)
        else:
            self._async_writer = self._async_reader = create_async_engine(
                url, pool_size=20, max_overflow=20, pool_pre_ping=True
            )
        # SQLite only, made on first use: synchronous engines and the threads that run
        # whole transactions on them (run_write, run_read).
        self._sync_writer: Engine | None = None
        self._sync_reader: Engine | None = None
        self._writer: _Writer | None = None  # the writer thread's connection, kept (see _Writer)
        self._read_threads: ThreadPoolExecutor | None = None
        # Group commit of run_write (SQLite): functions waiting for the next round, taken
        # by the writer thread (``_write_rounds``), which lives as long as the Database.
        self._write_queue: list[_WriteJob] = []
        # Guards the queue and the writer thread's state below; the thread waits on the
        # eventfd ``_write_wake`` while the queue is empty (``_writer_idle``).
        self._queue_lock = threading.Lock()
        self._write_wake: int | None = None
        self._write_thread: threading.Thread | None = None
        self._writer_idle = False
        self._write_stop = False
        # SQLite: the in-process write slot, held by the writer thread for each round of
        # the group commit and by ``migrate``, so that the two queue for each other in
        # process instead of one polling SQLite's lock (busy_timeout).
        self._write_slot = threading.Lock()
        # SQLite: the writers of other processes on the same file (the workers of
        # `congthu serve`) take turns through a file lock beside it, see _WriterLock.
        self._writer_lock = _WriterLock.beside(url) if url.startswith("sqlite") else None
        # run_small_read (SQLite): each thread's own connection (``conn``), and all of them.
        self._here = threading.local()
        self._here_engine: Engine | None = None
        self._here_conns: list[Connection] = []
        # Told the notes of each committed write function (``after_commit``), on the
        # event loop, before its ``run_write`` returns (the App sets it: the change feed).
        self.on_commit: Callable[[set[str]], None] = lambda _notes: None
        # SQLite: told the notes of each committed batch on the writer thread, at once
        # and while it still holds the writer lock, so that what it sends reaches the
        # other processes before any later commit of theirs (the change feed's log
        # entries, ``ChangeHub.committed_held``). It must not block.
        self.on_commit_held: Callable[[list[str]], None] = lambda _notes: None

    # -- whole transactions in one call -----------------------------------------------------

    async def run_write(self, fn: Callable[..., T], *args: Any, durable: bool = True,
                        before: Before | None = None) -> T:
        """Run ``fn(conn, *args)`` in one write transaction and commit; its result.

        ``durable=False`` (Dovecot's ``mail_fsync=optimized``) lets the commit return
        before it is on disk: SQLite ``synchronous=NORMAL`` (the WAL is fsynced at the next
        durable commit or checkpoint, which makes every earlier commit durable too, in
        order), PostgreSQL ``synchronous_commit = off`` for the transaction (its WAL is
        flushed in order too). The rule: a write may be non-durable when losing it to a
        power cut loses no message and no promise made outside the database: flag
        changes, \\Recent claims, the search index, folder snapshots, and expunges (a
        lost expunge brings the messages back; IMAP EXPUNGE and POP3's UPDATE state both
        use ``MessageMethods.expunge``). Anything that saves a message (delivery, APPEND,
        COPY, MOVE) or that other state relies on is durable; and whatever deletes on
        the strength of a write (the blob collector unlinks blobs whose content rows are
        gone) must rest on a durable commit that saw it: the collector's own durable
        DELETE of contents, which writes, so its fsync covers every commit before it.

        ``fn`` is synchronous SQLAlchemy Core code. On SQLite it runs whole on the writer
        thread's own pysqlite connection (BEGIN IMMEDIATE ... COMMIT, synchronous=FULL):
        one thread hop per transaction instead of one per statement. While it runs it
        holds ``writer``'s only connection, so the application's other writers queue
        behind it in process instead of polling SQLite's lock. On PostgreSQL it runs on
        ``writer`` through ``run_sync`` (asyncpg). Either way the transaction rolls back
        if ``fn`` raises.

        Group commit (SQLite): the functions that arrive while a commit is under way wait
        for it and then run together, one after the other, each in a SAVEPOINT of one
        shared transaction, so a batch costs one thread hop, one write slot and one
        fsync instead of one each. Each still commits or rolls back on its own: one that
        raises rolls back to its savepoint and gets its exception, the others go on; each
        sees what those before it wrote, as it would one transaction later; its caller is
        answered once the shared COMMIT is durable. If the shared transaction itself
        fails (the COMMIT, or a savepoint that cannot be rolled back), every function of
        the batch is run again alone, so each gets its own answer as without batching.

        Within a round of the group commit the non-durable functions queued run first, in
        a batch of their own committed with ``synchronous=NORMAL``, and are answered at
        once; the durable ones follow in a second batch and wait for its fsync, so a
        STORE or an EXPUNGE does not wait for the fsync of an APPEND queued with it
        (only for a round already under way). Reordering them is sound: the functions
        of one round are all waiting at once, so none of their callers has been answered
        and none can depend on another's effect (a caller that needs an order awaits one
        write before it starts the next, and then they are in different rounds); within
        each batch the order of arrival is kept.

        ``before``, a pair ``(run, items)``: blocking work the transaction depends on,
        done first (an APPEND's blob fsyncs, ``DeliveryMethods.append``); if it raises,
        ``fn`` is not run and the caller gets its exception. On SQLite the writer thread
        does it as the round begins, outside the writer lock, in one ``run(items)`` call
        for every function of the round with the same ``run``: the blob fsyncs of
        concurrent APPENDs go side by side and cost no thread hop of their own (imaptest
        ``logout=0``: ~195 hops between the loop and a thread per 1,000 commands, ~58 now).
        The round's non-durable functions without one are committed before it, so a STORE
        does not wait for an APPEND's fsyncs. On PostgreSQL it runs in a thread before the
        transaction.

        On PostgreSQL a transaction rolled back as a deadlock's victim or for a
        serialisation failure (``PG_RETRY_SQLSTATES``) is run again, up to ``PG_RETRIES``
        times: either way ``fn`` may run more than once, so it holds only its SQL.
        """
        if not self.is_sqlite:
            if before is not None:
                await asyncio.to_thread(before[0], list(before[1]))
            for attempt in range(1, PG_RETRIES + 1):
                try:
                    notes: set[str] = set()
                    async with self._async_writer.begin() as conn:
                        if not durable:
                            await conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
                        # The dict itself, kept: once the connection is invalidated (a
                        # statement cancelled under way), ``conn.info`` raises
                        # PendingRollbackError, which would hide the error that ended it.
                        info = conn.info
                        info[_NOTES] = notes
                        try:
                            result = await conn.run_sync(fn, *args)
                        finally:
                            info.pop(_NOTES, None)
                    self._committed(notes)
                    return result
                except DBAPIError as exc:
                    if getattr(exc.orig, "sqlstate", None) not in PG_RETRY_SQLSTATES or attempt == PG_RETRIES:
                        raise
                await asyncio.sleep(0.005 * attempt)
        loop = asyncio.get_running_loop()
        job = _WriteJob(fn, args, loop.create_future(), durable=durable, before=before)
        thread = self._write_thread
        if thread is None or not thread.is_alive():
            self._start_writer()
        with self._queue_lock:
            self._write_queue.append(job)
            wake, self._writer_idle = self._writer_idle, False
        if wake:
            # The thread waits for work: wake it once the loop has run what is ready now,
            # so that the writes queued in this turn of the loop make one round (as they
            # did when a loop task handed each round over). A busy thread takes the job
            # when its round ends, without a wake-up (see ``_write_rounds``).
            loop.call_soon(self._wake_writer)
        try:
            return await asyncio.shield(job.future)
        except asyncio.CancelledError:
            with self._queue_lock:
                queued = not job.started
                if queued:  # not begun: it never runs
                    self._write_queue.remove(job)
            if queued:
                raise
            # Begun: it cannot be stopped half way; wait for it, then go on cancelling.
            while not job.future.done():
                try:
                    await asyncio.shield(job.future)
                except asyncio.CancelledError:
                    continue
                except Exception:  # the caller is cancelled: its result does not matter
                    break
            raise

    def _start_writer(self) -> None:
        """The writer thread and its connection (SQLite), made at the first write (or
        again in a process forked from one that had them: threads do not survive fork)."""
        if self._sync_writer is None:
            self._sync_writer = _sqlite_sync_engine(self.url, self.sqlite, writer=True, pool_size=1)
            self._writer = _Writer(self._sync_writer)
        self._writer_idle = self._write_stop = False
        if self._write_wake is not None:
            os.close(self._write_wake)  # a forked process's copy of its parent's
        self._write_wake = os.eventfd(0, os.EFD_CLOEXEC)
        self._write_thread = threading.Thread(target=self._write_rounds, name="congthu-db-write", daemon=True)
        self._write_thread.start()

    def _wake_writer(self) -> None:
        if self._write_wake is not None:
            os.eventfd_write(self._write_wake, 1)

    def _write_rounds(self) -> None:
        """The writer thread: rounds of the queued write functions until ``dispose``. Each
        round takes what is queued, the non-durable functions first in a batch of their
        own, answered as soon as it commits, then the durable ones (see run_write); what
        was queued meanwhile makes the next round at once.

        A thread of its own that waits (on an eventfd) only when the queue is empty, not a
        pool's thread handed each round by the event loop: waking a thread costs the loop
        much more than the hand-over itself (imaptest ``logout=0``: the pool's ``submit``
        was ~8 % of the interpreter lock's samples at ~40 rounds per 1,000 commands, the
        loop descheduled as the thread woke), and rounds that follow one another need no
        wake-up at all, nor a loop task, nor a future for the round."""
        writer, wake = self._writer, self._write_wake
        assert writer is not None and wake is not None
        round_jobs: list[_WriteJob] = []

        def take(limit: int) -> list[_WriteJob]:
            # What is queued (at most ``limit``), begun from now on: at the round's start
            # and again once the thread holds the writer lock (``_write_lanes``).
            with self._queue_lock:
                taken = self._write_queue[:limit]
                del self._write_queue[:len(taken)]
                for job in taken:
                    job.started = True
            round_jobs.extend(taken)
            return taken

        while True:
            with self._queue_lock:
                idle = self._writer_idle = not self._write_queue
                if idle and self._write_stop:
                    return
            if idle:
                # Woken by the first write queued from now on (``run_write``), or by
                # ``dispose``. An eventfd, not a condition: ``os.eventfd_write`` lets go of
                # the interpreter lock around its system call, so the loop is not held up
                # with it while the kernel switches to this thread (a condition's notify
                # was 4.5 % of the lock's samples at ~18 wake-ups per 1,000 commands).
                os.eventfd_read(wake)
                continue
            round_jobs.clear()
            taken = take(_WRITE_BATCH)
            try:
                with self._write_slot:  # the in-process write slot, see __init__
                    _write_lanes(writer, taken, self._writer_lock, self._answer_soon, take)
            except BaseException as exc:
                # The writer lock could not be had (or the thread is failing): the jobs
                # not answered yet fail. (Answers are queued on their loops in order, so
                # those answered are done by the time this is.)
                self._answer_soon(list(round_jobs), [(False, exc)] * len(round_jobs))

    def _answer_soon(self, batch: list[_WriteJob], outcomes: list[_Outcome]) -> None:
        """On the writer thread, as each batch commits: its notes to the other processes
        now, under the writer lock (on_commit_held); its callers are answered on their
        loop (``_answer``) while the thread goes on with the next batch."""
        held = [note for job, (ok, _value) in zip(batch, outcomes, strict=True) if ok for note in job.notes]
        if held:
            try:
                self.on_commit_held(held)
            except Exception:
                log.exception("after-commit notes failed")
        loops: dict[asyncio.AbstractEventLoop, tuple[list[_WriteJob], list[_Outcome]]] = {}
        for job, outcome in zip(batch, outcomes, strict=True):
            jobs, outs = loops.setdefault(job.future.get_loop(), ([], []))
            jobs.append(job)
            outs.append(outcome)
        for loop, (jobs, outs) in loops.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
                loop.call_soon_threadsafe(self._answer, jobs, outs)

    def _answer(self, batch: list[_WriteJob], outcomes: list[_Outcome]) -> None:
        """On the loop: tell each committed function's notes, answer each caller."""
        for job, (ok, value) in zip(batch, outcomes, strict=True):
            if ok:
                self._committed(job.notes)
            if not job.future.done():
                if ok:
                    job.future.set_result(value)
                else:
                    job.future.set_exception(value)

    def _committed(self, notes: set[str]) -> None:
        """Hand a committed function's notes to ``on_commit`` (its failure is logged: the
        commit stands)."""
        if notes:
            try:
                self.on_commit(notes)
            except Exception:
                log.exception("after-commit notes failed")

    async def run_read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(conn, *args)`` in one read transaction (one snapshot); its result.

        On SQLite on a small pool of reader threads with pysqlite connections (WAL: beside
        the writer); on PostgreSQL through ``run_sync`` on ``reader``.
        """
        if not self.is_sqlite:
            async with self._async_reader.connect() as conn:
                return await conn.run_sync(fn, *args)
        if self._sync_reader is None:
            self._sync_reader = _sqlite_sync_engine(self.url, self.sqlite, writer=False,
                                                    pool_size=_READ_THREADS)
            self._read_threads = ThreadPoolExecutor(_READ_THREADS, thread_name_prefix="congthu-db-read")
        engine, threads = self._sync_reader, self._read_threads
        assert threads is not None

        def work() -> T:
            with engine.connect() as conn:
                return fn(conn, *args)

        return await _finish(asyncio.get_running_loop().run_in_executor(threads, work))

    async def run_small_read(self, fn: Callable[..., T], *args: Any) -> T:
        """``run_read`` for a read of a few rows found by key (a folder, a mailbox, some
        contents by id): on SQLite it runs at once, on the calling thread, on that
        thread's own connection, in its own read transaction. Such a query takes a few
        tens of microseconds; handing it to a reader thread and back takes several times
        that, and at thousands of IMAP commands a second those hops are most of the cost.
        Never for a read that may walk a folder (it would hold up the event loop). If the
        database is busy (a WAL reader can be, briefly, while the WAL is reset) it does
        not wait here: it goes to a reader thread, which waits ``busy_timeout``."""
        if not self.is_sqlite:
            return await self.run_read(fn, *args)
        try:
            conn, driver = self._here_connection()  # may find the file busy too
            # The read transaction on the driver itself: SQLAlchemy's begin() and
            # commit() cost more than a read by key (see _here_connection).
            driver.execute("BEGIN")
            result = fn(conn, *args)
            driver.commit()
        except BaseException as exc:
            self._here_reset()
            if isinstance(exc, (OperationalError, sqlite3.OperationalError)):
                # Busy (or gone): the threaded path waits, and reports a real failure.
                return await self.run_read(fn, *args)
            raise
        return result

    def _here_connection(self) -> tuple[Connection, sqlite3.Connection]:
        """This thread's connection for run_small_read, and its pysqlite connection.

        Its SQLAlchemy transaction is left open between reads (begun here, so Core
        statements in ``fn`` never begin one of their own): each read is a BEGIN ...
        COMMIT of the driver inside it, so SQLite holds no snapshot between reads."""
        here = self._here
        conn: Connection | None = getattr(here, "conn", None)
        if conn is None:
            if self._here_engine is None:
                # Its own engine, without a pool (each thread that asks keeps the one
                # connection it opens), and no busy wait.
                tuning = SQLiteTuning(_HERE_BUSY_TIMEOUT, self.sqlite.mmap_bytes)
                self._here_engine = _sqlite_sync_engine(self.url, tuning, writer=False, pool_size=1,
                                                        poolclass=NullPool)
            conn = here.conn = self._here_engine.connect()
            self._here_conns.append(conn)
        if not conn.in_transaction():
            conn.begin()
            driver = conn.connection.driver_connection
            assert isinstance(driver, sqlite3.Connection)
            driver.commit()  # the BEGIN the "begin" event issued: each read begins its own
            here.driver = driver
        return conn, here.driver

    def _here_reset(self) -> None:
        """After a failed small read: its driver transaction ended, and SQLAlchemy's too
        (a connection invalidated meanwhile reconnects at the next _here_connection)."""
        driver: sqlite3.Connection | None = getattr(self._here, "driver", None)
        conn: Connection | None = getattr(self._here, "conn", None)
        if driver is not None:
            with contextlib.suppress(Exception):
                driver.rollback()
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.rollback()

    @functools.cached_property
    def is_sqlite(self) -> bool:
        return self._async_writer.dialect.name == "sqlite"

    async def dispose(self) -> None:
        thread = self._write_thread
        if thread is not None:
            with self._queue_lock:  # it ends once what is queued is done
                self._write_stop = True
                wake, self._writer_idle = self._writer_idle, False
            if wake:
                self._wake_writer()
            await asyncio.to_thread(thread.join)
            self._write_thread = None
            os.close(cast(int, self._write_wake))
            self._write_wake = None
        if self._read_threads is not None:
            await asyncio.to_thread(self._read_threads.shutdown, True)
        if self._writer is not None:  # its thread has ended: nothing uses it now
            self._writer.close()
            self._writer = None
        for conn in self._here_conns:
            with contextlib.suppress(Exception):
                conn.close()
        self._here_conns.clear()
        self._here = threading.local()
        for engine in (self._sync_writer, self._sync_reader, self._here_engine):
            if engine is not None:
                engine.dispose()
        self._here_engine = None
        self._read_threads = None
        self._sync_writer = self._sync_reader = None
        if self._writer_lock is not None:
            self._writer_lock.close()
        await self._async_writer.dispose()
        if self._async_reader is not self._async_writer:
            await self._async_reader.dispose()


_READ_THREADS = 4
_HERE_BUSY_TIMEOUT = 0.0  # run_small_read does not wait for a busy database (see there)
_WRITE_BATCH = 256  # write functions committed together, at most


@dataclass
class _WriteJob:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    future: asyncio.Future[Any]
    started: bool = False  # taken into a batch: it will run (or has run)
    durable: bool = True  # its commit must be on disk before it is answered (run_write)
    before: Before | None = None  # done on the writer thread before it runs (run_write)
    notes: set[str] = field(default_factory=set)  # left by after_commit, told once committed


# A write function's outcome: (True, its result) or (False, the exception it raised).
_Outcome = tuple[bool, Any]


class _WriterLock:
    """One writer at a time among the processes that write one SQLite file (the workers
    of ``congthu serve``, a command run beside them), handed over as soon as it is free.

    SQLite's own lock is enough for correctness (BEGIN IMMEDIATE waits ``busy_timeout``
    for it), but a waiting writer polls it with sleeps of up to 100 ms, so with several
    processes the database would sit idle between their commits. Each process's writer
    thread holds this ``flock`` for a round (``_write_lanes``): the next process's writer
    wakes the moment it is released, its batch grown meanwhile (the group commit goes on
    across processes). Writers that do not take it (migrations) still meet SQLite's lock."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd: int | None = None

    @classmethod
    def beside(cls, url: str) -> _WriterLock | None:
        database = make_url(url).database
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        return cls(f"{database}-writer")

    def __enter__(self) -> None:
        if self.fd is None:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *_exc: object) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _write_lanes(writer: _Writer, taken: list[_WriteJob], lock: _WriterLock | None,
                 answer: Callable[[list[_WriteJob], list[_Outcome]], None],
                 take: Callable[[int], list[_WriteJob]]) -> None:
    """On the writer thread: a round's write functions, its non-durable ones then its
    durable ones, each batch in one transaction (see ``Database.run_write``), its
    outcomes handed to ``answer`` as soon as it has committed; the other processes'
    writers kept out meanwhile (``lock``).

    Once it holds ``lock`` the round also takes (``take``, into ``taken``) what was queued
    while it waited for it: with several processes a writer mostly waits for the others'
    commits, and what its sessions queued meanwhile would otherwise wait for the next
    round and the lock again (two workers made rounds of ~3 functions where one made ~5).
    They are waiting as the round's first ones are (none answered), so the round may
    take them as it would have at its start.

    Functions with a ``before`` (``run_write``): the round's non-durable functions
    without one are committed first, then the befores are done outside the lock (the
    other processes' writers commit meanwhile), then the rest; the befores of functions
    taken once the lock is held are done under it (a third of an imaptest APPEND's;
    leaving those functions for the next round instead measured no better)."""
    held = lock if lock is not None else contextlib.nullcontext()
    if any(job.before is not None for job in taken):
        light = [job for job in taken if not job.durable and job.before is None]
        if light:
            with held:
                answer(light, _write_batch(writer, light))
        taken = _prepared([job for job in taken if job.durable or job.before is not None], answer)
    with held:
        if lock is not None and len(taken) < _WRITE_BATCH:
            taken.extend(_prepared(take(_WRITE_BATCH - len(taken)), answer))
        lanes = [lane for lane in ([job for job in taken if not job.durable],
                                   [job for job in taken if job.durable]) if lane]
        for batch in lanes:
            answer(batch, _write_batch(writer, batch))


def _prepared(jobs: list[_WriteJob],
              answer: Callable[[list[_WriteJob], list[_Outcome]], None]) -> list[_WriteJob]:
    """Do the befores of these jobs, one ``run`` call for all the items of the jobs that
    share it; the jobs whose before failed are answered with its exception, the others
    returned in their order."""
    shared: dict[Callable[[list[Any]], object], list[_WriteJob]] = {}
    for job in jobs:
        if job.before is not None:
            shared.setdefault(job.before[0], []).append(job)
    failed: set[int] = set()
    for run, group in shared.items():
        try:
            run([item for job in group if job.before is not None for item in job.before[1]])
        except Exception as exc:
            answer(group, [(False, exc)] * len(group))
            failed.update(id(job) for job in group)
    return [job for job in jobs if id(job) not in failed] if failed else jobs


def _write_batch(writer: _Writer, batch: list[_WriteJob]) -> list[_Outcome]:
    """A batch in one transaction, or each function alone if that transaction fails as
    a whole."""
    if len(batch) > 1:
        try:
            return _write_together(writer, batch)
        except Exception:  # noqa: S110 - each is run again alone and gets its own answer
            pass
    return [_write_alone(writer, job) for job in batch]


class _Writer:
    """The writer thread's connection (SQLite), kept from one batch to the next.

    Taking it from the pool and handing it back for each batch (a Connection made, the
    pool's checkout and checkin with its ROLLBACK) cost the writer thread some 80 us of
    its hold of the interpreter lock per batch, and most batches are one delivery. A
    transaction that fails lets it go as before (``_begin``): handed back with the
    pool's ROLLBACK, the next batch takes it again from the pool (its single
    connection). Used on the writer thread only; closed by ``Database.dispose``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.conn: Connection | None = None

    def connection(self) -> Connection:
        """The kept connection (made again if it was closed or invalidated)."""
        conn = self.conn
        if conn is None or conn.closed or conn.invalidated:
            self.close()
            conn = self.conn = self.engine.connect()
        return conn

    def close(self) -> None:
        if self.conn is not None:
            conn, self.conn = self.conn, None
            with contextlib.suppress(Exception):
                conn.close()


@contextlib.contextmanager
def _begin(writer: _Writer, durable: bool) -> Iterator[tuple[Connection, sqlite3.Connection]]:
    """A write transaction on the writer's connection, its commit fsynced or not
    (``run_write``'s ``durable``): SQLite takes the setting outside a transaction only.
    If it fails (the function raised, BEGIN or COMMIT failed) it is rolled back and the
    connection handed back to the pool (``_Writer``).

    BEGIN IMMEDIATE and COMMIT go straight to pysqlite, as the delivery's statements do
    (``rows.Compiled``): SQLAlchemy's transaction (a RootTransaction, the "begin" and
    "commit" events, its state) cost the writer thread as much as all of a delivery's
    statements. A function that runs Core statements still gets one: Core begins on
    its first statement and joins the transaction begun here (``_sqlite_begin``), and
    it is committed through Core (its "commit" event) instead."""
    conn = writer.connection()
    driver = cast(sqlite3.Connection, conn.connection.driver_connection)
    try:
        info = conn.connection.info
        level = "FULL" if durable else "NORMAL"
        if info.get("synchronous", "FULL") != level:
            driver.execute(f"PRAGMA synchronous={level}")
            info["synchronous"] = level
        _on_writer(driver, "BEGIN IMMEDIATE")
        yield conn, driver
        if conn.in_transaction():
            conn.commit()
        else:
            # pysqlite's commit, as Core's would be: a COMMIT if a transaction is open (a
            # migration's DDL may have ended it already).
            _on_writer(driver, "COMMIT", driver.commit)
    except BaseException:
        with contextlib.suppress(Exception):
            if conn.in_transaction():
                conn.rollback()
            elif driver.in_transaction:
                driver.rollback()
        writer.close()
        raise


def _on_writer(driver: sqlite3.Connection, sql: str, run: Callable[[], object] | None = None) -> None:
    """A statement of the writer's own (BEGIN, SAVEPOINT...; ``run`` instead of it if
    given) straight on pysqlite, its failure raised as SQLAlchemy would
    (OperationalError for "database is locked")."""
    try:
        if run is not None:
            run()
        else:
            driver.execute(sql)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, (), exc, sqlite3.Error) from exc


def _write_together(writer: _Writer, batch: list[_WriteJob]) -> list[_Outcome]:
    outcomes: list[_Outcome] = []
    with _begin(writer, any(job.durable for job in batch)) as (conn, driver):
        try:
            for job in batch:
                # Plain SQL savepoints on the driver: SQLAlchemy's begin_nested() costs
                # several times more, and a function's own begin_nested() nests inside
                # them all the same.
                _on_writer(driver, "SAVEPOINT congthu_job")
                job.notes = conn.info[_NOTES] = set()
                try:
                    result = job.fn(conn, *job.args)
                except Exception as exc:
                    job.notes = set()  # rolled back: nothing to tell
                    # If these fail, the whole batch is run again alone (_write_batch).
                    _on_writer(driver, "ROLLBACK TO SAVEPOINT congthu_job")
                    _on_writer(driver, "RELEASE SAVEPOINT congthu_job")
                    outcomes.append((False, exc))
                else:
                    _on_writer(driver, "RELEASE SAVEPOINT congthu_job")
                    outcomes.append((True, result))
        finally:
            conn.info.pop(_NOTES, None)
    return outcomes


def _write_alone(writer: _Writer, job: _WriteJob) -> _Outcome:
    job.notes = set()
    try:
        with _begin(writer, job.durable) as (conn, _driver):
            notes: set[str] = set()
            conn.info[_NOTES] = notes
            try:
                result = job.fn(conn, *job.args)
            finally:
                conn.info.pop(_NOTES, None)
        job.notes = notes
        return (True, result)
    except Exception as exc:
        return (False, exc)


async def _finish(future: asyncio.Future[T]) -> T:
    """Await work running in a thread (a read transaction, the write slot being taken).
    If the caller is cancelled meanwhile, the work still finishes (it cannot be stopped
    half way) before the cancellation goes on: a read's connection is back in its pool,
    and a write slot taken as the caller was cancelled is known taken, so it is let go
    (``_holding``)."""
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        while not future.done():
            try:
                await asyncio.shield(future)
            except asyncio.CancelledError:
                continue
            except Exception:  # the caller is cancelled: its result does not matter
                break
        raise


def bulk_insert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]],
                constants: dict[str, Any] | None = None, *, staged: bool = False) -> None:
    """Insert many rows of ``table`` in ``conn``'s transaction: executemany straight to the
    driver, one INSERT for the dialect, the columns' bind processors applied once per
    value that needs one (and once for ``constants``, the columns that are the same in
    every row), no per-row SQLAlchemy work (what makes 50,000 mailboxes and people take
    a second, not minutes). Every row has the keys of the first.

    ``staged`` (SQLite): the rows go to a temporary table first, then into ``table`` in
    one INSERT ... SELECT. For a table with an FTS5 index kept by triggers: FTS5 flushes
    its pending terms at every statement's savepoint, so row-by-row inserts write one
    index segment per row (four times slower for 50,000 people)."""
    if not rows:
        return
    dialect = conn.dialect
    keys = list(rows[0])
    columns = keys + list(constants or {})
    quote = dialect.identifier_preparer.quote
    if dialect.paramstyle == "qmark":
        marks = ["?"] * len(columns)
    elif dialect.paramstyle == "numeric_dollar":
        marks = [f"${i}" for i in range(1, len(columns) + 1)]
    elif dialect.paramstyle == "format":
        marks = ["%s"] * len(columns)
    else:  # pragma: no cover - the drivers we ship use one of the above
        raise RuntimeError(f"paramstyle {dialect.paramstyle} not supported")
    names = ", ".join(quote(c) for c in columns)
    staged = staged and dialect.name == "sqlite"
    target = f"temp._bulk_{table.name}" if staged else quote(table.name)
    sql = f"INSERT INTO {target} ({names}) VALUES ({', '.join(marks)})"

    def processor(key: str) -> Any:
        return table.c[key].type._cached_bind_processor(dialect)

    tail = tuple(
        processor(k)(v) if processor(k) is not None and v is not None else v
        for k, v in (constants or {}).items())
    get = itemgetter(*keys)
    processed = [(i, processor(k)) for i, k in enumerate(keys) if processor(k) is not None]
    params: list[tuple[Any, ...]] = (
        [(get(r),) + tail for r in rows] if len(keys) == 1 else [get(r) + tail for r in rows])
    if processed:
        for n, values in enumerate(params):
            mutable = list(values)
            for i, proc in processed:
                if mutable[i] is not None:
                    mutable[i] = proc(mutable[i])
            params[n] = tuple(mutable)
    if not staged:
        conn.exec_driver_sql(sql, params)
        return
    conn.exec_driver_sql(f"CREATE TEMP TABLE _bulk_{table.name} AS SELECT {names} FROM {quote(table.name)} WHERE 0")
    try:
        conn.exec_driver_sql(sql, params)
        conn.exec_driver_sql(f"INSERT INTO {quote(table.name)} ({names}) SELECT {names} FROM {target} ORDER BY rowid")
    finally:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {target}")


def allocate_ids(conn: Connection, table: Table, count: int) -> list[int]:
    """``count`` new primary keys of ``table`` (column ``id``), to insert with and no
    read-back. SQLite: the next ones after the largest, which nobody else can take while
    the write transaction holds the lock (BEGIN IMMEDIATE); they come out consecutive, as
    SQLite would give them. PostgreSQL: from the column's sequence."""
    if count <= 0:
        return []
    if conn.dialect.name == "sqlite":
        top = conn.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()
        return list(range(int(top) + 1, int(top) + 1 + count))
    rows = conn.exec_driver_sql(
        f"SELECT nextval(pg_get_serial_sequence('{table.name}', 'id')) FROM generate_series(1, {int(count)})")
    return [int(r[0]) for r in rows]


def import_all_tables() -> None:
    """Import every package's table module so ``metadata`` knows all tables."""
    import importlib
    import pkgutil

    import congthu

    for module in pkgutil.iter_modules(congthu.__path__):
        if module.ispkg:
            try:
                importlib.import_module(f"congthu.{module.name}.tables")
            except ModuleNotFoundError as exc:
                if exc.name != f"congthu.{module.name}.tables":
                    raise


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Autogenerate's filter: tables and indexes a package makes with hand-written,
    engine-specific DDL in its migration (SQLite FTS5 tables and their shadow tables,
    PostgreSQL trigram indexes) are named in ``metadata.info["unmanaged_tables"]`` and
    ``["unmanaged_indexes"]``, and columns (SQLite generated columns) as
    ``"<table>.<column>"`` in ``["unmanaged_columns"]``; no migration proposes to drop
    them."""
    kinds = {"table": "unmanaged_tables", "index": "unmanaged_indexes", "column": "unmanaged_columns"}
    if type_ == "column":
        name = f"{obj.table.name}.{name}"
    return not (type_ in kinds and reflected and compare_to is None
                and name in metadata.info.get(kinds[type_], ()))


MIGRATIONS = Path(__file__).parent / "migrations"


def _alembic_config(connection: Connection) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


@functools.cache
def migration_heads() -> frozenset[str]:
    """The head revision of every package's branch in ``congthu/migrations``.

    Read once per process, and from the scripts' text rather than through Alembic's
    script directory, whose import (Mako, Pygments) and loading cost every command a
    fifth of a second: the revisions that are no script's ``down_revision``
    (tests/core/test_migrations.py compares the answer with Alembic's). The one
    process-wide cache of this module, allowed beside the rule of no state in module
    globals because it holds nothing of any App, only what the installed migration
    scripts say, which is the same for every App of the process."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (MIGRATIONS / "versions").glob("*.py"):
        for node in ast.parse(script.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.AnnAssign | ast.Assign) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = {t.id for t in targets if isinstance(t, ast.Name)}
                if "revision" in names:
                    revisions.add(ast.literal_eval(node.value))
                elif "down_revision" in names:
                    down = ast.literal_eval(node.value)
                    parents.update([down] if isinstance(down, str) else down or ())
    return frozenset(revisions - parents)


def at_heads(connection: Connection) -> bool:
    """Whether the database records exactly the head of every branch: then Alembic's
    upgrade would change nothing, and ``migrate`` need not load it (every server start
    and command opens an App on a database that is up to date)."""
    if not connection.dialect.has_table(connection, "alembic_version"):
        return False
    recorded = {row[0] for row in connection.exec_driver_sql("SELECT version_num FROM alembic_version")}
    return recorded == migration_heads()


async def migrate(db: Database) -> None:
    """Upgrade the schema to the head of every package's branch (Alembic)."""

    def upgrade(connection: Connection) -> None:
        if at_heads(connection):
            return
        # Alembic reports every plug-in and step at INFO; the server logs its own events.
        logging.getLogger("alembic").setLevel(logging.WARNING)
        from alembic import command

        command.upgrade(_alembic_config(connection), "heads")

    async with _holding(db._write_slot), db._async_writer.begin() as conn:
        await conn.run_sync(upgrade)


@contextlib.asynccontextmanager
async def _holding(lock: threading.Lock) -> AsyncIterator[None]:
    """Hold a thread lock from the event loop (``migrate``'s write slot, held by the
    writer thread's rounds): waited for in a thread, so the loop goes on meanwhile."""
    if not lock.acquire(blocking=False):
        acquired = asyncio.get_running_loop().run_in_executor(None, lock.acquire)
        try:
            await _finish(acquired)
        except asyncio.CancelledError:
            if acquired.done() and not acquired.cancelled() and acquired.exception() is None:
                lock.release()  # taken as the caller was cancelled
            raise
    try:
        yield
    finally:
        lock.release()
