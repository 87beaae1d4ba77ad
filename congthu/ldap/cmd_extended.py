"""Extended operations (RFC 4511 section 4.12): StartTLS (RFC 4513 section 3, RFC 4511
section 4.14), Who am I? (RFC 4532) and Password Modify (RFC 3062). Any other name is
answered protocolError, as section 4.12 asks.

Password Modify applies the rules of Điều 13.2 through ``Accounts.change_password``
(strength, personal data, history; the must-change mark cleared): the owner proves the
current password (``oldPasswd``, checked by ``authenticate`` so guessing is throttled and
an expired password may still be changed), or is bound as that person on this
connection. The new password must be given: no password is chosen for an owner here.
"""

from __future__ import annotations

from congthu.accounts import AuthStatus, PasswordRejected
from congthu.ldap import errors
from congthu.ldap.cmd_bind import (
    INSUFFICIENT_PASSWORD_QUALITY,
    PASSWORD_IN_HISTORY,
    bind_target,
)
from congthu.ldap.errors import LDAPError
from congthu.ldap.messages import (
    ControlRecord,
    ExtendedBody,
    Message,
    PasswdModifyRequestValue,
    decode_value,
    password_policy_value,
    result,
)
from congthu.ldap.session import Session
from congthu.ldap.tree import PASSWORD_MODIFY, PASSWORD_POLICY, START_TLS, WHO_AM_I
from congthu.store import normalise_address


async def extended(s: Session, message: Message) -> None:
    body: ExtendedBody = message.body
    name = body.name.decode("ascii", "replace")
    raw = body.value
    if name == START_TLS:
        await start_tls(s, message)
    elif name == WHO_AM_I:
        # RFC 4532 section 2: "dn:<DN>", or empty for anonymous.
        await s.result(message, errors.SUCCESS, value=(f"dn:{s.identity.dn}" if s.identity.bound else "").encode())
    elif name == PASSWORD_MODIFY:
        await password_modify(s, message, raw)
    else:
        raise LDAPError(errors.PROTOCOL_ERROR, f"Thao tác mở rộng không hỗ trợ / unsupported extended "
                                               f"operation {name}")


async def start_tls(s: Session, message: Message) -> None:
    """RFC 4511 section 4.14.2: operationsError if TLS is on already, or if the request
    was sent with answers to earlier ones outstanding (RFC 4511 section 4.14.1, RFC 4513
    section 3.1.1: a detected sequencing problem; the connection stays as it was);
    unavailable if there is no certificate."""
    if s.tls:
        raise LDAPError(errors.OPERATIONS_ERROR, "TLS đã bật / TLS already established")
    if s.outstanding():
        raise LDAPError(errors.OPERATIONS_ERROR, "Còn thao tác chưa trả lời / StartTLS sent with operations "
                                                 "outstanding")
    if not s.app.tls.available:
        raise LDAPError(errors.UNAVAILABLE, "Không có chứng chỉ TLS / TLS is not available")
    ok = result(message.id, 24, errors.SUCCESS, name=START_TLS)
    await s.start_tls(s.certificates.context, ok)
    s.tls = True


def _rejected_control(message: Message, exc: PasswordRejected) -> list[ControlRecord] | None:
    if message.control(PASSWORD_POLICY) is None:
        return None
    history = any(r.rule == "history" for r in exc.refusals)
    error = PASSWORD_IN_HISTORY if history else INSUFFICIENT_PASSWORD_QUALITY
    return [ControlRecord(PASSWORD_POLICY, False, password_policy_value(error))]


async def password_modify(s: Session, message: Message, raw: bytes | None) -> None:
    """RFC 3062 section 2."""
    if not s.app.accounts.plaintext_allowed(s.tls, s.peer):
        raise LDAPError(errors.CONFIDENTIALITY_REQUIRED, errors.TLS_REQUIRED)
    identity = old = new = None
    if raw:
        try:
            value = decode_value(raw, PasswdModifyRequestValue())
            fields = [bytes(value[n]).decode("utf-8") if value[n].isValue else None
                      for n in ("userIdentity", "oldPasswd", "newPasswd")]
        except (ValueError, UnicodeDecodeError):
            raise LDAPError(errors.PROTOCOL_ERROR, "Yêu cầu đổi mật khẩu không hợp lệ / malformed password "
                                                   "modify request") from None
        identity, old, new = fields
    if not new:
        raise LDAPError(errors.UNWILLING_TO_PERFORM, "Hãy nhập mật khẩu mới / give the new password (newPasswd): "
                                                     "the system does not choose one for you")
    address = None
    if identity:
        kind, address = bind_target(identity, s)
        if kind != "person":
            raise LDAPError(errors.UNWILLING_TO_PERFORM, "Tài khoản dịch vụ đổi khóa bằng dòng lệnh / service "
                                                         "account secrets are reset with the CLI")
        address = normalise_address(address)
    if old is not None:
        target = address or s.identity.address
        if not target:
            raise LDAPError(errors.UNWILLING_TO_PERFORM, "Thiếu người dùng / no user given")
        checked = await s.app.accounts.authenticate(target, old, protocol="ldap", client_ip=s.peer, secure=s.tls)
        if checked.status not in (AuthStatus.OK, AuthStatus.EXPIRED) or checked.mailbox is None:
            raise LDAPError(errors.INVALID_CREDENTIALS, checked.message or errors.INVALID_CREDENTIALS_TEXT)
        mailbox_id, owner = checked.mailbox.id, checked.mailbox.address
    elif s.identity.kind == "person" and (address is None or address == s.identity.address):
        assert s.identity.mailbox_id is not None
        mailbox_id, owner = s.identity.mailbox_id, s.identity.address
    else:
        raise LDAPError(errors.INSUFFICIENT_ACCESS_RIGHTS, "Chỉ chủ hộp thư đổi được mật khẩu của mình / only the "
                                                           "owner may change a password: bind as them or give "
                                                           "the current password (oldPasswd)")
    try:
        await s.app.accounts.change_password(mailbox_id, new, actor=owner, client=f"ldap {s.peer or '-'}")
    except PasswordRejected as exc:
        await s.result(message, errors.CONSTRAINT_VIOLATION, str(exc), controls=_rejected_control(message, exc))
        return
    await s.result(message, errors.SUCCESS)
