"""One certificate order from an ACME CA (RFC 8555 section 7), with the ``acme`` library
(certbot's; synchronous: run in a thread).

The account key is an ECDSA P-256 key kept in ``acme/account-key.pem`` (ES256, RFC 8555
section 6.2) and its account URL in ``acme/account.json``, so renewals use the same
account; a lost URL is found again with ``onlyReturnExisting`` semantics (the CA answers
a new-account request for a known key with its URL: section 7.3.1). Each certificate has
a new ECDSA P-256 key. HTTP-01 answers are published through ``challenges.py`` and
withdrawn afterwards, whatever happened.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import josepy as jose
from acme import challenges as acme_challenges
from acme import client as acme_client
from acme import crypto_util, errors, messages
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from congthu.acme import challenges

if TYPE_CHECKING:
    from congthu.app import App

USER_AGENT = "congthu-acme"
ORDER_SECONDS = 180  # the CA's validation and issuance, at most


class ACMEError(Exception):
    """The CA refused or could not be reached; the text says which and why."""


@dataclass(frozen=True)
class Issued:
    fullchain_pem: bytes
    key_pem: bytes


def _new_key_pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)


def names(app: App) -> list[str]:
    configured = [n.strip().lower().rstrip(".") for n in app.settings.tls.acme_names if n.strip()]
    return configured or [app.settings.system.hostname.lower()]


def _account_key(app: App) -> jose.JWKEC:
    path = app.path("acme/account-key.pem")
    if not path.exists():
        _write_private(path, _new_key_pem())
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    return jose.JWKEC(key=key)


def _client(app: App) -> acme_client.ClientV2:
    settings = app.settings.tls
    key = _account_key(app)
    verify: bool | str = str(app.path(settings.acme_ca_file)) if settings.acme_ca_file else True
    net = acme_client.ClientNetwork(key, alg=jose.ES256, verify_ssl=verify,  # type: ignore[arg-type]
                                    user_agent=USER_AGENT)
    directory = acme_client.ClientV2.get_directory(settings.acme_directory, net)
    client = acme_client.ClientV2(directory, net=net)
    account_file = app.path("acme/account.json")
    uri = ""
    if account_file.exists():
        uri = json.loads(account_file.read_text(encoding="utf-8")).get("uri", "")
    if uri:
        net.account = messages.RegistrationResource(uri=uri, body=messages.Registration())
        return client
    registration = messages.NewRegistration.from_data(email=settings.acme_email or None,
                                                      terms_of_service_agreed=True)
    try:
        account = client.new_account(registration)
    except errors.ConflictError as exc:  # the key has an account already (section 7.3.1)
        account = messages.RegistrationResource(uri=exc.location, body=messages.Registration())
        net.account = account
    account_file.parent.mkdir(parents=True, exist_ok=True)
    account_file.write_text(json.dumps({"uri": account.uri, "directory": settings.acme_directory}),
                            encoding="utf-8")
    return client


def obtain(app: App) -> Issued:
    """Order, prove and download a certificate for ``names(app)`` (blocking)."""
    try:
        return _obtain(app)
    except (errors.Error, messages.Error, OSError) as exc:
        raise ACMEError(f"{app.settings.tls.acme_directory}: {_one_line(str(exc))}") from exc
    except Exception as exc:  # requests' errors and josepy's decoding errors alike
        raise ACMEError(f"{app.settings.tls.acme_directory}: {type(exc).__name__}: {_one_line(str(exc))}") from exc


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _obtain(app: App) -> Issued:
    client = _client(app)
    key_pem = _new_key_pem()
    csr = crypto_util.make_csr(key_pem, names(app))
    order = client.new_order(csr)
    published: list[str] = []
    try:
        for authorization in order.authorizations:
            if authorization.body.status == messages.STATUS_VALID:
                continue  # still valid from an earlier order (section 7.1.4)
            http = [c for c in authorization.body.challenges if isinstance(c.chall, acme_challenges.HTTP01)]
            if not http:
                raise ACMEError(f"{authorization.body.identifier.value}: the CA offers no HTTP-01 challenge")
            response, validation = http[0].response_and_validation(client.net.key)
            token = http[0].chall.encode("token")
            challenges.publish(app, token, validation)
            published.append(token)
            client.answer_challenge(http[0], response)
        # The library compares with its naive local clock.
        deadline = (datetime.now(UTC) + timedelta(seconds=ORDER_SECONDS)).astimezone().replace(tzinfo=None)
        order = client.poll_and_finalize(order, deadline=deadline)
    finally:
        for token in published:
            challenges.withdraw(app, token)
    if not order.fullchain_pem:
        raise ACMEError("the CA gave no certificate")
    return Issued(order.fullchain_pem.encode("ascii"), key_pem)


def install(app: App, issued: Issued) -> None:
    """Write the key and certificate over ``tls.key`` / ``tls.cert`` (each by an atomic
    rename; a process reading between the two renames fails to load the pair and keeps
    its old one until the next look)."""
    _write_private(app.path(app.settings.tls.key), issued.key_pem)
    cert_path = app.path(app.settings.tls.cert)
    temporary = cert_path.with_name(f".{cert_path.name}.tmp")
    temporary.write_bytes(issued.fullchain_pem)
    os.replace(temporary, cert_path)
