"""Bind (RFC 4511 section 4.2, RFC 4513 section 5): simple bind of a person by DN
(``uid=ntbinh,ou=people,dc=...``), by mail address or by uid alone, and of a service
account (``cn=NAME,ou=services,dc=...``).

Every person's bind is ``app.accounts.authenticate`` with door "ldap": TLS required
(except development loopback), expiry and must-change (Điều 13.2), lockout and
throttling, the audit trail and the last access for the six-month rule (Điều 4.4) are
those of the other doors. A refused bind is invalidCredentials (49) with a diagnostic
that says why (expired: where to change the password), and, when the request carries the
password policy control (draft-behera-ldap-password-policy-10 section 6.2), its error:
passwordExpired, changeAfterReset or accountLocked. Service accounts go through
``authenticate_service``. Anonymous bind is refused unless ``ldap.allow_anonymous``.

SASL PLAIN (RFC 4616) carries the same name and password and takes the same path; a
repeated success of one account from one address within ``ldap.bind_record_seconds`` is
counted rather than written (application servers bind per request: ``accounts/recent.py``).
SASL EXTERNAL (RFC 4422 appendix A, RFC 4513 section 5.2.3) binds as the service account
a verified TLS client certificate maps to (``certificates.py``), through
``authenticate_service_certificate``.
"""

from __future__ import annotations

from congthu import audit
from congthu.accounts import AuthStatus
from congthu.ldap import dn, errors, messages
from congthu.ldap.errors import LDAPError
from congthu.ldap.messages import BindBody, ControlRecord, Message, password_policy_value, text
from congthu.ldap.session import Session
from congthu.ldap.tree import ANONYMOUS, PASSWORD_POLICY, Identity, uid_of
from congthu.log import event
from congthu.store import Mailbox, normalise_address

# draft-behera-ldap-password-policy-10 section 6.2, the error enumeration.
PASSWORD_EXPIRED, ACCOUNT_LOCKED, CHANGE_AFTER_RESET = 0, 1, 2
INSUFFICIENT_PASSWORD_QUALITY, PASSWORD_IN_HISTORY = 5, 8
# The SASL mechanisms offered: PLAIN (RFC 4616) over TLS only; EXTERNAL (RFC 4422
# appendix A) on a TLS connection whose client sent a verified certificate.
PLAIN = "PLAIN"
EXTERNAL = "EXTERNAL"


def person_dn(address: str, session: Session) -> str:
    """The DN of the person entry of a mailbox."""
    return f"uid={dn.escape(uid_of(address, session.app.settings.system.domain))},ou=people,{session.base}"


def person_identity(mailbox: Mailbox, session: Session) -> Identity:
    """The identity a bind of ``mailbox`` gives, remembered per server
    (``TreeCache.people``): the same few hundred people bind again and again."""
    people = session.trees.people
    key = (mailbox.id, mailbox.address)
    found = people.get(key)
    if found is None:
        if len(people) >= session.trees.MAX_BIND_NAMES:
            people.clear()
        found = people[key] = Identity("person", person_dn(mailbox.address, session), mailbox.id, mailbox.address)
    return found


def bind_target(name: str, session: Session) -> tuple[str, str]:
    """("person", address) or ("service", name) for a bind name; LDAPError if it names
    nothing that can bind. Remembered per server (``TreeCache.bind_names``): an
    application binds the same few hundred people again and again."""
    names = session.trees.bind_names
    found = names.get(name)
    if found is None:
        found = _bind_target(name, session)
        if len(names) >= session.trees.MAX_BIND_NAMES:
            names.clear()
        names[name] = found
    return found


def _bind_target(name: str, session: Session) -> tuple[str, str]:
    domain = session.app.settings.system.domain
    if "=" not in name:  # a mail address, or a uid of the system's domain
        return "person", name if "@" in name else f"{name}@{domain}"
    try:
        rdns = dn.parse(name)
        key = dn.key_of(rdns)
    except dn.InvalidDN:
        raise LDAPError(errors.INVALID_DN_SYNTAX, f"DN không hợp lệ / invalid DN: {name}") from None
    base = session.trees.key(session.base)
    if len(key) == len(base) + 2 and key[2:] == base and len(rdns[0]) == 1:
        attribute, value = rdns[0][0]
        attribute = attribute.lower()
        if key[1] == (("ou", "people"),) and attribute in ("uid", "mail"):
            return "person", value if "@" in value else f"{value}@{domain}"
        if key[1] == (("ou", "services"),) and attribute == "cn":
            return "service", value
    raise LDAPError(errors.INVALID_CREDENTIALS, errors.INVALID_CREDENTIALS_TEXT)


def _policy(message: Message, error: int | None) -> list[ControlRecord] | None:
    if not message.controls or message.control(PASSWORD_POLICY) is None:
        return None
    return [ControlRecord(PASSWORD_POLICY, False, password_policy_value(error))]


