"""COMPRESS (RFC 4978): DEFLATE compression of the connection, both ways, for clients on
slow links (phones; Thunderbird and K-9/FairEmail ask for it when offered).

Valid once authenticated (section 3: "valid in the authenticated and selected states");
the tagged OK is the last thing sent uncompressed, then ``wire.Connection.start_deflate``
switches both directions. A second COMPRESS is NO [COMPRESSIONACTIVE] (section 3),
whatever its mechanism (as Dovecot); a mechanism other than DEFLATE is BAD. Inflating the client's input is bounded
(``wire.InflatingReader``): the line and literal limits hold as for plain input.
"""

from __future__ import annotations

from congthu.imap.errors import Answered, bad, no
from congthu.imap.parser import Command
from congthu.imap.session import Result, Session


async def compress(s: Session, cmd: Command) -> Result:
    """RFC 4978 section 3."""
    if s.conn.compressed:  # before the mechanism is looked at, as Dovecot
        raise no("Kết nối đã được nén / DEFLATE is already active", "COMPRESSIONACTIVE")
    if cmd.args["mechanism"] != "DEFLATE":
        raise bad(f"Cách nén không hỗ trợ / unknown compression mechanism {cmd.args['mechanism'][:30]!r}")
    await s.send(f"{cmd.tag} OK DEFLATE đã bật / DEFLATE active\r\n".encode())
    await s.conn.flush()
    s.conn.start_deflate()
    raise Answered()


HANDLERS = {"COMPRESS": compress}
