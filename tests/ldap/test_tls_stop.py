"""A node's stop with LDAP clients idle over TLS (StartTLS and LDAPS).

Application servers keep pooled LDAP connections open between binds. When the node
drains, each idle one gets the Notice of Disconnection (RFC 4511 section 4.4.1) and is
closed; over TLS the close sends close_notify, and asyncio would then wait up to 30 s for
the client's answering alert, which a pooled connection that reads nothing never sends:
the stop lasted the whole ``server.drain_seconds``. The initiator of a close need not wait
for that alert (RFC 5246 section 7.2.1, RFC 8446 section 6.1), so the server cuts the
connection soon after the notice. Here the drain is 50 s and the test waits 30 s for the
server's thread: the old wait would outlast it.
"""

from __future__ import annotations

import asyncio
import select
import ssl
import threading
from pathlib import Path

from ldap3 import NONE, Connection, Server, Tls

from tests.conftest import ServerThread, make_data_dir

# RFC 4511 section 4.4.1: messageID 0, an ExtendedResponse, resultCode unavailable (52).
NOTICE_ID, UNAVAILABLE = b"\x02\x01\x00\x78", b"\x0a\x01\x34"


def _notice(sock: ssl.SSLSocket) -> bytes:
    readable, _w, _x = select.select([sock], [], [], 20)
    assert readable, "no Notice of Disconnection within 20 s"
    return sock.recv(4096)


def test_stop_does_not_wait_for_idle_tls_clients(tmp_path: Path) -> None:
    data = asyncio.run(make_data_dir(tmp_path / "data", server={"drain_seconds": 50}))
    running = ServerThread(data).start()
    tls = Tls(validate=ssl.CERT_NONE)
    starttls = Connection(Server("127.0.0.1", port=running.port("ldap"), tls=tls, get_info=NONE),
                          receive_timeout=20)
    starttls.open()
    assert starttls.start_tls()
    ldaps = Connection(Server("127.0.0.1", port=running.port("ldaps"), use_ssl=True, tls=tls, get_info=NONE),
                       receive_timeout=20)
    ldaps.open()  # the TLS handshake made; then it waits
    stopping = threading.Thread(target=running.stop)
    stopping.start()
    try:
        for client in (starttls, ldaps):
            notice = _notice(client.socket)
            assert notice.startswith(b"\x30") and NOTICE_ID in notice and UNAVAILABLE in notice, notice
        stopping.join(40)  # ServerThread.stop waits 30 s at most for the server's thread
        assert not running._thread.is_alive(), "the stop waited for the idle TLS clients' close_notify"
    finally:
        for client in (starttls, ldaps):
            client.socket.close()
        stopping.join(60)
