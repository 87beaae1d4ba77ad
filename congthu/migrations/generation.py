"""The directory's generation for migrations: triggers that add one to ``dir_generation``
(``congthu.directory.tables``) at every change of a table the LDAP tree is made of, so
that the tree is rebuilt when the directory changed, whatever path changed it (issue 16).

Each owner counts its own tables in its own migration (directory_0003: the directory's;
accounts_0003: the roles and the service accounts; store_0013: the mailboxes'
addresses). SQLite:
row triggers (the only kind it has), fired for an update only when a watched column's
value differs; PostgreSQL: statement triggers calling ``dir_generation_bump()``, so that
an import of thousands of rows counts once a statement. A body naming ``dir_generation``
is resolved when it runs, so the order the branches are upgraded in does not matter.

A batch ALTER of a watched table on SQLite (copy and rename) drops its triggers: such a
migration must call ``count_changes`` again. Migrations call these functions, so what
they create must not change: different triggers are a new function.
"""

from __future__ import annotations

from alembic import op

BUMP = "UPDATE dir_generation SET value = value + 1"
PG_FUNCTION = "dir_generation_bump"
VERBS = ("INSERT", "UPDATE", "DELETE")


def _sqlite_name(table: str, verb: str) -> str:
    return f"dir_generation_{table}_{verb.lower()}"


def count_changes(table: str, columns: tuple[str, ...] | None = None) -> None:
    """Count every insert and delete of ``table``, and every update (of ``columns``
    only, when given)."""
    update = "UPDATE" if columns is None else f"UPDATE OF {', '.join(columns)}"
    if op.get_bind().dialect.name == "sqlite":
        # Named in the SET clause is not enough: a watched value must differ.
        changed = "" if columns is None else " WHEN " + " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in columns)
        for verb in VERBS:
            event, when = (update, changed) if verb == "UPDATE" else (verb, "")
            op.execute(f"CREATE TRIGGER {_sqlite_name(table, verb)} AFTER {event} ON {table}{when} "
                       f"BEGIN {BUMP}; END")
        return
    op.execute(f"CREATE OR REPLACE FUNCTION {PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS "
               f"$$ BEGIN {BUMP}; RETURN NULL; END $$")
    op.execute(f"CREATE TRIGGER {PG_FUNCTION} AFTER INSERT OR {update} OR DELETE ON {table} "
               f"FOR EACH STATEMENT EXECUTE FUNCTION {PG_FUNCTION}()")


def uncount_changes(table: str) -> None:
    """Drop the triggers of ``count_changes`` on ``table`` (not the PostgreSQL function,
    which other owners' triggers call: the directory's downgrade drops it)."""
    if op.get_bind().dialect.name == "sqlite":
        for verb in VERBS:
            op.execute(f"DROP TRIGGER IF EXISTS {_sqlite_name(table, verb)}")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {PG_FUNCTION} ON {table}")
