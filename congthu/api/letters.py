"""The API's endpoints for paper requests and their scanned letters (Điều 4.1: a request
may come "bằng văn bản", and the IT Center enters it with the letter scanned), as the
console's request pages do (``congthu.requests.web``) and ``congthu request add
--letter`` / ``congthu request letter``:

| path | scope | the console's action |
|---|---|---|
| `POST /paper-requests` | requests:write | `file` and `paper` on the organisation (the IT Center) |
| `GET /requests/{id}/letters` | requests:read | `read` on the request's organisation |
| `POST /requests/{id}/letters` | requests:write | `paper` (another letter for the request) |
| `GET /requests/{id}/letters/{letter_id}` | requests:read | `read`: the letter, downloaded |

An upload is ``multipart/form-data``: the letter in the part ``letter`` (and, for a new
paper request, the request in the part ``request``: the JSON of ``POST /requests``). The
body is bounded by ``[requests] letter_max_mb`` (and 256 KiB for the other parts, as the
console: ``routing.upload``), the letter checked by its bytes, whatever its name or type
claims (``congthu.requests.letters.check``: PDF, JPEG or PNG, not empty, not larger), and
kept by the workflow (``Requests.file`` with ``source="paper"``, ``attach_letter``), which
write the request's history. A download is served as the console serves it: an
attachment of the type its bytes told, never sniffed or shown inline
(``console.pages.DOWNLOAD_HEADERS``), its reading audited (``request.letter_read``).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError

from congthu.api import models
from congthu.api.callers import require
from congthu.api.endpoints import BASE, ID, CallerDep, Readers, scoped
from congthu.api.errors import ApiError, from_text, not_found, validation_errors
from congthu.api.routing import upload
from congthu.console.pages import DOWNLOAD_HEADERS
from congthu.requests import letters
from congthu.requests.letters import KeptLetter, LetterError
from congthu.requests.workflow import RequestError

if TYPE_CHECKING:
    from congthu.app import App

MULTIPART = "multipart/form-data"
# The other parts of an upload, besides the letter (the console's allowance).
FORM_SLACK = 256 * 1024
LETTER_MEDIA = {media: {"schema": {"type": "string", "format": "binary"}} for media in letters.SUFFIX}


class LetterOut(BaseModel):
    id: int
    request_id: int
    filename: str
    content_type: str
    size: int
    added_by: str
    added_at: datetime
    href: str

    @classmethod
    def of(cls, k: KeptLetter) -> LetterOut:
        return cls(id=k.id, request_id=k.request_id, filename=k.filename, content_type=k.content_type, size=k.size,
                   added_by=k.added_by, added_at=k.added_at, href=f"{BASE}/requests/{k.request_id}/letters/{k.id}")


class PaperRequestOut(models.RequestOut):
    letters: list[LetterOut]


async def checked(app: App, part: UploadFile) -> letters.Letter:
    """The uploaded part as a letter (``letters.check``: 413 larger than allowed, 422 not a
    PDF, JPEG or PNG, or empty)."""
    limit = letters.max_bytes(app)
    data = await part.read(limit + 1)
    if len(data) > limit:
        mb = limit // (1024 * 1024)
        raise ApiError(413, "too_large", f"Tệp công văn lớn quá {mb} MB", f"the letter is larger than {mb} MB")
    try:
        return letters.check(data, part.filename or "", limit)
    except LetterError as exc:
        raise from_text(422, "invalid", str(exc)) from None


def routes(app: App, api: APIRouter, readers: Readers) -> None:
    workflow, directory = readers.workflow, readers.directory
    body_bound = upload(MULTIPART, letters.max_bytes(app) + FORM_SLACK)

    @api.post(BASE + "/paper-requests", response_model=PaperRequestOut, status_code=201,
              openapi_extra={**scoped("requests:write"), **body_bound}, tags=["requests"],
              summary="Yêu cầu bằng văn bản, kèm công văn quét (Điều 4.1) / a paper request with its scanned letter")
    async def file_paper(caller: CallerDep,
                         request: Annotated[str, Form(max_length=200_000, description=(
                             "the request as JSON, exactly the body of POST /requests"))],
                         letter: Annotated[UploadFile, File(description=(
                             "the scanned letter: PDF, JPEG or PNG (by its bytes), at most [requests] "
                             "letter_max_mb"))]) -> PaperRequestOut:
        try:
            body = models.RequestIn.model_validate_json(request)
        except ValidationError as exc:
            if any(e.get("type") == "json_invalid" for e in exc.errors()):
                raise ApiError(400, "bad_json", "Phần request không phải JSON hợp lệ",
                               "the request part is not valid JSON") from None
            raise validation_errors([{**e, "loc": ("body", "request", *e.get("loc", ()))}
                                     for e in exc.errors()]) from None
        org = await readers.org(caller, body.org, "read")
        for action in ("file", "paper"):
            await require(app, directory, caller, action, org.id, f"org:{org.id}")
        scanned = await checked(app, letter)
        try:
            filed = await workflow.file(
                body.kind, org.id, filed_by=caller.viewer.address, source="paper",
                names="\n".join(f"{n.name}; {n.title}" if n.title else n.name for n in body.names),
                mailbox_kind=body.mailbox_kind, target=body.target, new_name=body.new_name, note=body.note,
                letter=scanned)
        except RequestError as exc:
            raise from_text(422, "invalid", str(exc)) from None
        out = models.RequestOut.of(filed, workflow.now())
        return PaperRequestOut(**out.model_dump(), letters=[
            LetterOut.of(k) for k in await workflow.letters_of(filed.id)])

    @api.get(BASE + "/requests/{request_id}/letters", response_model=list[LetterOut],
             openapi_extra=scoped("requests:read"), tags=["requests"],
             summary="Công văn quét của yêu cầu / the scanned letters of a request")
    async def letters_list(caller: CallerDep, request_id: ID) -> list[LetterOut]:
        found = await readers.request(caller, request_id)
        return [LetterOut.of(k) for k in await workflow.letters_of(found.id)]

    @api.post(BASE + "/requests/{request_id}/letters", response_model=LetterOut, status_code=201,
              openapi_extra={**scoped("requests:write"), **body_bound}, tags=["requests"],
              summary="Thêm công văn quét vào yêu cầu / attach another scanned letter to a request")
    async def letter_add(caller: CallerDep, request_id: ID,
                         letter: Annotated[UploadFile, File(description=(
                             "the scanned letter: PDF, JPEG or PNG (by its bytes)"))]) -> LetterOut:
        found = await readers.request(caller, request_id)
        await require(app, directory, caller, "paper", found.org_id, f"request:{found.id}")
        scanned = await checked(app, letter)
        try:
            return LetterOut.of(await workflow.attach_letter(found.id, scanned, caller.viewer.address))
        except RequestError:  # deleted meanwhile
            raise not_found() from None

    @api.get(BASE + "/requests/{request_id}/letters/{letter_id}", openapi_extra=scoped("requests:read"),
             tags=["requests"], response_class=Response, responses={200: {"content": LETTER_MEDIA}},
             summary="Tải công văn quét (tệp đính kèm) / download a scanned letter (as an attachment)")
    async def letter_download(caller: CallerDep, request_id: ID, letter_id: ID) -> Response:
        found = await readers.request(caller, request_id)
        kept = await workflow.letter_of(found.id, letter_id)
        if kept is None:
            raise not_found("công văn / letter")
        data = await workflow.letter_bytes(kept, caller.actor)
        # Never shown in a browser's page: a download, of the type its bytes told.
        return Response(data, media_type=kept.content_type, headers={
            **DOWNLOAD_HEADERS, "Content-Disposition": f'attachment; filename="{kept.download_name}"'})
