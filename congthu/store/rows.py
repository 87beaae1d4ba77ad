"""From SQL rows to the store's records, and the ways rows are fetched without SQLAlchemy's
per-statement cost.

``to_mailbox``, ``to_folder``, ``to_meta`` and ``to_content`` turn a row into its record
(``congthu.store.model``): the first three and ``metas_from_driver`` read the columns by
position, in the order of ``statements.MAILBOX_COLUMNS``, ``FOLDER_COLUMNS``,
``CONTENT_COLUMNS`` and ``META_COLUMNS``, so a Core row and a plain tuple of the same
values make the same record. ``Compiled`` runs a Core statement compiled once, straight on
the pysqlite driver (``rows``: the driver's values, for whole folders; ``typed``: the
values Core would give, for the small reads by key; ``changed``, ``insert_many`` and
``insert_returning``: the writes of a delivery); ``driver_rows`` runs a statement built
per call; ``chunks`` bounds IN lists.
"""

from __future__ import annotations

import json
import operator
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, overload

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError

from congthu.store.model import Content, Folder, Mailbox, MessageMeta, utcnow


def aware(value: datetime | None) -> datetime | None:
    # SQLite gives naive datetimes back; everything in the store is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def to_mailbox(row: Sequence[Any]) -> Mailbox:
    """A row of ``statements.MAILBOX_COLUMNS`` (a Core row or ``Compiled.typed``'s tuple)."""
    ident, address, display_name, kind, quota_bytes, used_bytes, status, created, accessed, warned = row
    return Mailbox(ident, address, display_name, kind, quota_bytes, used_bytes, status,
                   aware(created) or utcnow(), aware(accessed), bool(warned))


def to_folder(row: Sequence[Any]) -> Folder:
    """A row of ``statements.FOLDER_COLUMNS`` (a Core row or ``Compiled.typed``'s tuple)."""
    ident, mailbox_id, name, special_use, uidvalidity, uidnext, highestmodseq, subscribed, mailboxid = row
    return Folder(ident, mailbox_id, name, special_use, uidvalidity, uidnext, highestmodseq,
                  bool(subscribed), mailboxid)


def to_meta(row: Any) -> MessageMeta:
    return MessageMeta(
        uid=row.uid, flags=row.flags,
        keywords=tuple(row.keywords.split()) if row.keywords else (),
        size=row.size, internal_date=aware(row.internal_date) or utcnow(),
        modseq=row.modseq, content_id=row.content_id,
    )


def to_metas(rows: Iterable[Any]) -> list[MessageMeta]:
    return [to_meta(r) for r in rows]


_fromisoformat = datetime.fromisoformat


def metas_from_driver(rows: Iterable[Any]) -> list[MessageMeta]:
    """MessageMeta from driver rows of ``statements.META_COLUMNS`` (SQLite gives dates as text)."""
    out: list[MessageMeta] = []
    append = out.append
    for uid, flags, keywords, size, when, modseq, content_id in rows:
        if when.__class__ is str:
            when = _fromisoformat(when)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        append(MessageMeta(uid, flags, tuple(keywords.split()) if keywords else (), size, when,
                           modseq, content_id))
    return out


def to_content(row: Sequence[Any]) -> Content:
    """A row of ``statements.CONTENT_COLUMNS`` (a Core row or ``Compiled.typed``'s tuple)."""
    ident, sha256, size, segments, structure, subject, from_addr, to_addr, cc_addr, sent, message_id, preview = row
    return Content(ident, sha256, size, [(d, n) for d, n in json.loads(segments)], json.loads(structure),
                   subject, from_addr, to_addr, cc_addr, aware(sent), message_id, preview)