async def bind(s: Session, message: Message) -> None:
    body: BindBody = message.body
    s.identity = ANONYMOUS  # section 4.2.1: a bind, even a failed one, starts anonymous
    s.paged.clear()
    if body.version != 3:
        raise LDAPError(errors.PROTOCOL_ERROR, "Chỉ hỗ trợ LDAPv3 / only LDAP version 3 is supported")
    try:
        name = text(body.name).strip()
    except UnicodeDecodeError:
        raise LDAPError(errors.INVALID_DN_SYNTAX, "Tên không phải UTF-8 / name is not UTF-8") from None
    if body.simple is None:
        await _bind_sasl(s, message, body)
        return
    secret = body.simple
    if not name and not secret:  # anonymous (RFC 4513 section 5.1.1)
        if not s.app.settings.ldap.allow_anonymous:
            raise LDAPError(errors.INAPPROPRIATE_AUTHENTICATION, errors.ANONYMOUS_OFF)
        await s.result(message, errors.SUCCESS)
        return
    if not secret:  # RFC 4513 section 5.1.2
        raise LDAPError(errors.UNWILLING_TO_PERFORM, errors.UNAUTHENTICATED_BIND)
    try:
        password = secret.decode("utf-8")
    except UnicodeDecodeError:
        raise LDAPError(errors.INVALID_CREDENTIALS, errors.INVALID_CREDENTIALS_TEXT) from None
    await _bind_as(s, message, name, password)


def bind_kept(s: Session, message: Message) -> bool:
    """A simple bind of a person answered without awaiting, when ``accounts.
    authenticate_kept`` decides it from what is kept (an application server binding the
    same people per page it serves): the same success ``bind`` gives, written at once.
    False, having changed nothing, for every other bind (SASL, anonymous, a service
    account, controls, a name or password that is not right or not kept, a refusal,
    anything to write): ``bind`` runs it."""
    body: BindBody = message.body
    secret = body.simple
    if message.controls or not secret or body.version != 3:
        return False
    try:
        name = text(body.name).strip()
        password = secret.decode("utf-8")
        kind, who = bind_target(name, s)
    except (UnicodeDecodeError, LDAPError):
        return False
    if kind != "person":
        return False
    result = s.app.accounts.authenticate_kept(who, password, protocol="ldap", client_ip=s.peer, secure=s.tls,
                                              record_within=s.app.settings.ldap.bind_record_seconds)
    if result is None:
        return False
    assert result.mailbox is not None
    # As ``bind`` on this success (section 4.2.1: the paged searches of the earlier
    # identity end with it).
    s.paged.clear()
    s.identity = person_identity(result.mailbox, s)
    s.wire.write(messages.bind_success(message.id))
    return True


async def _bind_as(s: Session, message: Message, name: str, password: str) -> None:
    kind, who = bind_target(name, s)
    if kind == "service":
        await _bind_service(s, message, who, password)
    else:
        await _bind_person(s, message, who, password)


async def _bind_sasl(s: Session, message: Message, sasl: BindBody) -> None:
    """SASL PLAIN (RFC 4616; RFC 4513 section 5.2): the authentication identity is a bind
    name (an address, a uid, a person's or a service account's DN) and the password is
    checked as a simple bind's, TLS required. A PLAIN bind without credentials is
    answered saslBindInProgress with empty server credentials (RFC 4511 section 4.2.2),
    so the client sends them. EXTERNAL: ``_bind_external``."""
    mechanism = (sasl.mechanism or b"").decode("utf-8", "replace").upper()
    if mechanism == EXTERNAL:
        await _bind_external(s, message, sasl.credentials or b"")
        return
    if mechanism != PLAIN:
        raise LDAPError(errors.AUTH_METHOD_NOT_SUPPORTED, errors.SASL_MECHANISMS_TEXT)
    if sasl.credentials is None:
        await s.result(message, errors.SASL_BIND_IN_PROGRESS, value=b"")
        return
    try:
        authzid, authcid, password = sasl.credentials.decode("utf-8").split("\0")
    except ValueError:  # not UTF-8, or not three parts
        raise LDAPError(errors.INVALID_CREDENTIALS, errors.SASL_PLAIN_MALFORMED) from None
    authcid = authcid.strip()
    if not authcid or not password:
        raise LDAPError(errors.INVALID_CREDENTIALS, errors.SASL_PLAIN_MALFORMED)
    if authzid and not _same_identity(s, authzid, authcid):
        raise LDAPError(errors.INVALID_CREDENTIALS, errors.SASL_AUTHZID)
    await _bind_as(s, message, authcid, password)


