"""The API's errors and the JSON they become: RFC 9457 problem details
(``application/problem+json``) with a stable ``code`` for programs and a ``detail`` in
Vietnamese then English for people; never a traceback.

| status | code | when |
|---|---|---|
| 400 | `bad_json` | the body is not JSON |
| 400 | `bad_multipart` | an upload (``multipart/form-data``) without its boundary |
| 401 | `unauthorized` | no token, an unknown, expired or revoked one, or its owner no longer active (RFC 6750 section 3) |
| 403 | `insufficient_scope` | the token lacks the endpoint's scope (RFC 6750 section 3.1) |
| 403 | `forbidden` | the owner's rights (the console's check) or the token's organisation do not allow it |
| 404 | `not_found` | no such thing, or one the caller may not read (the same answer) |
| 405 | `method_not_allowed` | |
| 409 | `conflict` | the request is not in a state the action may start from |
| 413 | `too_large` | the body is larger than `api.max_body_kib` |
| 415 | `unsupported_media_type` | a body that is not `application/json` |
| 422 | `invalid` | well-formed JSON or parameters that break the rules (each in `errors`) |
| 429 | `rate_limited` | over `api.calls_per_minute` (Retry-After says when to come back) |
| 503 | `unavailable` | the database is busy, or the PDF fonts are missing |
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

MEDIA = "application/problem+json"
TITLES = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    409: "Conflict", 413: "Content Too Large", 415: "Unsupported Media Type", 422: "Unprocessable Content",
    429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable",
}


class FieldError(BaseModel):
    """One input that breaks a rule: where (``["body", "names", 0, "name"]``) and why."""

    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(default="about:blank", description="RFC 9457: always about:blank (the status says it)")
    title: str = Field(description="the HTTP status's phrase")
    status: int
    code: str = Field(description="stable, for programs: not_found, insufficient_scope, invalid...")
    detail: str = Field(description="Vietnamese / English, for people")
    errors: list[FieldError] = Field(default_factory=list)


class ApiError(Exception):
    """An answer other than success; ``response()`` is what the client gets."""

    def __init__(self, status: int, code: str, vi: str, en: str, *, errors: list[FieldError] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{vi} / {en}")
        self.status = status
        self.code = code
        self.detail = f"{vi} / {en}"
        self.errors = errors or []
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        return problem(self.status, self.code, self.detail, self.errors, self.headers)


def problem(status: int, code: str, detail: str, errors: list[FieldError] | None = None,
            headers: dict[str, str] | None = None) -> JSONResponse:
    body = Problem(title=TITLES.get(status, "Error"), status=status, code=code, detail=detail, errors=errors or [])
    return JSONResponse(body.model_dump(mode="json"), status_code=status, media_type=MEDIA,
                        headers={"Cache-Control": "no-store", **(headers or {})})


def not_found(what: str = "") -> ApiError:
    suffix = f": {what}" if what else ""
    return ApiError(404, "not_found", f"Không tìm thấy{suffix}", f"not found{suffix}")


def forbidden() -> ApiError:
    return ApiError(403, "forbidden", "Không có quyền làm việc này", "not allowed for this token and its owner")


def invalid(vi: str, en: str, loc: list[str | int] | None = None) -> ApiError:
    """A rule of the owner's function broken (its text is already "vi / en")."""
    return ApiError(422, "invalid", vi, en, errors=[FieldError(loc=loc or ["body"], msg=f"{vi} / {en}",
                                                               type="value_error")])


def from_text(status: int, code: str, text: str) -> ApiError:
    """An error from an owner's exception, whose text is already "Vietnamese / English"."""
    vi, _sep, en = text.partition(" / ")
    return ApiError(status, code, vi, en or vi)


def validation_errors(raw: list[dict[str, Any]]) -> ApiError:
    """FastAPI's validation errors as one problem: 400 if the body was not JSON, else 422."""
    if any(e.get("type") == "json_invalid" for e in raw):
        return ApiError(400, "bad_json", "Nội dung không phải JSON hợp lệ", "the body is not valid JSON")
    errors = [FieldError(loc=[p if isinstance(p, int) else str(p) for p in e.get("loc", ())],
                         msg=str(e.get("msg", ""))[:300], type=str(e.get("type", ""))) for e in raw[:50]]
    return ApiError(422, "invalid", "Dữ liệu không hợp lệ", "invalid input", errors=errors)
