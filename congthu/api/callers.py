"""Who calls the API and what they may do: a token becomes the console's ``Viewer`` of its
owner (``congthu.console.access.viewer_of``), and every action is decided by the
console's one check (``access.can`` over ``accounts.roles.decide``), narrowed by the
token: its scopes (checked per endpoint before anything else is read) and its
organisation (the target must be that organisation or one of its sub-units). A token
therefore holds at most its owner's rights, and the console and the API cannot disagree.

A refused action is written to the audit trail by the console's ``access.refused``.
The rate limits are in ``limits.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from congthu.api.errors import ApiError, forbidden
from congthu.api.tokens import ACTIVE, EXPIRED, Token, Tokens
from congthu.console import access
from congthu.console.access import OrgChains, Viewer

if TYPE_CHECKING:
    from congthu.app import App

REALM = 'Bearer realm="congthu-api"'


@dataclass(frozen=True)
class Caller:
    token: Token
    viewer: Viewer
    client: str

    @property
    def actor(self) -> str:
        """Who the audit trail and the workflow's history name: the owner, through the token."""
        return f"{self.viewer.address} (api:{self.token.name})"


def unauthorized(vi: str, en: str, error: str = "invalid_token") -> ApiError:
    header = REALM if not error else f'{REALM}, error="{error}"'
    return ApiError(401, "unauthorized", vi, en, headers={"WWW-Authenticate": header})


async def authenticate(app: App, tokens: Tokens, authorization: str, client: str) -> Caller:
    """The caller of an ``Authorization: Bearer <token>`` header (RFC 6750 section 2.1);
    ApiError 401 for anything else."""
    scheme, _sep, value = authorization.strip().partition(" ")
    if not authorization.strip():
        raise unauthorized("Cần mã truy cập (Authorization: Bearer ...)", "a token is required "
                           "(Authorization: Bearer ...)", error="")
    if scheme.lower() != "bearer" or not value.strip():
        raise unauthorized("Chỉ nhận Authorization: Bearer", "only Authorization: Bearer is accepted",
                           error="invalid_request")
    token = await tokens.find(value.strip())
    if token is None:
        raise unauthorized("Mã truy cập không đúng", "unknown token")
    state = token.state(tokens.now())
    if state != ACTIVE:
        if state == EXPIRED:
            raise unauthorized("Mã truy cập đã hết hạn", "the token has expired")
        raise unauthorized("Mã truy cập đã bị thu hồi", "the token has been revoked")
    owner = await app.store.get_mailbox_by_id(token.owner_id)
    if owner is None or owner.status != "active":
        raise unauthorized("Chủ sở hữu mã truy cập không còn hoạt động", "the token's owner is no longer active")
    return Caller(token, await access.viewer_of(app, owner.id, owner.address), client)


async def within_token_org(orgs: OrgChains, caller: Caller, org_id: int | None) -> bool:
    """The token's organisation limit: the target is that organisation or one of its
    sub-units (a token limited to one organisation never acts on the whole system)."""
    if caller.token.org_id is None:
        return True
    if org_id is None:
        return False
    return caller.token.org_id in await orgs.org_chain(org_id)


async def can(orgs: OrgChains, caller: Caller, action: str, org_id: int | None = None) -> bool:
    """The console's one check (``access.can``) and the token's organisation."""
    return await access.can(orgs, caller.viewer, action, org_id) and await within_token_org(orgs, caller, org_id)


async def require(app: App, orgs: OrgChains, caller: Caller, action: str, org_id: int | None, target: str) -> None:
    """Return if allowed; else audit the refusal (the console's ``access.refused``) and
    raise 403."""
    if await can(orgs, caller, action, org_id):
        return
    await access.refused(app, caller.viewer, action, f"{target} (api:{caller.token.name})")
    raise forbidden()
