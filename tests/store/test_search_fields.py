"""Search of one folded header field in SQL (``MailStore.search_field``, migration
store_0004), on SQLite and on a real PostgreSQL: subject, from, to and cc, without regard
to accents or case, terms the trigram index serves and shorter ones, and contents stored
before the upgrade, filled by the migration from their decoded columns."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from sqlalchemy import inspect, text, update
from sqlalchemy.engine import Connection

from congthu.app import App
from congthu.db import _alembic_config
from congthu.store import search
from congthu.store.tables import contents
from congthu.text import fold

migration = importlib.import_module("congthu.migrations.versions.store_0004_contents_folded_subject_from_to_cc")


def _message(subject: str, sender: str, to: str, cc: str | None = None, body: str = "Kính gửi các đơn vị.") -> bytes:
    return (f"From: {sender}\r\nTo: {to}\r\n" + (f"Cc: {cc}\r\n" if cc else "")
            + f"Subject: {subject}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").encode()


MESSAGES = [
    # 1
    _message("Đề án chuyển đổi số năm 2026", "Nguyễn Thị Ánh Tuyết <ntatuyet@soctrang.gov.vn>",
             "Phòng Tổng hợp <pth@soctrang.gov.vn>", cc="Lê Đức Thọ <ldtho@soctrang.gov.vn>"),
    # 2: the subject in RFC 2047 encoded words (B then Q), a reply
    _message("Re: =?utf-8?b?xJDhu4Egw6FuIA==?= =?utf-8?q?chuy=E1=BB=83n_=C4=91=E1=BB=95i_s=E1=BB=91?=",
             "=?utf-8?b?VHLhuqduIFbEg24gxJDDtG5n?= <tvdong@soctrang.gov.vn>",
             "Nguyễn Thị Ánh Tuyết <ntatuyet@soctrang.gov.vn>"),
    # 3: the words only in the body
    _message("Lịch họp giao ban", "Văn phòng <vp@soctrang.gov.vn>", "pth@soctrang.gov.vn",
             cc="Trần Văn Đông <tvdong@soctrang.gov.vn>, Lê Đức Thọ <ldtho@soctrang.gov.vn>",
             body="Trao đổi về đề án chuyển đổi số."),
]


async def _deliver_all(app: App) -> tuple[int, int]:
    store = app.store
    box = (await store.create_mailbox("ntbinh@soctrang.gov.vn", quota_bytes=10**9)).id
    for raw in MESSAGES:
        await store.deliver(raw, [box])
    await store.deliver(MESSAGES[0], [box], folder="Archive")  # the same content in another folder
    inbox = await store.get_folder(box, "INBOX")
    archive = await store.get_folder(box, "Archive")
    assert inbox is not None and archive is not None
    return inbox.id, archive.id


async def _check_fields(app: App, inbox: int) -> None:
    async def find(field: str, *terms: str) -> list[int]:
        return await app.store.search_field(inbox, field, [fold(t) for t in terms])

    assert await find("subject", "de an chuyen doi so") == [1, 2]
    assert await find("subject", "ĐỀ ÁN CHUYỂN ĐỔI SỐ") == [1, 2]
    assert await find("subject", "re: đề án") == [2]  # encoded words decoded and joined
    assert await find("subject", "xJDhu4") == [] and await find("subject", "utf-8") == []
    assert await find("subject", "so", "26") == [1]  # short terms: no trigram
    assert await find("subject", "giao ban") == [3]
    assert await find("subject", "khong co") == []
    assert await find("from", "nguyen thi anh tuyet") == [1]
    assert await find("from", "Trần Văn Đông") == [2]  # an encoded display name
    assert await find("from", "tvdong@soctrang") == [2]
    assert await find("from", "vp@") == [3]
    assert await find("to", "anh tuyet") == [2]
    assert await find("to", "pth@") == [1, 3]
    assert await find("to", "ldtho") == []
    assert await find("cc", "le duc tho") == [1, 3]
    assert await find("cc", "đông") == [3]
    assert await find("cc", "le") == [1, 3]
    assert await find("cc", "tuyet") == []
    assert await find("cc") == [1, 2, 3] and await find("cc", "") == [1, 2, 3]


async def test_each_field_folded_in_sql(any_app: App) -> None:
    inbox, archive = await _deliver_all(any_app)
    await _check_fields(any_app, inbox)
    # Only the folder asked for.
    assert await any_app.store.search_field(archive, "subject", ["de an"]) == [1]
    assert await any_app.store.search_field(archive, "from", ["tvdong"]) == []
    with pytest.raises(ValueError):
        await any_app.store.search_field(inbox, "bcc", ["x"])
    if any_app.db.is_sqlite:
        # The index's candidates are looked up on the messages' content index.
        query = search.field_query(True, inbox, "from", ["tvdong"], candidates=[2, 3])
        def check_plan(conn: Connection) -> None:
            compiled = query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
            plan = " ".join(str(r[3]) for r in conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
            assert "ix_messages_content_folder" in plan, plan
            assert [r[0] for r in conn.execute(query)] == [2]

        await any_app.db.run_read(check_plan)


async def test_contents_stored_before_the_upgrade(any_app: App) -> None:
    """Down to store_0003 (the key columns gone, as a database made before them), then
    up again: the migration fills them from the decoded columns."""
    inbox, _ = await _deliver_all(any_app)

    def migrate(target: str) -> Any:
        def run(connection: Any) -> None:
            from alembic import command

            if target == "down":
                command.downgrade(_alembic_config(connection), "store_0003")
            else:
                command.upgrade(_alembic_config(connection), "heads")
        return run

    def down(conn: Connection) -> None:
        migrate("down")(conn)
        columns = {col["name"] for col in inspect(conn).get_columns("contents")}
        assert "subject_key" not in columns and "subject" in columns

    await any_app.db.run_write(down)
    await any_app.db.run_write(migrate("up"))
    await _check_fields(any_app, inbox)

    def check(conn: Connection) -> None:
        keys = conn.execute(contents.select().with_only_columns(contents.c.from_key)
                            .order_by(contents.c.id)).scalars().all()
        assert keys[0] == "nguyen thi anh tuyet <ntatuyet@soctrang.gov.vn>"
        if any_app.db.is_sqlite:
            # The columns were added without copying the table: the FTS5 triggers remain.
            conn.execute(text("INSERT INTO contents_fts(contents_fts) VALUES ('integrity-check')"))

    await any_app.db.run_read(check)
    # Delivery after the upgrade keeps the text index in step.
    box = await any_app.store.get_mailbox("ntbinh@soctrang.gov.vn")
    assert box is not None
    await any_app.store.deliver(_message("Tuyển dụng viên chức", "tccb@soctrang.gov.vn", "pth@soctrang.gov.vn"),
                                [box.id])
    assert await any_app.store.search_text(inbox, ["tuyen dung vien chuc"]) == [4]
    assert await any_app.store.search_field(inbox, "subject", ["tuyen dung"]) == [4]


async def test_fill_in_batches(any_app: App) -> None:
    inbox, _ = await _deliver_all(any_app)
    await any_app.db.run_write(lambda conn: conn.execute(
        update(contents).values(subject_key="", from_key="", to_key="", cc_key="")))
    assert await any_app.store.search_field(inbox, "subject", ["de an"]) == []
    assert await any_app.db.run_write(lambda conn: migration.fill_keys(conn, batch=2)) == 3
    await _check_fields(any_app, inbox)
