"""The SASL server of IMAP AUTHENTICATE (RFC 9051 section 6.2.2) and SMTP AUTH (RFC 4954).

Mechanisms:

- ``SCRAM-SHA-256`` (RFC 7677, RFC 5802): the password never crosses the wire; offered
  with and without TLS. No channel binding (``-PLUS`` is not offered; a client asking for
  it with ``p=`` is refused, RFC 5802 section 6).
- ``PLAIN`` (RFC 4616) and ``LOGIN`` (draft-murchison-sasl-login): the password in the
  clear, so only over TLS (or loopback in development, see ``Accounts.plaintext_allowed``).

Every mechanism ends in ``Accounts`` (lockout, expiry, second factor, audit), so SASL and
the plain ``LOGIN``/``USER``/``PASS`` commands follow the same rules.

How a door uses it::

    from congthu.accounts import sasl

    # advertise: AUTH=... / 250-AUTH ...; in development over loopback pass
    # secure=app.accounts.plaintext_allowed(tls_active, client_ip)
    names = sasl.mechanisms(secure=tls_active)

    server = sasl.SASLServer(app.accounts, "SCRAM-SHA-256", protocol="imap",
                             client_ip=peer_ip, secure=tls_active)  # ValueError: unknown mechanism
    step = await server.step(initial_response)  # bytes (base64-decoded), or None if none was sent
    while step.result is None:
        send_challenge(base64(step.challenge))  # IMAP "+ ...", SMTP "334 ..."
        line = read_line()
        if line == "*": cancel (IMAP: BAD, SMTP: 501), stop      # the door handles "*"
        step = await server.step(base64_decode(line))          # door answers bad base64 itself
    result = step.result  # an AuthResult: .ok, .status (EXPIRED -> "NO [EXPIRED] ..."), .message

With SCRAM the server's proof (``v=...``) comes as a last challenge which the client
answers with an empty response, because neither IMAP4rev2 nor SMTP AUTH carry data in the
final success reply; the result follows. ``step.result.message`` is the bilingual text
for the NO/535 line, ``step.result.code`` an RFC 5530 code.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass

from congthu.accounts import lockout, scram
from congthu.accounts.accounts import Accounts
from congthu.accounts.model import AuthResult, AuthStatus, Verified

PLAINTEXT = ("PLAIN", "LOGIN")
ALL = ("SCRAM-SHA-256", "PLAIN", "LOGIN")

__all__ = ["ALL", "SASLServer", "Step", "mechanisms"]


def mechanisms(secure: bool) -> list[str]:
    """The mechanisms to advertise: SCRAM always, PLAIN and LOGIN only when ``secure``."""
    return list(ALL) if secure else ["SCRAM-SHA-256"]


@dataclass(frozen=True)
class Step:
    challenge: bytes | None = None  # send this (base64) and wait for the client's answer
    result: AuthResult | None = None  # finished


class _Malformed(Exception):
    pass


def _saslname(value: str) -> str:
    """RFC 5802 section 5.1: "=2C" is ",", "=3D" is "=", any other "=" is an error."""
    out, i = [], 0
    while i < len(value):
        if value[i] == "=":
            code = value[i:i + 3]
            if code == "=2C":
                out.append(",")
            elif code == "=3D":
                out.append("=")
            else:
                raise _Malformed("bad saslname")
            i += 3
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


class SASLServer:
    """One authentication exchange; create a new one for each AUTHENTICATE / AUTH.
    ``record_within``: as for ``Accounts.authenticate``, for the password mechanisms."""

    def __init__(self, accounts: Accounts, mechanism: str, *, protocol: str, client_ip: str = "",
                 secure: bool = False, record_within: float = 0.0) -> None:
        mechanism = mechanism.upper()
        if mechanism not in ALL:
            raise ValueError(f"Cơ chế không hỗ trợ / unsupported mechanism {mechanism}")
        self.accounts = accounts
        self.mechanism = mechanism
        self.protocol = protocol
        self.client_ip = client_ip
        self.secure = secure
        self.record_within = record_within
        self.result: AuthResult | None = None
        self._state = "start"
        self._username = ""
        # SCRAM state
        self._gs2_header = ""
        self._client_first_bare = ""
        self._server_first = ""
        self._nonce = ""
        self._pending: AuthResult | None = None
        self._lookup_salt = b""

    @property
    def done(self) -> bool:
        return self.result is not None

    async def step(self, data: bytes | None) -> Step:
        if self.result is not None:
            return Step(result=self.result)
        try:
            if self.mechanism == "PLAIN":
                step = await self._plain(data)
            elif self.mechanism == "LOGIN":
                step = await self._login(data)
            else:
                step = await self._scram(data)
        except (_Malformed, UnicodeDecodeError, ValueError, binascii.Error) as exc:
            step = Step(result=await self._malformed(str(exc)))
        if step.result is not None:
            self.result = step.result
        return step

    async def _malformed(self, why: str) -> AuthResult:
        # A malformed exchange counts as a failure (guessing tools send junk too).
        result = await self.accounts.conclude(
            self._username or "-", Verified(None, reason=f"malformed: {why[:80]}"),
            protocol=self.protocol, client_ip=self.client_ip)
        if result.status is AuthStatus.LOCKED:
            return result
        return AuthResult(AuthStatus.FAILED, code="AUTHENTICATIONFAILED", delay=result.delay,
                          message="Dữ liệu xác thực không hợp lệ / malformed authentication data")

    async def _password(self, username: str, password: str) -> Step:
        self._username = username
        return Step(result=await self.accounts.authenticate(
            username, password, protocol=self.protocol, client_ip=self.client_ip, secure=self.secure,
            record_within=self.record_within))

    # -- PLAIN, RFC 4616 section 2: message = [authzid] NUL authcid NUL passwd ----------------

    async def _plain(self, data: bytes | None) -> Step:
        if data is None:
            return Step(challenge=b"")
        parts = data.decode("utf-8").split("\0")
        if len(parts) != 3 or not parts[1]:
            raise _Malformed("PLAIN needs authzid NUL authcid NUL passwd")
        authzid, authcid, password = parts
        self._username = authcid
        if authzid and authzid.lower() != authcid.lower():
            # Acting as another user is delegation's business (IMAP shared folders), not SASL's.
            raise _Malformed("authorization identity must be empty or the same as the login")
        return await self._password(authcid, password)

    # -- LOGIN: "Username:", "Password:" ------------------------------------------------

    async def _login(self, data: bytes | None) -> Step:
        if self._state == "start":
            if not data:
                self._state = "username"
                return Step(challenge=b"Username:")
            self._username = data.decode("utf-8")
            self._state = "password"
            return Step(challenge=b"Password:")
        if self._state == "username":
            self._username = (data or b"").decode("utf-8")
            self._state = "password"
            return Step(challenge=b"Password:")
        return await self._password(self._username, (data or b"").decode("utf-8"))

    # -- SCRAM-SHA-256, RFC 5802 section 5 ----------------------------------------------

    async def _scram(self, data: bytes | None) -> Step:
        if self._state == "start":
            if data is None or data == b"":
                self._state = "client-first"
                return Step(challenge=b"")
            return await self._scram_first(data)
        if self._state == "client-first":
            return await self._scram_first(data or b"")
        if self._state == "client-final":
            return await self._scram_final(data or b"")
        # "server-final": the client acknowledged v=...
        assert self._pending is not None
        return Step(result=self._pending)

    async def _scram_first(self, data: bytes) -> Step:
        text = data.decode("utf-8")
        # gs2-header = gs2-cbind-flag "," [ authzid ] ","
        try:
            cbind, authzid, bare = text.split(",", 2)
        except ValueError:
            raise _Malformed("bad client-first-message") from None
        if cbind.startswith("p="):
            raise _Malformed("channel binding is not supported")
        if cbind not in ("n", "y"):
            raise _Malformed("bad gs2-cbind-flag")
        attrs = bare.split(",")
        if len(attrs) < 2 or not attrs[0].startswith("n=") or not attrs[1].startswith("r="):
            if attrs and attrs[0].startswith("m="):
                raise _Malformed("mandatory extensions are not supported")
            raise _Malformed("client-first-message needs n= and r=")
        username = _saslname(attrs[0][2:])
        self._username = username
        if authzid and (not authzid.startswith("a=") or _saslname(authzid[2:]).lower() != username.lower()):
            raise _Malformed("authorization identity must be empty or the same as the login")
        cnonce = attrs[1][2:]
        if not cnonce or any(c == "," or not (0x21 <= ord(c) <= 0x7E) for c in cnonce):
            raise _Malformed("bad nonce")
        refusal = await self.accounts.precheck(username, protocol=self.protocol, client_ip=self.client_ip,
                                               secure=self.secure, plaintext=False)
        if refusal is not None:
            return Step(result=refusal)
        self._lookup = await self.accounts.scram_lookup(username, self.protocol)
        self._gs2_header = f"{cbind},{authzid},"
        self._client_first_bare = bare
        self._nonce = cnonce + base64.b64encode(secrets.token_bytes(18)).decode()
        self._server_first = (f"r={self._nonce},s={base64.b64encode(self._lookup.salt).decode()},"
                              f"i={self._lookup.iterations}")
        self._state = "client-final"
        return Step(challenge=self._server_first.encode())

    async def _scram_final(self, data: bytes) -> Step:
        text = data.decode("utf-8")
        head, sep, proof_b64 = text.rpartition(",p=")
        if not sep:
            raise _Malformed("client-final-message needs p=")
        attrs = head.split(",")
        if len(attrs) < 2 or not attrs[0].startswith("c=") or not attrs[1].startswith("r="):
            raise _Malformed("client-final-message needs c= and r=")
        if base64.b64decode(attrs[0][2:], validate=True) != self._gs2_header.encode():
            raise _Malformed("channel binding data does not match")
        if attrs[1][2:] != self._nonce:
            raise _Malformed("nonce does not match")
        proof = base64.b64decode(proof_b64, validate=True)
        auth_message = f"{self._client_first_bare},{self._server_first},{head}".encode()
        verified = Verified(None, known=self._lookup.mailbox is not None)
        server_key = b""
        for candidate in self._lookup.candidates:
            if scram.client_proof_ok(candidate.stored_key, auth_message, proof):
                verified = Verified(self._lookup.mailbox, known=True, via=candidate.via,
                                    app_password_id=candidate.app_password_id)
                server_key = candidate.server_key
                break
        result = await self.accounts.conclude(self._username, verified, protocol=self.protocol,
                                              client_ip=self.client_ip,
                                              attempt=lockout.fingerprint(self._username, proof_b64))
        if verified.mailbox is None or result.status in (AuthStatus.LOCKED, AuthStatus.DISABLED):
            return Step(result=result)
        self._pending = result
        self._state = "server-final"
        signature = scram.server_signature(server_key, auth_message)
        return Step(challenge=b"v=" + base64.b64encode(signature))
