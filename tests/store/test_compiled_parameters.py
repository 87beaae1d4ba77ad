"""``rows.Compiled`` hands the driver the parameters Core would: for every statement the
store compiles once (the writes of a delivery, the small reads, the IN lists), the
values ``Compiled._form`` gives pysqlite are those SQLAlchemy's own execution sends it
(each parameter through the dialect's processing: dates as SQLite's text, booleans as
integers, an IN list's values as its element type's), in the SQL's order."""

from __future__ import annotations

from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import create_engine, event
from sqlalchemy.exc import DBAPIError

from congthu.delegation import access
from congthu.store import delivery, lookup, reading, recent, search, statements
from congthu.store.rows import Compiled

_MODULES: tuple[ModuleType, ...] = (statements, delivery, lookup, reading, recent, search, access)


def _compiled_statements() -> list[tuple[str, Compiled]]:
    found: list[tuple[str, Compiled]] = []
    for module in _MODULES:
        for name, value in vars(module).items():
            if isinstance(value, Compiled):
                found.append((f"{module.__name__}.{name}", value))
            elif isinstance(value, dict):  # one per dialect, or per variant
                found += [(f"{module.__name__}.{name}[{key}]", one) for key, one in value.items()
                          if isinstance(one, Compiled) and key != "postgresql"]
    return found


_STATEMENTS = _compiled_statements()
_WHEN = datetime(2026, 12, 7, 8, 30, 15, 123456, tzinfo=UTC)


def _value(python_type: type, n: int) -> Any:
    if python_type is bool:
        return n % 2 == 0
    if python_type is int:
        return 100 + n
    if python_type is datetime:
        return _WHEN.replace(second=n % 60)
    if python_type is bytes:
        return b"x%d" % n
    return f"gia tri {n}"


def _parameters(compiled: Compiled, dialect: Any) -> dict[str, Any]:
    """A value of its type for every parameter the statement needs (an IN list: four)."""
    form = compiled.statement.compile(dialect=dialect, column_keys=compiled.columns)
    params: dict[str, Any] = {}
    for n, (key, bind) in enumerate(form.binds.items()):
        if not bind.required and not bind.expanding:
            continue  # the statement's own value
        try:
            python_type = bind.type.python_type
        except NotImplementedError:
            python_type = str
        if bind.expanding:
            params[key] = [_value(python_type, n + i) for i in range(4)]
        else:
            params[key] = _value(python_type, n)
    return params


def test_the_store_compiles_its_busy_statements() -> None:
    names = {name for name, _c in _STATEMENTS}
    assert {"congthu.store.statements.INSERT_MESSAGE_WRITE", "congthu.store.delivery.UPSERT_CONTENTS_WRITE[sqlite]",
            "congthu.store.statements.RESERVE_CHECKED_WRITE", "congthu.store.statements.METAS_BY_UIDS"} <= names


@pytest.mark.parametrize("name,compiled", _STATEMENTS, ids=[name for name, _c in _STATEMENTS])
def test_compiled_parameters_are_cores(name: str, compiled: Compiled) -> None:
    engine = create_engine("sqlite://")
    sent: list[tuple[str, Any]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def capture(_conn: Any, _cursor: Any, sql: str, parameters: Any, _context: Any, _many: bool) -> None:
        sent.append((sql, parameters))

    params = _parameters(compiled, engine.dialect)
    with engine.connect() as conn:
        try:  # no tables here: the statement fails after its parameters were sent
            conn.execute(compiled.statement, params)
        except DBAPIError:
            pass
    [(sql, core_args)] = sent
    form, args = compiled._form(engine.dialect, params)
    assert form.sql == sql
    assert args == tuple(core_args)
    engine.dispose()
