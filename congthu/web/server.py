"""HTTP and HTTPS listeners (uvicorn) for the web application.

uvicorn alone keeps a connection open as long as its client trickles a request (it
times out only the idle wait between two requests) and caps nothing per address. Our
connections therefore use ``GuardedH11Protocol``, uvicorn's HTTP/1.1 protocol with:

- the ``[connections]`` caps of the "http" door (``congthu.net.ConnectionLimiter``): a
  connection over a cap is answered 503 with Retry-After (RFC 9110 section 15.6.4) and
  closed;
- ``web.request_timeout``: from the connection's opening, or the first byte of each
  further request, the whole request (line, header, body) must have arrived in time,
  else 408 (RFC 9110 section 15.5.9) and close;
- ``web.keepalive_timeout``: uvicorn's idle timeout between requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Generator
from typing import Any, cast

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from congthu.app import App
from congthu.config.settings import WebSettings
from congthu.net import ConnectionLimiter, inherited_listener
from congthu.proxyproto import ProxyGate, ProxySetup, setup_for
from congthu.web.app import create_app
from congthu.web.headers import SecurityHeaders, security_headers

# Started before the other listeners and stopped after them (congthu.server), so that
# health checks answer for as long as any door is open.
START_ORDER = 0

# Seconds a refused connection stays open for the client to read its 503.
REFUSED_LINGER = 2.0


class _Uvicorn(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._exit = asyncio.Event()
        self.up = asyncio.Event()  # set once the start-up is over, listening or not

    # The process's signals belong to congthu.server, not to uvicorn.
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets)
        finally:
            self.up.set()

    def exit_now(self) -> None:
        """Stop serving (uvicorn's ``should_exit``), at once rather than at its next tick."""
        self.should_exit = True
        self._exit.set()

    async def main_loop(self) -> None:
        # uvicorn's loop, ticking every 0.1 s (the Date header, should_exit), but with a
        # sleep that ``exit_now`` cuts short: a stop does not wait for the next tick.
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.1):
                    await self._exit.wait()
            should_exit = await self.on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.server_state.connections or self.server_state.tasks:
            await super().shutdown(sockets)
            return
        # No connection open: uvicorn's shutdown without its fixed 0.1 s pause, which
        # lets open connections act on their shutdown (there are none to wait for).
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for server in self.servers:
            await server.wait_closed()
        if not self.force_exit:
            await self.lifespan.shutdown()


class GuardedConfig(uvicorn.Config):
    """uvicorn's configuration with what ``GuardedH11Protocol`` needs."""

    def __init__(self, *args: Any, limiter: ConnectionLimiter, web: WebSettings, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limiter, self.web = limiter, web


def plain_response(status: int, reason: str, text: str, web: WebSettings, https: bool,
                   extra: tuple[tuple[str, str], ...] = ()) -> bytes:
    """A whole ``Connection: close`` response written by the listener itself (outside
    the application), with the security headers of every response."""
    body = text.encode()
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))),
               ("Connection", "close"), *extra, *security_headers(web, https)]
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{n}: {v}\r\n" for n, v in headers)
    return head.encode("latin-1") + b"\r\n" + body


