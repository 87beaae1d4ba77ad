"""A client of ClamAV's clamd (Điều 9.9: anti-virus), over its own socket protocol.

``INSTREAM`` (clamd(8)): the command ``zINSTREAM\\0``, then the data in chunks, each
preceded by its length as a 4-byte big-endian integer, and a zero-length chunk to end;
clamd answers one line ``stream: OK``, ``stream: <name> FOUND`` or ``... ERROR`` (for
instance ``INSTREAM size limit exceeded``: the message is larger than clamd's
``StreamMaxLength``). clamd reads the whole message as mail: it decodes the MIME parts
and unpacks archives (zip...) itself.

The address is ``unix:/path/to/clamd.ctl`` or ``host:port``. Every step has a deadline:
a clamd that is down, refuses or hangs raises ``ScannerUnavailable``, never blocks.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass

from congthu.content.errors import ScannerUnavailable

__all__ = ["VirusScan", "instream", "open_connection", "ping"]

# Bytes per INSTREAM chunk.
_CHUNK = 256 * 1024


@dataclass(frozen=True)
class VirusScan:
    """clamd's verdict: ``virus`` is the signature name, or "" when clean."""

    virus: str = ""

    @property
    def clean(self) -> bool:
        return not self.virus


async def open_connection(address: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to ``unix:/path`` or ``host:port`` (an IPv6 host in brackets)."""
    if address.startswith("unix:"):
        return await asyncio.open_unix_connection(address[5:])
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ScannerUnavailable(f"invalid clamd address {address!r}")
    return await asyncio.open_connection(host.strip("[]"), int(port))


async def _exchange(address: str, command: bytes, data: bytes | None, seconds: float) -> str:
    async def run() -> bytes:
        reader, writer = await open_connection(address)
        try:
            writer.write(command)
            if data is not None:
                for start in range(0, len(data), _CHUNK):
                    piece = data[start:start + _CHUNK]
                    writer.write(struct.pack("!L", len(piece)) + piece)
                    await writer.drain()
                writer.write(struct.pack("!L", 0))
            await writer.drain()
            # z-commands end their answer with a NUL byte.
            return await reader.readuntil(b"\0")
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass

    try:
        answer = await asyncio.wait_for(run(), seconds)
    except TimeoutError as exc:
        raise ScannerUnavailable(f"clamd did not answer in {seconds:g} s") from exc
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
        raise ScannerUnavailable(f"clamd unreachable at {address}: {exc}") from exc
    return answer.rstrip(b"\0").decode("utf-8", "replace").strip()


async def ping(address: str, seconds: float = 5.0) -> bool:
    """Whether clamd answers PING with PONG."""
    try:
        return await _exchange(address, b"zPING\0", None, seconds) == "PONG"
    except ScannerUnavailable:
        return False


async def instream(address: str, data: bytes, seconds: float) -> VirusScan:
    """Scan ``data`` (a whole message); raises ``ScannerUnavailable`` when clamd cannot
    give a verdict (down, slow, an ERROR such as a size limit)."""
    answer = await _exchange(address, b"zINSTREAM\0", data, seconds)
    # "stream: OK", "stream: Eicar-Signature FOUND", "INSTREAM size limit exceeded. ERROR"
    verdict = answer.partition(": ")[2] if answer.startswith("stream:") else answer
    if verdict == "OK":
        return VirusScan()
    if verdict.endswith(" FOUND"):
        return VirusScan(verdict[: -len(" FOUND")].strip() or "unknown")
    raise ScannerUnavailable(f"clamd: {answer[:200]}")
