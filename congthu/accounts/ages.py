"""How old each password was at a given moment, for the reports (Điều 13.2: passwords
changed every ``passwords.max_age_days``; ``congthu/reports``).

A plain synchronous function taking a ``Connection`` first, so it joins the caller's
transaction. The moment may be in the past: the password history (the last
``passwords.history`` passwords with the time each was set) tells which password was in
use then.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.engine import Connection

from congthu.accounts.tables import credentials, password_history

__all__ = ["passwords_on_time"]


def passwords_on_time(conn: Connection, at: datetime, max_age_days: int) -> dict[int, bool]:
    """mailbox id -> whether the password in use at ``at`` had been chosen by its owner
    less than ``max_age_days`` before (always true with expiry off), for every mailbox
    with a credential set by then. A password that must still be changed (set by someone
    else, not yet changed) is not on time. Decided in SQL: one row of two integers per
    account, as a province has tens of thousands."""
    cutoff = at - timedelta(days=max_age_days) if max_age_days > 0 else datetime(1900, 1, 1, tzinfo=UTC)
    last = (select(password_history.c.mailbox_id, func.max(password_history.c.set_at).label("set_at"))
            .where(password_history.c.set_at <= at).group_by(password_history.c.mailbox_id).subquery())
    current = credentials.c.changed_at <= at
    on_time = case((current, and_(credentials.c.changed_at > cutoff, credentials.c.must_change.is_(False))),
                   else_=and_(last.c.set_at.is_not(None), last.c.set_at > cutoff))
    query = (select(credentials.c.mailbox_id, case((on_time, 1), else_=0))
             .select_from(credentials.outerjoin(last, last.c.mailbox_id == credentials.c.mailbox_id))
             .where(or_(current, last.c.set_at.is_not(None))))
    return {int(mailbox_id): bool(fresh) for mailbox_id, fresh in conn.execute(query)}
