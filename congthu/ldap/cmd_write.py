"""Add, Modify, Delete and ModifyDN (RFC 4511 sections 4.6-4.9): refused with
unwillingToPerform. The directory changes through the console and the CLI, where its
rules (naming of Điều 3, the lifecycle of Điều 4) are applied; LDAP only reads it."""

from __future__ import annotations

from congthu.ldap import errors
from congthu.ldap.errors import LDAPError
from congthu.ldap.messages import Message
from congthu.ldap.session import Session


async def refuse(s: Session, message: Message) -> None:
    raise LDAPError(errors.UNWILLING_TO_PERFORM, errors.WRITES_REFUSED)
