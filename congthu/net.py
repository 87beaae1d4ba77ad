"""A TCP listener shared by the line protocols we implement ourselves (IMAP, POP3, LDAP),
and the connection caps every listener applies.

``TCPService`` accepts connections (implicit TLS if given a context), hands each to an
async handler, counts them for /metrics, and on stop closes the listener, asks open
sessions to finish (``stopping`` is set) and cancels those that do not within a grace
period (``server.drain_seconds`` for the doors). One bad client only ever ends its own task.

Draining is the same on every door we serve ourselves (``Stopping``, the listener's
``stopping`` event): a session waiting for its client's next command is told at once
(IMAP ``* BYE``, POP3 ``-ERR [SYS/TEMP]``, LDAP's Notice of Disconnection), a command
under way finishes and the session ends after it.

``ConnectionLimiter`` caps the connections open at once on one listener, per client
address and in all (the ``[connections]`` settings). ``TCPService`` applies it itself;
the SMTP listeners (aiosmtpd protocols) and the HTTP listeners (uvicorn protocols) call
``acquire`` when a connection is made and ``release`` when it is lost. A client over a
cap gets its protocol's "try again later" and is disconnected, so one address cannot
take every connection a server can hold.

``door_listeners`` makes the two listeners of a door we serve ourselves (``listen.pop3``
and ``listen.pop3s``, ``listen.ldap`` and ``listen.ldaps``: the first with a STARTTLS-like
upgrade, the second with implicit TLS), and ``StreamWire`` is what those doors' ``wire.py``
share: the client's address, waiting for input until a deadline or the server's stop,
writing with a deadline, and the switch to TLS on the same connection.

Behind a TCP load balancer, a listener named in ``proxy.listeners`` reads the PROXY
protocol header of each connection before its door does (``congthu.proxyproto.gated``:
``TCPService`` here, and the SMTP and HTTP listeners), and the client's address it
gives becomes the connection's peer for everything above.

Listening sockets: with several worker processes (``congthu.workers``) the supervisor
binds each worker's own socket of every listener (``bind_listener`` with SO_REUSEPORT)
and hands it down (the ``CONGTHU_LISTEN_FDS`` environment variable); a service takes its
socket with ``inherited_listener`` (``TCPService`` does; the SMTP and HTTP listeners too)
and binds one itself only when it was given none (a single process, the tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import ipaddress
import json
import os
import socket
import ssl
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from congthu import metrics
from congthu.config.settings import Settings
from congthu.log import event
from congthu.proxyproto import gated

if TYPE_CHECKING:
    from congthu.app import App

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
# One connection of a door: (reader, writer, the listener's stopping event, implicit TLS).
DoorSession = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "Stopping", bool], Awaitable[None]]
T = TypeVar("T")

# The listening sockets a worker process was handed: [[host, port, fd], ...] as JSON.
LISTEN_FDS_ENV = "CONGTHU_LISTEN_FDS"
LISTEN_BACKLOG = 1024


def bind_listener(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A listening TCP socket on ``host`` (an address or name; its first address) and
    ``port``, as asyncio's ``create_server`` binds one (SO_REUSEADDR, IPV6_V6ONLY for an
    IPv6 address); an empty host is every address of both families (``::`` dual stack, or
    ``0.0.0.0`` without IPv6). ``reuse_port``: SO_REUSEPORT, one of a group of sockets on
    the same address among which the kernel spreads new connections (one per worker).
    Raises OSError (address in use...)."""
    address: Any
    if host in ("", "*"):
        try:
            sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        except OSError:
            family, address = socket.AF_INET, ("0.0.0.0", port)  # noqa: S104 - asked for every address
        else:
            sock.close()
            family, address = socket.AF_INET6, ("::", port)
        dual = family == socket.AF_INET6
    else:
        info = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
        family, _type, _proto, _name, address = info[0]
        dual = False
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 if dual else 1)
        sock.bind(address)
        sock.listen(LISTEN_BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class InheritedListeners:
    """The listening sockets this process was handed by its supervisor (named in
    ``CONGTHU_LISTEN_FDS``, as systemd names its sockets in ``LISTEN_FDS``): state of the
    process, like its file descriptors, not of an App. Each is taken once."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.fds: dict[tuple[str, int], int] = {
            (str(host), int(port)): int(fd) for host, port, fd in json.loads(env.get(LISTEN_FDS_ENV) or "[]")}
        self.taken: list[tuple[str, int]] = []

    def take(self, host: str, port: int) -> socket.socket | None:
        fd = self.fds.pop((host, port), None)
        if fd is None:
            return None
        self.taken.append((host, port))
        sock = socket.socket(fileno=fd)
        sock.setblocking(False)
        return sock

    def close_untaken(self) -> None:
        """Close the sockets no service took (a listener switched off in this process)."""
        for fd in self.fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds.clear()


@functools.cache
def inherited_listeners() -> InheritedListeners:
    """This process's ``InheritedListeners`` (read from the environment once)."""
    return InheritedListeners()


def inherited_listener(host: str, port: int) -> socket.socket | None:
    """The listening socket for (``host``, ``port``) this worker process was handed by
    the supervisor, or None (then the service binds its own, as a single process does)."""
    if not port:
        return None
    return inherited_listeners().take(host, port)


def address_unit(host: str) -> str | None:
    """The unit a client address is counted by (connection caps here, password guessing
    in ``accounts.lockout``): the IPv4 address, or the /64 network of an IPv6 one (one
    subscriber's share, which an attacker can fill with addresses at will); an
    IPv4-mapped IPv6 address is its IPv4. None if ``host`` is not an IP address."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def client_key(peername: Any) -> str:
    """The unit a per-address cap counts, from a transport's ``peername``
    (``address_unit``)."""
    host = str(peername[0] if isinstance(peername, tuple) and peername else peername or "")
    unit = address_unit(host)
    return host if unit is None else unit  # a Unix socket or something unknown: counted as itself


# Client addresses whose ``client_key`` a limiter remembers (a client that reconnects
# often, imaptest's or a webmail's, is parsed once, not twice per connection).
KEYS_KEPT = 4096


class ConnectionLimiter:
    """The connections open at once on one listener: at most ``per_address`` from one
    client (``client_key``) and ``total`` in all."""

    def __init__(self, name: str, per_address: int, total: int) -> None:
        self.name = name
        self.per_address, self.total = per_address, total
        self.open: Counter[str] = Counter()
        self.count = 0
        # host -> its client_key (bounded: emptied when full)
        self._keys: dict[str, str] = {}

    def _key(self, peername: Any) -> str:
        if not (isinstance(peername, tuple) and peername and isinstance(peername[0], str)):
            return client_key(peername)
        key = self._keys.get(peername[0])
        if key is None:
            key = client_key(peername)
            if len(self._keys) >= KEYS_KEPT:
                self._keys.clear()
            self._keys[peername[0]] = key
        return key

    @classmethod
    def for_door(cls, settings: Settings, door: str, name: str = "") -> ConnectionLimiter:
        """The caps of ``door`` ("mx", "submission", "imap", "pop3", "http") from
        ``[connections]``, for the listener ``name`` (metrics label; the door if empty)."""
        caps = settings.connections
        return cls(name or door, getattr(caps, f"{door}_per_address"), getattr(caps, f"{door}_total"))

    def acquire(self, peername: Any) -> bool:
        """Count a new connection from ``peername``; False (and nothing counted) if it
        would pass a cap: the caller refuses it and must not call ``release``."""
        key = self._key(peername)
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
        key = self._key(peername)
        if self.open[key] <= 1:
            self.open.pop(key, None)
        else:
            self.open[key] -= 1
        self.count = max(0, self.count - 1)


class Stopped(Exception):
    """The listener stopped while its session waited for the client's next command."""


class Stopping(asyncio.Event):
    """A listener's stop as its sessions see it: set once, when the listener stops (the
    node drains). Besides being an ``asyncio.Event`` (IMAP IDLE waits on it), it ends at
    once the waits of the sessions idle between two commands (``between_commands``):
    their deadline is moved to now, so that waiting costs no task per command read."""

    def __init__(self) -> None:
        super().__init__()
        self._waits: set[asyncio.Timeout] = set()

    def set(self) -> None:
        super().set()
        if self._waits:
            now = asyncio.get_running_loop().time()
            for wait in self._waits:
                if not wait.expired():  # one that ran out already ends by itself
                    wait.reschedule(now)

    @contextlib.asynccontextmanager
    async def between_commands(self, within: float | None) -> AsyncIterator[None]:
        """Around the wait for a client's next command: TimeoutError after ``within``
        seconds (None: no limit), ``Stopped`` once the listener stops (at once if it
        has stopped already). A command under way is not waited on through this, so it
        finishes (within the listener's grace)."""
        if self.is_set():
            raise Stopped()
        try:
            async with asyncio.timeout(within) as wait:
                self._waits.add(wait)
                try:
                    yield
                finally:
                    self._waits.discard(wait)
        except TimeoutError:
            if self.is_set():
                raise Stopped() from None
            raise


class TCPService:
    def __init__(
        self, name: str, host: str, port: int, handler: Handler,
        ssl_context: ssl.SSLContext | None = None, *, limit: int = 64 * 1024,
        stop_grace: float = 5.0, limiter: ConnectionLimiter | None = None, refusal: bytes = b"",
        settings: Settings | None = None,
    ) -> None:
        """``limiter`` caps the connections (none if None); a connection over a cap is
        sent ``refusal`` (the protocol's "try again later" line) and closed. With
        ``settings``, a listener named in ``proxy.listeners`` reads the PROXY header of
        each connection first (``congthu.proxyproto``). On stop, sessions still open
        after ``stop_grace`` seconds are cancelled."""
        self.name, self.host, self.port = name, host, port
        self.settings = settings
        self.handler = handler
        self.ssl_context = ssl_context
        self.limit = limit
        self.stop_grace = stop_grace
        self.limiter, self.refusal = limiter, refusal
        self.stopping = Stopping()
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()
        # This listener's series of the connection metrics, looked up once.
        self._connections = metrics.connections.labels(name)
        self._open_connections = metrics.open_connections.labels(name)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()

        def stream() -> asyncio.BaseProtocol:  # what asyncio.start_server makes
            return asyncio.StreamReaderProtocol(asyncio.StreamReader(limit=self.limit, loop=loop), self._accept,
                                                loop=loop)

        # Behind a balancer (proxy.listeners) the PROXY header comes first, then TLS.
        factory, ssl_context = (gated(self.settings, self.name, stream, self.ssl_context)
                                if self.settings is not None else (stream, self.ssl_context))
        handshake = 30 if ssl_context else None
        sock = inherited_listener(self.host, self.port)
        if sock is not None:
            self._server = await loop.create_server(factory, sock=sock, ssl=ssl_context, backlog=LISTEN_BACKLOG,
                                                    ssl_handshake_timeout=handshake)
            return
        self._server = await loop.create_server(
            factory, self.host, self.port, ssl=ssl_context, reuse_address=True, backlog=LISTEN_BACKLOG,
            ssl_handshake_timeout=handshake,
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
        self._connections.inc()
        self._open_connections.inc()
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
            self._open_connections.dec()
            self._sessions.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                # asyncio.timeout, not wait_for: no task of its own for each connection's close.
                async with asyncio.timeout(2):
                    await writer.wait_closed()

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


def door_listeners(app: App, door: str, run: DoorSession, *, refusal: bytes,
                   limit: int = 64 * 1024) -> list[TCPService]:
    """The listeners of ``door`` ("pop3", "ldap"): ``listen.<door>`` (plaintext, upgraded
    by the protocol's STARTTLS) and ``listen.<door>s`` (implicit TLS, only with a
    certificate); a port of 0 switches one off. Both cap their connections with the
    door's ``[connections]`` settings and send ``refusal`` to a client over a cap, and
    give a command under way ``server.drain_seconds`` to finish when they stop. Each
    connection is ``run(reader, writer, stopping, implicit_tls)``."""
    listen = app.settings.listen
    found: list[TCPService] = []
    for name, implicit in ((door, False), (f"{door}s", True)):
        port = getattr(listen, name)
        if not port or (implicit and not app.tls.available):
            continue
        service = TCPService(name, listen.host, port, _unset, app.tls.server if implicit else None, limit=limit,
                             limiter=ConnectionLimiter.for_door(app.settings, door, name), refusal=refusal,
                             settings=app.settings, stop_grace=app.settings.server.drain_seconds)
        service.handler = _door_handler(run, service.stopping, implicit)
        found.append(service)
    return found


def _door_handler(run: DoorSession, stopping: Stopping, implicit: bool) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await run(reader, writer, stopping, implicit)
    return handle


async def _unset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The handler until ``door_listeners`` sets the one that needs the service itself."""


class Ended(enum.Enum):
    """Why a wire's read returned nothing."""

    EOF = "eof"  # the client went away, perhaps in the middle of a request
    TIMEOUT = "timeout"
    STOPPING = "stopping"  # the server is stopping


class StreamWire:
    """What the ``wire.py`` of our own doors share: one connection's socket, its client's
    address, reads bounded by a deadline and by the server's stop, writes bounded by
    ``write_timeout``, and the switch to TLS (RFC 2595 section 4, RFC 4513 section 3)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *,
                 stopping: Stopping, write_timeout: float) -> None:
        self.reader, self.writer = reader, writer
        self.stopping = stopping
        self.write_timeout = write_timeout
        peer = writer.get_extra_info("peername")
        self.peer = str(peer[0]) if isinstance(peer, tuple) and peer else ""

    async def until(self, reading: Coroutine[Any, Any, T], silence: float) -> T | Ended:
        """What ``reading`` (the wait for the client's next request) gives, or
        Ended.TIMEOUT after ``silence`` seconds, or Ended.STOPPING when the server stops
        first (``reading`` is then cancelled; ``Stopping.between_commands``)."""
        try:
            async with self.stopping.between_commands(silence):
                return await reading
        except TimeoutError:
            return Ended.TIMEOUT
        except Stopped:
            reading.close()  # not started if the server had stopped already
            return Ended.STOPPING

    def write(self, data: bytes) -> None:
        """Queue bytes; the next ``send`` waits for them to leave."""
        self.writer.write(data)

    async def send(self, data: bytes) -> None:
        """Write and wait until the client has taken it; a client that reads too slowly
        (``write_timeout``) ends its session with TimeoutError."""
        self.writer.write(data)
        await asyncio.wait_for(self.writer.drain(), self.write_timeout)

    async def start_tls(self, context: ssl.SSLContext, ok: bytes) -> None:
        """Send ``ok`` (the protocol's "go ahead") and negotiate TLS on the connection."""
        # Anything the client sent after its request arrived in plaintext and must not be
        # taken as if it came through TLS (command injection, CVE-2011-0411).
        buffered = getattr(self.reader, "_buffer", None)
        if buffered:
            buffered.clear()
        # Stop reading before the answer: the client's ClientHello must reach the TLS
        # layer, not the plaintext buffer, even if it arrives while the answer drains.
        self.writer.transport.pause_reading()  # type: ignore[attr-defined]
        await self.send(ok)
        await self.writer.start_tls(context, ssl_handshake_timeout=30)
