"""The change feed crosses processes on PostgreSQL (LISTEN/NOTIFY): a session on one
node hears of a delivery made by another node."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from congthu.app import App
from tests.conftest import make_data_dir

DELIVER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from congthu.app import App

    async def main():
        app = await App.open(Path(sys.argv[1]))
        await app.hub.listen_postgres(app.settings.database.url)
        mailbox = await app.store.get_mailbox("nghe@soctrang.gov.vn")
        [result] = await app.store.deliver(b"Subject: tu nut khac\\r\\n\\r\\nxin chao\\r\\n", [mailbox.id])
        assert result.ok
        await app.close()

    asyncio.run(main())
    """
)


async def test_delivery_on_another_node_wakes_a_watcher(tmp_path: Path, postgres: object) -> None:
    url = postgres.create_database()  # type: ignore[attr-defined]
    node_a = await make_data_dir(tmp_path / "a", database={"url": url})
    node_b = await make_data_dir(tmp_path / "b", database={"url": url})
    app = await App.open(node_a)
    try:
        await app.hub.listen_postgres(url)
        mailbox = await app.store.create_mailbox("nghe@soctrang.gov.vn")
        inbox = await app.store.get_folder(mailbox.id, "INBOX")
        assert inbox is not None
        with app.hub.watching(inbox.id) as watch:
            proc = await __import__("asyncio").to_thread(
                subprocess.run, [sys.executable, "-c", DELIVER, str(node_b)],
                capture_output=True, text=True, timeout=120)
            assert proc.returncode == 0, proc.stderr
            assert await watch.wait(10), "no notification from the other node"
            changed, _gone, _highest = await app.store.changes_since(inbox.id, inbox.highestmodseq)
            assert [m.uid for m in changed] == [1]
    finally:
        await app.close()