class GuardedH11Protocol(H11Protocol):
    """One HTTP/1.1 connection under the connection caps and the request deadline."""

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        guarded = cast(GuardedConfig, config)
        self.limiter, self.web = guarded.limiter, guarded.web
        self.counted = False
        self.peername: Any = None
        self.request_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.peername = transport.get_extra_info("peername")
        if not self.limiter.acquire(self.peername):
            self.transport = transport
            https = transport.get_extra_info("ssl_object") is not None
            transport.write(plain_response(
                503, "Service Unavailable",
                "Quá nhiều kết nối, hãy thử lại sau / too many connections, try again later\n",
                self.web, https, (("Retry-After", "10"),)))
            # Close once the client's request has come in (closing with unread bytes
            # would reset the connection and could lose the 503), or after a moment.
            self.loop.call_later(REFUSED_LINGER, transport.close)
            return
        self.counted = True
        super().connection_made(transport)
        if transport.get_extra_info("proxy_peer") is not None:
            # Behind a balancer (congthu.proxyproto): uvicorn asks the socket itself for
            # the peer, which is the balancer; the client is the header's.
            peer = self.peername
            self.client = (str(peer[0]), int(peer[1])) if isinstance(peer, tuple) and len(peer) >= 2 else None
        self._arm()

    def data_received(self, data: bytes) -> None:
        if not self.counted:  # a refused connection: the request is read and dropped
            self.transport.close()
            return
        if self.request_deadline is None and self.conn.their_state is h11.IDLE:
            self._arm()  # the first byte of a request on a kept-alive connection
        super().data_received(data)
        if self.conn.their_state not in (h11.IDLE, h11.SEND_BODY):
            self._disarm()  # the whole request is in (or the connection is ending)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.counted:
            return
        self.counted = False
        self._disarm()
        self.limiter.release(self.peername)
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self.request_deadline = self.loop.call_later(self.web.request_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self.request_deadline is not None:
            self.request_deadline.cancel()
            self.request_deadline = None

    def _too_slow(self) -> None:
        self.request_deadline = None
        if self.transport.is_closing() or self.conn.their_state not in (h11.IDLE, h11.SEND_BODY):
            return
        if self.conn.our_state is h11.IDLE:  # no response begun: say why we close
            self.transport.write(plain_response(
                408, "Request Timeout", "Yêu cầu gửi quá chậm / request too slow\n", self.web,
                self.scheme == "https"))
        self.transport.close()


class HTTPService:
    def __init__(self, app: App, name: str, port: int, tls: bool, asgi: Any) -> None:
        self.name, self.port = name, port
        settings = app.settings
        caps = settings.connections
        # Behind a TCP balancer (proxy.listeners): the PROXY header comes first, then
        # TLS, which the gate starts itself; uvicorn then gets no certificate.
        proxy = setup_for(settings, name)
        http: Any = GuardedH11Protocol
        if proxy is not None:
            http = _gated_protocol(name, proxy, app.tls.server if tls else None)
            tls = False
        config = GuardedConfig(
            SecurityHeaders(asgi, settings.web), host=settings.listen.host, port=port,
            log_config=None, access_log=False, lifespan="off", proxy_headers=False,
            server_header=False, http=http,
            timeout_keep_alive=settings.web.keepalive_timeout,  # type: ignore[arg-type]
            # A stop waits at most this long for responses still open (the webmail's
            # event streams last up to a minute), then closes them.
            timeout_graceful_shutdown=5,
            # uvicorn's own bound on connections and requests in progress (it answers 503
            # from len >= limit); the limiter already refuses connections past the total.
            limit_concurrency=caps.http_total + 1,
            ssl_certfile=str(app.tls.cert_path) if tls else None,
            ssl_keyfile=str(app.tls.key_path) if tls else None,
            # The shared context, so SIGHUP's certificate reload reaches HTTPS too.
            ssl_context_factory=(lambda _config, _default: app.tls.server) if tls else None,
            limiter=ConnectionLimiter.for_door(settings, "http", name), web=settings.web,
        )
        self.server = _Uvicorn(config)
        self.host = settings.listen.host
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        sock = inherited_listener(self.host, self.port)  # bound by the supervisor (congthu.workers)
        self._task = asyncio.create_task(self.server.serve(sockets=[sock] if sock is not None else None))
        while not self.server.started:
            if self._task.done():
                self._task.result()  # raises the bind error
                raise RuntimeError(f"{self.name} stopped during start-up")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.02):
                    await self.server.up.wait()

    async def stop(self) -> None:
        self.server.exit_now()
        if self._task:
            await self._task


def _gated_protocol(name: str, setup: ProxySetup, ssl_context: ssl.SSLContext | None) -> Any:
    """uvicorn's protocol factory for a listener behind a balancer: a ``ProxyGate`` in
    front of each ``GuardedH11Protocol``."""
    def make(config: uvicorn.Config, server_state: Any, app_state: Any,
             _loop: asyncio.AbstractEventLoop | None = None) -> asyncio.BaseProtocol:
        inner = GuardedH11Protocol(config, server_state=server_state, app_state=app_state, _loop=_loop)
        return ProxyGate(name, inner, setup, ssl_context)
    return make


def services(app: App) -> list[HTTPService]:
    listen = app.settings.listen
    tls = bool(listen.https and app.tls.available)
    if not listen.http and not tls:
        return []
    # One application for both listeners (each request's scope says its scheme):
    # building FastAPI's routes is most of a server's start-up.
    asgi = create_app(app)
    found = []
    if listen.http:
        found.append(HTTPService(app, "http", listen.http, tls=False, asgi=asgi))
    if tls:
        found.append(HTTPService(app, "https", listen.https, tls=True, asgi=asgi))
    return found
