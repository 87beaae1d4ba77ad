"""A TCP listener shared by the line protocols we implement ourselves (IMAP, POP3, LDAP),
and the connection caps every listener applies.

``TCPService`` accepts connections (implicit TLS if given a context), hands each to an
async handler, counts them for /metrics, and on stop closes the listener, asks open
sessions to finish (``stopping`` is set) and cancels those that do not within a grace
period. One bad client only ever ends its own task.

``ConnectionLimiter`` caps the connections open at once on one listener, per client
address and in all (the ``[connections]`` settings). ``TCPService`` applies it itself;
the SMTP listeners (aiosmtpd protocols) and the HTTP listeners (uvicorn protocols) call
``acquire`` when a connection is made and ``release`` when it is lost. A client over a
cap gets its protocol's "try again later" and is disconnected, so one address cannot
take every connection a server can hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from congthu import metrics
from congthu.config.settings import Settings
from congthu.log import event

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def client_key(peername: Any) -> str:
    """The unit a per-address cap counts, from a transport's ``peername``: the IPv4
    address, or the /64 network of an IPv6 one (one subscriber's share, which an
    attacker can fill with addresses at will); an IPv4-mapped IPv6 address is its IPv4."""
    host = peername[0] if isinstance(peername, tuple) and peername else str(peername or "")
    try:
        address = ipaddress.ip_address(str(host).split("%", 1)[0])
    except ValueError:
        return str(host)  # a Unix socket or something unknown: counted as itself
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class ConnectionLimiter:
    """The connections open at once on one listener: at most ``per_address`` from one
    client (``client_key``) and ``total`` in all."""

    def __init__(self, name: str, per_address: int, total: int) -> None:
        self.name = name
        self.per_address, self.total = per_address, total
        self.open: Counter[str] = Counter()
        self.count = 0

    @classmethod
    def for_door(cls, settings: Settings, door: str, name: str = "") -> ConnectionLimiter:
        """The caps of ``door`` ("mx", "submission", "imap", "pop3", "http") from
        ``[connections]``, for the listener ``name`` (metrics label; the door if empty)."""
        caps = settings.connections
        return cls(name or door, getattr(caps, f"{door}_per_address"), getattr(caps, f"{door}_total"))

    def acquire(self, peername: Any) -> bool:
        """Count a new connection from ``peername``; False (and nothing counted) if it
        would pass a cap: the caller refuses it and must not call ``release``."""
        key = client_key(peername)
        if self.count >= self.total:
            reason = "total"
        elif self.open[key] >= self.per_address:
            reason = "per_address"
        else:
            self.open[key] += 1
            self.count += 1
            return True
        metrics.connections_refused.labels(self.name, reason).inc()
        event("connection.refused", service=self.name, peer=key, reason=reason)
        return False

    def release(self, peername: Any) -> None:
        """A connection counted by ``acquire`` has ended."""
        key = client_key(peername)
        if self.open[key] <= 1:
            self.open.pop(key, None)
        else:
            self.open[key] -= 1
        self.count = max(0, self.count - 1)


class TCPService:
    def __init__(
        self, name: str, host: str, port: int, handler: Handler,
        ssl_context: ssl.SSLContext | None = None, *, limit: int = 64 * 1024,
        stop_grace: float = 5.0, limiter: ConnectionLimiter | None = None, refusal: bytes = b"",
    ) -> None:
        """``limiter`` caps the connections (none if None); a connection over a cap is
        sent ``refusal`` (the protocol's "try again later" line) and closed."""
        self.name, self.host, self.port = name, host, port
        self.handler = handler
        self.ssl_context = ssl_context
        self.limit = limit
        self.stop_grace = stop_grace
        self.limiter, self.refusal = limiter, refusal
        self.stopping = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, self.host, self.port, ssl=self.ssl_context, limit=self.limit,
            reuse_address=True, backlog=1024,
            ssl_handshake_timeout=30 if self.ssl_context else None,
        )
        if self.port == 0:  # tests ask for any free port
            self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        if self.limiter is not None and not self.limiter.acquire(peer):
            await self._refuse(writer)
            return
        try:
            await self._session(reader, writer)
        finally:
            if self.limiter is not None:
                self.limiter.release(peer)

    async def _refuse(self, writer: asyncio.StreamWriter) -> None:
        """Say "try again later" (never waiting on the client for long) and close."""
        with contextlib.suppress(Exception):
            if self.refusal:
                writer.write(self.refusal)
                await asyncio.wait_for(writer.drain(), 5)
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), 2)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        metrics.connections.labels(self.name).inc()
        metrics.open_connections.labels(self.name).inc()
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, TimeoutError):
            pass
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # a bug in one session must not take the server down
            event(f"{self.name}.session_error", error=repr(exc),
                  peer=str(writer.get_extra_info("peername")))
        finally:
            metrics.open_connections.labels(self.name).dec()
            self._sessions.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 2)

    async def stop(self) -> None:
        self.stopping.set()
        if self._server is not None:
            self._server.close()
        if self._sessions:
            _done, pending = await asyncio.wait(set(self._sessions), timeout=self.stop_grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=2)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
