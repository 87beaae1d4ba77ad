"""Fixtures of the cluster tests: a node whose listeners expect the PROXY protocol from
the balancer's address only, and a real HAProxy in front of it."""

from __future__ import annotations

import asyncio
import imaplib
import poplib
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.haproxy import BALANCER, Frontend, HAProxy
from tests.conftest import ServerThread, make_data_dir

# Which listener gets which version of the header from HAProxy.
PROXIED = {"smtp": "send-proxy", "submission": "send-proxy", "submissions": "send-proxy-v2",
           "imap": "send-proxy-v2", "imaps": "send-proxy-v2", "pop3": "send-proxy", "ldap": "send-proxy-v2",
           "http": "send-proxy-v2", "https": "send-proxy"}

PROXY_SETTINGS = {"listeners": sorted(PROXIED), "trusted": [BALANCER], "header_timeout": 1.0}


def proxy_overrides(**more: dict[str, Any]) -> dict[str, dict[str, Any]]:
    sections: dict[str, dict[str, Any]] = {
        "proxy": dict(PROXY_SETTINGS),
        # Small throttling numbers so that a test reaches a lock quickly.
        "login": {"address_delay_after": 2, "address_lock_after": 3, "delay_base_seconds": 0.01,
                  "max_delay_seconds": 0.05, "alert_on_lock": False},
        "web": {"metrics_allow": ["127.0.0.3/32"]},
    }
    for name, values in more.items():
        sections.setdefault(name, {}).update(values)
    return sections


@dataclass
class Proxied:
    server: ServerThread
    haproxy: HAProxy

    def port(self, name: str) -> int:
        """The balancer's port for listener ``name``."""
        return self.haproxy.port(name)


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[Proxied]:
    data = asyncio.run(make_data_dir(tmp_path / "data", **proxy_overrides()))
    server = ServerThread(data).start()
    haproxy = None
    try:
        frontends = [Frontend(name, [("127.0.0.1", server.port(name))], version) for name, version in PROXIED.items()]
        haproxy = HAProxy(tmp_path, frontends).start()
        yield Proxied(server, haproxy)
    finally:
        if haproxy is not None:
            haproxy.stop()
        server.stop()


class IMAPFrom(imaplib.IMAP4):
    """imaplib from a chosen local address (a distinct client for the balancer)."""

    def __init__(self, source: str, host: str, port: int) -> None:
        self.source = source
        super().__init__(host, port, timeout=20)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        return socket.create_connection((self.host, self.port), timeout, source_address=(self.source, 0))


class IMAPSFrom(imaplib.IMAP4_SSL):
    def __init__(self, source: str, host: str, port: int, **kwargs: Any) -> None:
        self.source = source
        super().__init__(host, port, timeout=20, **kwargs)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout, source_address=(self.source, 0))
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)


class POP3From(poplib.POP3):
    def __init__(self, source: str, host: str, port: int) -> None:
        self.source = source
        super().__init__(host, port, timeout=20)

    def _create_socket(self, timeout: float) -> socket.socket:
        return socket.create_connection((self.host, self.port), timeout, source_address=(self.source, 0))