@dataclass(frozen=True)
class _Form:
    """A statement's SQL for one dialect (and one length of its expanding parameter)."""

    sql: str
    names: Sequence[str]  # the parameters in the SQL's order ("b_uids_2": an IN list's 2nd)
    # (position in ``names``, the dialect's processing) of the parameters it processes.
    processing: tuple[tuple[int, Callable[[Any], Any]], ...]
    # Parameters the statement holds its own value for (the 1 of "highestmodseq + 1").
    fixed: dict[str, Any]
    # ``names``' values from the parameters at once (C's ``itemgetter``: a delivery's
    # rows have 11 and 19 columns), when there are several and none is fixed or expanded.
    values: Callable[[dict[str, Any]], tuple[Any, ...]] | None = None


class Compiled:
    """A statement compiled once per dialect, its SQL and parameter order from
    SQLAlchemy's compiler (the SQL is written once, in Core). Two ways to run a SELECT
    (or an UPDATE ... RETURNING):

    ``rows``: the rows as the driver gives them (SQLite's dates as text), for the
    queries that may return a whole folder (a SELECT of 100,000 messages);
    ``typed``: the values Core would give (each column's type's result processing: dates,
    booleans) as plain tuples, for the small reads by key on the event loop.

    On SQLite's pysqlite driver both go straight to the driver connection, inside the
    Connection's transaction (begun if it is not, as Core would): no execution context,
    cursor wrapper, result or row objects of SQLAlchemy, which cost several times the
    query itself for a row found by key. A driver error is raised as Core raises it
    (``DBAPIError``: ``OperationalError`` for a busy database). On other drivers (asyncpg
    through ``run_sync``) ``rows`` runs through ``exec_driver_sql`` and ``typed`` is
    Core's own ``execute``.

    An expanding parameter (``IN``) is compiled for lengths rounded up to a power of two,
    the list padded with its last value (the same rows), so a few forms serve every
    length.

    The writes of a delivery, an APPEND, a STORE and an EXPUNGE run the same way on
    SQLite (``changed``: an UPDATE's or a DELETE's count of rows; ``insert_many``: an
    INSERT or UPDATE of many rows, executemany; ``insert_returning``:
    an INSERT ... RETURNING of many rows, a few multi-row statements), and through Core
    on other drivers. Each costs a tenth of Core's execute, which builds an execution
    context, a cursor wrapper and a result per statement (in the server some 40 us of the
    writer thread's hold of the interpreter lock per statement, four per delivery).
    ``columns``: an INSERT's columns, the keys of every row given (as Core's
    ``column_keys``).
    """

    def __init__(self, statement: Any, *, columns: Sequence[str] | None = None) -> None:
        self.statement = statement
        self.columns = list(columns) if columns is not None else None
        self._forms: dict[tuple[str, int], _Form] = {}
        self._many: dict[tuple[str, int], str] = {}  # insert_returning's SQL for n rows
        self._compiled: dict[str, Any] = {}
        self._expanding: dict[str, str | None] = {}
        self._results: dict[str, list[tuple[int, Callable[[Any], Any]]]] = {}

    def _form(self, dialect: Dialect, params: dict[str, Any]) -> tuple[_Form, tuple[Any, ...]]:
        name = dialect.name
        compiled = self._compiled.get(name)
        if compiled is None:
            compiled = self._compiled[name] = self.statement.compile(dialect=dialect, column_keys=self.columns)
            expanding = [b.key for b in compiled.post_compile_params]
            if len(expanding) > 1:
                raise ValueError("Compiled: at most one expanding parameter")
            self._expanding[name] = expanding[0] if expanding else None
        expanding_key = self._expanding[name]
        size = 0
        if expanding_key is not None:
            values = list(params[expanding_key])
            size = _bucket(len(values))
            params = {**params, expanding_key: values + values[-1:] * (size - len(values))}
        form = self._forms.get((name, size))
        if form is None:
            if expanding_key is None:
                sql, names = str(compiled), compiled.positiontup
            else:
                state = compiled.construct_expanded_state(params)
                sql, names = state.statement, state.positiontup
            names = names or ()
            binds = {}
            fixed = {}
            for key, bind in compiled.binds.items():
                process = bind.type.dialect_impl(dialect).bind_processor(dialect)
                if process is not None:
                    binds[key] = process
                if not bind.required and not bind.expanding:
                    fixed[key] = bind.effective_value
            # An expanded name ("b_uids_3") is processed as its list ("b_uids") is.
            processing = tuple((i, binds[base]) for i, n in enumerate(names)
                               if (base := n if n in compiled.binds else expanding_key) in binds)
            getter = operator.itemgetter(*names) if len(names) > 1 and not fixed and expanding_key is None else None
            form = self._forms[(name, size)] = _Form(sql, names, processing, fixed, getter)
        fixed = form.fixed
        if form.values is not None:
            args = form.values(params)
        elif expanding_key is None:
            if fixed:
                args = tuple(params[n] if n in params else fixed[n] for n in form.names)
            else:
                args = tuple(params[n] for n in form.names)
        else:
            # "b_uids_3" is the third value of "b_uids" (SQLAlchemy's expanded names).
            listed = params[expanding_key]
            cut = len(expanding_key) + 1
            args = tuple(params[n] if n in params else fixed[n] if n in fixed else listed[int(n[cut:]) - 1]
                         for n in form.names)
        if form.processing:
            processed = list(args)
            for i, process in form.processing:
                processed[i] = process(processed[i])
            args = tuple(processed)
        return form, args

    def rows(self, conn: Connection, **params: Any) -> Sequence[Any]:
        """The rows, as the driver gives them."""
        form, args = self._form(conn.dialect, params)
        driver = conn.connection.driver_connection
        if driver.__class__ is sqlite3.Connection:
            return _on_driver(conn, driver, form.sql, args)
        return conn.exec_driver_sql(form.sql, args).all()

    def typed(self, conn: Connection, **params: Any) -> Sequence[Sequence[Any]]:
        """The rows with Core's values (its result processing of each column's type)."""
        driver = conn.connection.driver_connection
        if driver.__class__ is not sqlite3.Connection:
            return conn.execute(self.statement, params).all()
        dialect = conn.dialect
        form, args = self._form(dialect, params)
        found = _on_driver(conn, driver, form.sql, args)
        processors = self._results.get(dialect.name)
        if processors is None:
            processors = self._results[dialect.name] = _result_processors(self.statement, dialect)
        if not processors or not found:
            return found
        out = []
        for row in found:
            values = list(row)
            for i, process in processors:
                values[i] = process(values[i])
            out.append(tuple(values))
        return out

    def first(self, conn: Connection, **params: Any) -> Sequence[Any] | None:
        """The first of ``typed``'s rows, or None."""
        found = self.typed(conn, **params)
        return found[0] if found else None

    def changed(self, conn: Connection, **params: Any) -> int:
        """Run an UPDATE (or DELETE) without RETURNING: how many rows it changed."""
        driver = conn.connection.driver_connection
        if driver.__class__ is not sqlite3.Connection:
            return int(conn.execute(self.statement, params).rowcount)
        form, args = self._form(conn.dialect, params)
        return int(_on_driver(conn, driver, form.sql, args, rows=False))

    def insert_many(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        """Run an INSERT (or an UPDATE) without RETURNING for each of ``rows`` (one
        executemany)."""
        if not rows:
            return
        driver = conn.connection.driver_connection
        if driver.__class__ is not sqlite3.Connection:
            conn.execute(self.statement, list(rows))
            return
        dialect = conn.dialect
        form, first = self._form(dialect, rows[0])
        args = [first] + [self._form(dialect, row)[1] for row in rows[1:]]
        if not conn.in_transaction() and not driver.in_transaction:  # see _on_driver
            conn.begin()
        try:
            driver.executemany(form.sql, args)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(form.sql, args, exc, sqlite3.Error) from exc

    def insert_returning(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> list[Sequence[Any]]:
        """Run an INSERT ... RETURNING (an upsert's too) for each of ``rows``; the rows it
        returns, as the driver gives them (in no particular order). On SQLite in
        multi-row statements of power-of-two sizes (13 rows: 8, 4 and 1), as Core's
        "insertmanyvalues" does, so a few forms serve every count and a batch takes few
        statements: the writer thread waits for the interpreter lock after each."""
        if not rows:
            return []
        driver = conn.connection.driver_connection
        if driver.__class__ is not sqlite3.Connection:
            return list(conn.execute(self.statement, list(rows)).all())
        dialect = conn.dialect
        out: list[Sequence[Any]] = []
        start = 0
        while start < len(rows):
            count = min(1 << ((len(rows) - start).bit_length() - 1), _MANY_ROWS)
            form, args = self._form(dialect, rows[start])
            sql = form.sql if count == 1 else self._many_sql(dialect, form, count)
            for row in rows[start + 1:start + count]:
                args += self._form(dialect, row)[1]
            out += _on_driver(conn, driver, sql, args)
            start += count
        return out

    def _many_sql(self, dialect: Dialect, form: _Form, count: int) -> str:
        """The single-row INSERT's SQL with ``count`` groups of VALUES (SQLite's qmark)."""
        key = (dialect.name, count)
        sql = self._many.get(key)
        if sql is None:
            group = "(" + ", ".join("?" * len(form.names)) + ")"
            if dialect.paramstyle != "qmark" or form.sql.count(f" VALUES {group}") != 1:
                raise ValueError("Compiled: not a single-row INSERT whose every parameter is a value")
            sql = self._many[key] = form.sql.replace(f" VALUES {group}", " VALUES " + ", ".join([group] * count))
        return sql


# Rows of one statement of ``Compiled.insert_returning``, at most (SQLite allows 32,766
# parameters a statement: 256 rows of 20 columns are 5,120).
_MANY_ROWS = 256


def _bucket(n: int) -> int:
    # The next power of two: the forms an expanding parameter is compiled in.
    return 1 << (n - 1).bit_length() if n > 1 else n


def _result_processors(statement: Any, dialect: Dialect) -> list[tuple[int, Callable[[Any], Any]]]:
    """(position, processing) of the columns whose values Core processes on this dialect
    (SQLite: dates from text, booleans from integers), as its result rows would."""
    out = []
    for i, column in enumerate(statement.exported_columns):  # a SELECT's, or RETURNING's
        process = column.type.dialect_impl(dialect).result_processor(dialect, None)
        if process is not None:
            out.append((i, process))
    return out


@overload
def _on_driver(conn: Connection, driver: sqlite3.Connection, sql: str, args: tuple[Any, ...]) -> list[Any]: ...
@overload
def _on_driver(conn: Connection, driver: sqlite3.Connection, sql: str, args: tuple[Any, ...], *,
               rows: Literal[False]) -> int: ...
def _on_driver(conn: Connection, driver: sqlite3.Connection, sql: str, args: tuple[Any, ...], *,
               rows: bool = True) -> list[Any] | int:
    """Run SQL on pysqlite's connection inside ``conn``'s transaction: its rows, or
    (``rows=False``) how many rows it changed."""
    # As Core's autobegin would (the read is one snapshot with the others), unless the
    # transaction was begun on the driver (the writer thread's, ``db._begin``).
    if not conn.in_transaction() and not driver.in_transaction:
        conn.begin()
    try:
        cursor = driver.execute(sql, args)
        return cursor.fetchall() if rows else cursor.rowcount
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, args, exc, sqlite3.Error) from exc


def driver_rows(conn: Connection, statement: Any) -> Sequence[Any]:
    """Rows of a statement built per call, as the driver gives them (no per-row
    processing by SQLAlchemy: a search may return a whole folder)."""
    form = statement.compile(dialect=conn.dialect)
    names = form.positiontup
    args: Any = tuple(form.params[n] for n in names) if names is not None else form.params
    return conn.exec_driver_sql(str(form), args).all()


def chunks(values: Sequence[int], size: int = 500) -> Iterator[Sequence[int]]:
    """Bounded IN lists (SQLite allows 32,766 parameters a statement)."""
    for i in range(0, len(values), size):
        yield values[i:i + size]
