"""The SASL server: PLAIN, LOGIN and SCRAM-SHA-256 (against the scramp client and RFC 7677's
example), the second factor with app passwords, and refusal of plaintext without TLS."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
import scramp

from congthu import audit
from congthu.accounts import AuthResult, AuthStatus, scram, totp
from congthu.accounts.sasl import SASLServer, mechanisms
from congthu.app import App

ADDRESS = "ntbinh@soctrang.gov.vn"
PASSWORD = "Song@Hau7River"


@pytest.fixture
async def user(app: App) -> int:
    mailbox = await app.store.create_mailbox(ADDRESS, "Nguyễn Thanh Bình")
    await app.accounts.set_password(mailbox.id, PASSWORD, must_change=False)
    return mailbox.id


def test_rfc7677_example_exchange() -> None:
    """RFC 7677 section 3: user "user", password "pencil"."""
    salt = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
    keys = scram.derive("pencil", salt, 4096)
    client_first_bare = "n=user,r=rOprNGfwEbeRWgbNEkqO"
    server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    final_without_proof = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
    auth_message = f"{client_first_bare},{server_first},{final_without_proof}".encode()
    proof = base64.b64decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
    assert scram.client_proof_ok(keys.stored_key, auth_message, proof)
    assert not scram.client_proof_ok(keys.stored_key, auth_message, bytes(32))
    assert base64.b64encode(scram.server_signature(keys.server_key, auth_message)).decode() == \
        "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def test_saslprep() -> None:
    assert scram.saslprep("I\u00adX") == "IX"  # RFC 4013 section 3 examples
    assert scram.saslprep("\u00aa") == "a"
    assert scram.saslprep("\u2168") == "IX"
    with pytest.raises(scram.SASLprepError):
        scram.saslprep("\u0007")


def test_mechanisms_offer_plaintext_only_when_secure() -> None:
    assert mechanisms(True) == ["SCRAM-SHA-256", "PLAIN", "LOGIN"]
    assert mechanisms(False) == ["SCRAM-SHA-256"]
    with pytest.raises(ValueError):
        SASLServer(None, "CRAM-MD5", protocol="imap")  # type: ignore[arg-type]


async def scram_login(app: App, username: str, password: str, *, client_ip: str = "127.0.0.1",
                      protocol: str = "imap") -> AuthResult:
    client = scramp.ScramClient(["SCRAM-SHA-256"], username, password)
    server = SASLServer(app.accounts, "SCRAM-SHA-256", protocol=protocol, client_ip=client_ip, secure=False)
    step = await server.step(None)
    assert step.challenge == b""
    step = await server.step(client.get_client_first().encode())
    if step.result is not None:
        return step.result
    assert step.challenge is not None
    client.set_server_first(step.challenge.decode())
    step = await server.step(client.get_client_final().encode())
    if step.result is not None:
        return step.result
    assert step.challenge is not None and step.challenge.startswith(b"v=")
    client.set_server_final(step.challenge.decode())  # raises if the server's proof is wrong
    step = await server.step(b"")
    assert step.result is not None
    return step.result


async def test_scram_with_a_real_client(app: App, user: int) -> None:
    result = await scram_login(app, ADDRESS, PASSWORD)
    assert result.ok and result.via == "scram" and result.mailbox is not None and result.mailbox.id == user
    wrong = await scram_login(app, ADDRESS, "Sai#MatKhau9")
    assert wrong.status is AuthStatus.FAILED
    unknown = await scram_login(app, "nobody@soctrang.gov.vn", PASSWORD)
    assert unknown.status is AuthStatus.FAILED
    # Works without TLS and from anywhere: the password never crosses the wire.
    assert (await scram_login(app, ADDRESS, PASSWORD, client_ip="203.0.113.5")).ok
    # Must-change holds for SCRAM as for every mechanism.
    await app.accounts.set_password(user, PASSWORD, must_change=True)
    assert (await scram_login(app, ADDRESS, PASSWORD)).status is AuthStatus.EXPIRED
    failed = await audit.records(app, action="login.failed")
    assert [r.details["protocol"] for r in failed] == ["imap", "imap"]


async def test_scram_refuses_malformed_and_channel_binding(app: App, user: int) -> None:
    for first in (b"p=tls-unique,,n=x,r=abc", b"n,,r=abc", b"garbage", b"n,a=other@x,n=" + ADDRESS.encode() + b",r=ab"):
        server = SASLServer(app.accounts, "SCRAM-SHA-256", protocol="smtp", client_ip="127.0.0.1")
        step = await server.step(first)
        assert step.result is not None and step.result.status is AuthStatus.FAILED
        assert "không hợp lệ" in step.result.message
    # A forged final message (wrong nonce) fails.
    server = SASLServer(app.accounts, "SCRAM-SHA-256", protocol="smtp", client_ip="127.0.0.1")
    step = await server.step(f"n,,n={ADDRESS},r=abcdef".encode())
    assert step.challenge and step.challenge.startswith(b"r=abcdef")
    step = await server.step(b"c=biws,r=abcdefXYZ,p=" + base64.b64encode(bytes(32)))
    assert step.result is not None and step.result.status is AuthStatus.FAILED


async def test_plain_and_login(app: App, user: int) -> None:
    server = SASLServer(app.accounts, "PLAIN", protocol="smtp", client_ip="127.0.0.1", secure=True)
    step = await server.step(f"\0{ADDRESS}\0{PASSWORD}".encode())
    assert step.result is not None and step.result.ok
    # No initial response: an empty challenge first.
    server = SASLServer(app.accounts, "PLAIN", protocol="imap", client_ip="127.0.0.1", secure=True)
    assert (await server.step(None)).challenge == b""
    step = await server.step(f"{ADDRESS}\0{ADDRESS}\0{PASSWORD}".encode())
    assert step.result is not None and step.result.ok
    # Acting as somebody else is refused.
    server = SASLServer(app.accounts, "PLAIN", protocol="imap", client_ip="127.0.0.1", secure=True)
    step = await server.step(f"dvthong@soctrang.gov.vn\0{ADDRESS}\0{PASSWORD}".encode())
    assert step.result is not None and not step.result.ok

    server = SASLServer(app.accounts, "LOGIN", protocol="smtp", client_ip="127.0.0.1", secure=True)
    assert (await server.step(None)).challenge == b"Username:"
    assert (await server.step(ADDRESS.encode())).challenge == b"Password:"
    step = await server.step(PASSWORD.encode())
    assert step.result is not None and step.result.ok

    # Plaintext mechanisms without TLS from a remote address: refused, even with the right password.
    server = SASLServer(app.accounts, "PLAIN", protocol="smtp", client_ip="203.0.113.5", secure=False)
    step = await server.step(f"\0{ADDRESS}\0{PASSWORD}".encode())
    assert step.result is not None and step.result.code == "PRIVACYREQUIRED"


async def test_second_factor_and_app_passwords(app: App, user: int) -> None:
    accounts = app.accounts
    secret = await accounts.totp_begin(user)
    # Not enforced before confirmation.
    assert (await accounts.authenticate(ADDRESS, PASSWORD, protocol="web", client_ip="127.0.0.1")).ok
    now = accounts.clock().timestamp()
    assert await accounts.totp_confirm(user, "000000" if totp.code_at(secret, now) != "000000" else "111111",
                                       actor=ADDRESS) is None
    codes = await accounts.totp_confirm(user, totp.code_at(secret, now), actor=ADDRESS)
    assert codes is not None and len(codes) == 10

    # Web: password and code. A code is accepted once (RFC 6238 section 5.2).
    no_code = await accounts.authenticate(ADDRESS, PASSWORD, protocol="web", client_ip="127.0.0.1")
    assert no_code.status is AuthStatus.FAILED and "hai lớp" in no_code.message
    later = now + 30
    accounts.clock = lambda: datetime.fromtimestamp(later, tz=UTC)
    assert (await accounts.authenticate(ADDRESS, PASSWORD, protocol="web", client_ip="127.0.0.1",
                                        otp=totp.code_at(secret, later))).ok
    assert not (await accounts.authenticate(ADDRESS, PASSWORD, protocol="web", client_ip="127.0.0.1",
                                            otp=totp.code_at(secret, later))).ok
    # A recovery code works once.
    assert (await accounts.authenticate(ADDRESS, PASSWORD, protocol="web", client_ip="127.0.0.1", otp=codes[0])).ok
    assert not (await accounts.authenticate(ADDRESS, PASSWORD, protocol="web", client_ip="127.0.0.1",
                                            otp=codes[0])).ok

    # Mail clients: the account password no longer works, an app password does.
    main = await accounts.authenticate(ADDRESS, PASSWORD, protocol="imap", client_ip="127.0.0.1")
    assert main.status is AuthStatus.FAILED and "mật khẩu ứng dụng" in main.message
    assert not (await scram_login(app, ADDRESS, PASSWORD)).ok
    app_password = await accounts.add_app_password(user, "Thunderbird", actor=ADDRESS)
    via_plain = await accounts.authenticate(ADDRESS, app_password, protocol="imap", client_ip="127.0.0.1")
    assert via_plain.ok and via_plain.via == "app-password"
    via_scram = await scram_login(app, ADDRESS, app_password)
    assert via_scram.ok and via_scram.via == "scram-app-password"
    # Not for the web consoles.
    assert not (await accounts.authenticate(ADDRESS, app_password, protocol="web", client_ip="127.0.0.1")).ok
    listed = await accounts.list_app_passwords(user)
    assert [i["label"] for i in listed] == ["Thunderbird"] and listed[0]["last_used_at"] is not None
    assert await accounts.revoke_app_password(user, listed[0]["id"], actor=ADDRESS)
    assert not (await accounts.authenticate(ADDRESS, app_password, protocol="imap", client_ip="127.0.0.1")).ok


def test_hotp_rfc4226_vectors() -> None:
    secret = base64.b32encode(b"12345678901234567890").decode()
    expected = ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"]
    assert [totp.hotp(secret, i) for i in range(10)] == expected
    # RFC 6238 appendix B, SHA-1, T = 59 s: 94287082 (8 digits).
    assert totp.hotp(secret, totp.step_of(59), digits=8) == "94287082"