async def _bind_external(s: Session, message: Message, credentials: bytes) -> None:
    """SASL EXTERNAL (RFC 4422 appendix A; RFC 4513 section 5.2.3): the identity is the
    one TLS established, a client certificate verified against ``ldap.client_ca`` and
    mapped by ``ldap.certificate_map`` to a service account. The credentials are an
    optional authorization identity, which must name that same account. Without a client
    certificate the mechanism is not offered (the root DSE does not list it):
    authMethodNotSupported (7), as slapd answers; a certificate that maps to no account,
    or an authorization identity of someone else: invalidCredentials (49)."""
    presented = s.client_certificate()
    if presented is None:
        raise LDAPError(errors.AUTH_METHOD_NOT_SUPPORTED, errors.SASL_EXTERNAL_NO_CERTIFICATE)
    client = f"ldap {s.peer or '-'}"
    if presented.service is None:
        event("ldap.external_unmapped", subject=presented.subject, peer=s.peer)
        await audit.record(s.app, "service.login.failed", presented.subject[:300], "-",
                           {"protocol": "ldap", "via": "certificate", "reason": "unmapped-certificate"}, client=client)
        raise LDAPError(errors.INVALID_CREDENTIALS, errors.SASL_EXTERNAL_UNMAPPED)
    service_dn = f"cn={dn.escape(presented.service)},ou=services,{s.base}"
    if credentials:
        try:
            authzid = credentials.decode("utf-8")
        except UnicodeDecodeError:
            raise LDAPError(errors.INVALID_CREDENTIALS, errors.SASL_AUTHZID) from None
        if not _same_identity(s, authzid, service_dn):
            raise LDAPError(errors.INVALID_CREDENTIALS, errors.SASL_AUTHZID)
    check = await s.app.accounts.authenticate_service_certificate(
        presented.service, presented.subject, protocol="ldap", client_ip=s.peer,
        record_within=s.app.settings.ldap.bind_record_seconds)
    if not check.ok:
        locked = ACCOUNT_LOCKED if check.code == "UNAVAILABLE" else None
        await s.result(message, errors.INVALID_CREDENTIALS, check.message, controls=_policy(message, locked))
        return
    s.identity = Identity("service", f"cn={dn.escape(check.name)},ou=services,{s.base}",
                          grant=s.trees.grant(check.name))
    await s.result(message, errors.SUCCESS)


def _same_identity(s: Session, authzid: str, authcid: str) -> bool:
    """Does the authorization identity (RFC 4513 section 5.2.1.8: "u:NAME", "dn:DN" or a
    bare name) name the same account as ``authcid``? Acting as someone else is refused."""
    for prefix in ("u:", "dn:"):
        if authzid.startswith(prefix):
            authzid = authzid[len(prefix):]
    try:
        return _normalised(bind_target(authzid, s)) == _normalised(bind_target(authcid, s))
    except LDAPError:
        return False


def _normalised(target: tuple[str, str]) -> tuple[str, str]:
    kind, who = target
    return kind, normalise_address(who) if kind == "person" else who.strip().lower()


async def _bind_service(s: Session, message: Message, name: str, secret: str) -> None:
    check = await s.app.accounts.authenticate_service(name, secret, protocol="ldap", client_ip=s.peer, secure=s.tls,
                                                      record_within=s.app.settings.ldap.bind_record_seconds)
    if check.ok:
        s.identity = Identity("service", f"cn={dn.escape(check.name)},ou=services,{s.base}",
                              grant=s.trees.grant(check.name))
        await s.result(message, errors.SUCCESS)
        return
    code = errors.CONFIDENTIALITY_REQUIRED if check.code == "PRIVACYREQUIRED" else errors.INVALID_CREDENTIALS
    locked = ACCOUNT_LOCKED if check.code == "UNAVAILABLE" else None
    await s.result(message, code, check.message, controls=_policy(message, locked))


async def _bind_person(s: Session, message: Message, address: str, password: str) -> None:
    result = await s.app.accounts.authenticate(address, password, protocol="ldap", client_ip=s.peer, secure=s.tls,
                                               record_within=s.app.settings.ldap.bind_record_seconds)
    if result.status is AuthStatus.OK:
        # No line of our own per success: a written login logs "login.ok" (with the
        # client), and a repeat within ``bind_record_seconds`` is counted on the next
        # record, as at the other doors; an application server binding per page would
        # otherwise write a JSON line per request to the journal.
        assert result.mailbox is not None
        s.identity = person_identity(result.mailbox, s)
        if message.controls:
            await s.result(message, errors.SUCCESS, controls=_policy(message, None))
        else:
            await s.send(messages.bind_success(message.id))
        return
    event("ldap.bind", address=address, peer=s.peer, result=result.status.value, tls=s.tls)
    if result.code == "PRIVACYREQUIRED":
        raise LDAPError(errors.CONFIDENTIALITY_REQUIRED, errors.TLS_REQUIRED)
    error: int | None = None
    if result.status is AuthStatus.EXPIRED:
        assert result.mailbox is not None
        credential = await s.app.accounts.credential(result.mailbox.id)
        error = CHANGE_AFTER_RESET if credential is not None and credential.must_change else PASSWORD_EXPIRED
    elif result.status in (AuthStatus.LOCKED, AuthStatus.DISABLED):
        error = ACCOUNT_LOCKED
    await s.result(message, errors.INVALID_CREDENTIALS, result.message or errors.INVALID_CREDENTIALS_TEXT,
                   controls=_policy(message, error))
