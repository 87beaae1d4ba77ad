"""The API's endpoints for its own tokens, as the console's page (``/quan-tri/api``,
``pages.py``) and ``congthu api token create|list|revoke`` (``cli.py``) through the same
``tokens.Tokens`` (its rules for names, scopes, days and owners; audited
``api.token_created``, ``api.token_revoked``):

| path | scope | what |
|---|---|---|
| `GET /tokens` | tokens:manage | the tokens within the caller's reach |
| `POST /tokens` | tokens:manage | make one; its secret is in the answer, once |
| `DELETE /tokens/{id}` | tokens:manage | revoke one at once |

The one check is the console's (``api.tokens``: ``roles.manage``, IT Center
administrators), decided on the new token's organisation: ``callers.require`` then also
holds it within the caller's own organisation limit. And a token never makes a token
with more than it has itself, since tokens made by tokens could otherwise widen or
outlive what an administrator gave:

* the new token's **scopes** are a subset of the caller's (``tokens:manage`` included:
  a token without it cannot call here at all);
* its **organisation** is the caller's or one of its sub-units when the caller is
  limited to one (a token limited to an organisation never makes an unlimited one);
  unlimited callers may make either;
* its **owner** is the caller's owner (no ``owner`` field: the console lets an
  administrator name another owner, but a token naming one would carry that owner's
  rights, such as an organisation manager's one-time passwords, which its own owner
  does not hold);
* its **expiry** is no later than the caller's (``days`` defaults to ``api.token_days``
  cut to what the caller has left).

The tokens a caller lists and revokes are those it could have made: scopes within its
own, organisation within its limit; others are 404 like tokens that do not exist.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Response
from pydantic import Field

from congthu.api import models
from congthu.api.callers import Caller, can, require
from congthu.api.endpoints import BASE, ID, CallerDep, Readers, scoped
from congthu.api.errors import from_text, invalid, not_found
from congthu.api.tokens import ACTIVE, Token, TokenError, Tokens

if TYPE_CHECKING:
    from congthu.app import App

NO_CONTENT: dict[int | str, dict[str, Any]] = {204: {"description": "revoked"}}
ACTION = "api.tokens"


class TokenIn(models.Input):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]*$",
                      description="what it is for, e.g. hr-system")
    scopes: list[Annotated[str, Field(max_length=64)]] = Field(min_length=1, max_length=32, description=(
        "a subset of the calling token's scopes"))
    org: int | None = Field(None, ge=1, le=2_147_483_647, description=(
        "limit it to this organisation and its sub-units (required when the caller is limited to one)"))
    days: int | None = Field(None, ge=1, le=36_500, description=(
        "days valid: default api.token_days, never past the calling token's expiry"))
    description: str = Field("", max_length=200, pattern=models.TEXT)


class TokenListed(models.TokenOut):
    state: str = Field(description="active, expired or revoked")


class TokenMade(models.TokenOut):
    secret: str = Field(description="the token itself: shown this once, never again (only its SHA-256 is kept)")


def routes(app: App, api: APIRouter, readers: Readers) -> None:
    directory = readers.directory
    tokens = Tokens(app)

    async def owner_of(t: Token) -> str:
        owner = await app.store.get_mailbox_by_id(t.owner_id)
        return owner.address if owner else str(t.owner_id)

    async def within_reach(caller: Caller, t: Token) -> bool:
        """Could the caller have made ``t``? (Its scopes within the caller's, its
        organisation within the caller's limit.)"""
        return set(t.scopes) <= set(caller.token.scopes) and await can(directory, caller, ACTION, t.org_id)

    async def opened(caller: Caller) -> None:
        """The console's check on what the caller manages: its own organisation, or the
        whole system (403, audited)."""
        await require(app, directory, caller, ACTION, caller.token.org_id, "api-tokens")

    @api.get(BASE + "/tokens", response_model=list[TokenListed], openapi_extra=scoped("tokens:manage"),
             tags=["token"], summary="Các mã truy cập / the API's tokens (those within the caller's reach)")
    async def listing(caller: CallerDep) -> list[TokenListed]:
        await opened(caller)
        now = tokens.now()
        return [TokenListed(**models.TokenOut.of(t, await owner_of(t)).model_dump(), state=t.state(now))
                for t in await tokens.listing() if await within_reach(caller, t)]

    @api.post(BASE + "/tokens", response_model=TokenMade, status_code=201, openapi_extra=scoped("tokens:manage"),
              tags=["token"], summary="Tạo mã truy cập (hiện một lần) / make a token (its secret shown once)")
    async def create(caller: CallerDep, body: TokenIn) -> TokenMade:
        await opened(caller)
        wider = sorted({s.strip().lower() for s in body.scopes} - set(caller.token.scopes))
        if wider:
            raise invalid(f"Mã mới không thể có phạm vi mà mã đang dùng không có: {', '.join(wider)}",
                          f"a token cannot give scopes it does not hold: {', '.join(wider)}", ["body", "scopes"])
        org = body.org if body.org is not None else caller.token.org_id
        if org is not None:
            org = (await readers.org(caller, org, ACTION)).id
        await require(app, directory, caller, ACTION, org, f"org:{org}" if org else "api-tokens")
        days = body.days
        left = (caller.token.expires_at - tokens.now()) // timedelta(days=1)
        if days is None:
            days = min(app.settings.api.token_days, left)
        if days < 1 or days > left:
            raise invalid(f"Mã mới không thể hết hạn sau mã đang dùng (còn {max(left, 0)} ngày)",
                          f"a token cannot outlive the calling token ({max(left, 0)} whole days left)",
                          ["body", "days"])
        try:
            made, secret = await tokens.create(body.name, body.scopes, owner=caller.viewer.address,
                                               actor=caller.actor, org=org, days=days, description=body.description,
                                               made_by_token=caller.token.id)
        except TokenError as exc:
            raise from_text(422, "invalid", str(exc)) from None
        return TokenMade(**models.TokenOut.of(made, caller.viewer.address).model_dump(), secret=secret)

    @api.delete(BASE + "/tokens/{token_id}", status_code=204, response_class=Response,
                openapi_extra=scoped("tokens:manage"), tags=["token"], responses=NO_CONTENT,
                summary="Thu hồi mã truy cập ngay / revoke a token at once")
    async def revoke(caller: CallerDep, token_id: ID) -> Response:
        await opened(caller)
        found = next((t for t in await tokens.listing() if t.id == token_id), None)
        if found is None or not await within_reach(caller, found):
            raise not_found("mã truy cập / token")
        if found.state(tokens.now()) != ACTIVE or not await tokens.revoke(found.id, actor=caller.actor):
            raise not_found("mã truy cập đang hiệu lực / active token")
        return Response(status_code=204)
