"""Bulk import of the directory in the console (``/quan-tri/danh-ba/nhap``, issue 15;
Điều 10.2: the structure comes from Home Affairs), with the same ``Importer`` as
``congthu directory import``:

1. the administrator uploads the spreadsheet (XLSX or CSV in the template,
   ``/quan-tri/danh-ba/nhap/mau.xlsx``);
2. the whole file is checked (a dry run): every bad row shown against the file's line
   number, else what would change (new organisations and people with the address of
   Điều 3 and its rule, people updated); nothing has changed yet;
3. on confirmation the file is imported in one transaction, checked again against the
   directory as it is then; the one-time passwords go to files per organisation on the
   server (as the CLI writes them), never to the page.

A hostile file gets a clear error and changes nothing: a name that is not .xlsx or .csv,
a body over ``MAX_UPLOAD`` (refused from its Content-Length, before it is read), an XLSX
that is no zip or unpacks to too much, a CSV that is not UTF-8 text, formulas instead of
values (``importer.formula_errors``). The upload is kept under the data directory,
readable by the server only, named after the uploader (only they confirm it), and
removed once imported or after ``UPLOAD_HOURS``.

Administrators only (``directory.import``); for anyone else the page does not exist
(404) and a POST is 403, audited.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from congthu import audit
from congthu.console.access import Viewer
from congthu.console.pages import DOWNLOAD_HEADERS
from congthu.directory.directory import Directory
from congthu.directory.importer import Importer, ImportFileError, ImportReport, write_template
from congthu.directory.pages import IMPORT, DirectoryPages
from congthu.webmail.context import Signed

MAX_UPLOAD = 20 * 1024 * 1024  # 50,000 people in CSV are some 5 MB
UPLOAD_HOURS = 24
SUFFIXES = (".xlsx", ".csv")
SHOWN_ROWS = 1000  # rows listed in the preview; the counts are always whole
_TOKEN = re.compile(r"^[0-9a-f]{32}$")


def _folder(pages: DirectoryPages) -> Path:
    folder = pages.app.data_dir / "nhap-danh-ba"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def _forget_old(folder: Path) -> None:
    cutoff = time.time() - UPLOAD_HOURS * 3600
    for path in folder.iterdir():
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except OSError:
            continue


def _upload_of(pages: DirectoryPages, viewer: Viewer, token: str) -> Path | None:
    """The viewer's own upload of this token, if it is still there."""
    if not _TOKEN.match(token):
        return None
    for suffix in SUFFIXES:
        path = _folder(pages) / f"{viewer.mailbox_id}-{token}{suffix}"
        if path.is_file():
            return path
    return None


def summary(directory: Directory, report: ImportReport) -> dict[str, Any]:
    """What the page (and the API, ``congthu.api.imports``) shows of a report: the errors
    by line, the new organisations and people with the address Điều 3 gives them and why."""
    errors = sorted(report.errors)
    full = directory.full
    return {
        "errors": [{"line": line, "text": text} for line, text in errors[:SHOWN_ROWS]],
        "error_count": len(errors),
        "orgs": [{"line": o.line, "name": o.name, "address": full(o.local),
                  "rule": o.proposal.explain() if o.proposal else ""} for o in report.new_orgs[:SHOWN_ROWS]],
        "people": [{"line": p.line, "name": p.name.full, "address": full(p.proposal.local) if p.proposal else "",
                    "rule": p.proposal.explain() if p.proposal else ""} for p in report.new_people[:SHOWN_ROWS]],
        "counts": {"orgs": len(report.new_orgs), "people": len(report.new_people),
                   "updated": len(report.updated_people)},
    }


TOO_LARGE = (f"Tệp lớn quá {MAX_UPLOAD // (1024 * 1024)} MB / the file is larger than "
             f"{MAX_UPLOAD // (1024 * 1024)} MB")


async def _read_upload(request: Request) -> tuple[dict[str, str], UploadFile | None] | tuple[int, str]:
    """The multipart form (its fields, the file), or the status and reason it cannot be
    read. A body larger than allowed is refused from its Content-Length, unread."""
    length = request.headers.get("content-length", "")
    if not length.isdigit():
        return 411, "Thiếu độ dài tệp / the upload must say its length (Content-Length)"
    if int(length) > MAX_UPLOAD + 64 * 1024:
        return 413, TOO_LARGE
    try:
        form = await request.form(max_files=1, max_fields=10, max_part_size=64 * 1024)
    except Exception:  # a malformed body, too many parts
        return 400, "Không đọc được biểu mẫu / the form cannot be read"
    fields: dict[str, str] = {}
    upload: UploadFile | None = None
    for key, value in form.multi_items():
        if isinstance(value, str):
            fields.setdefault(key, value[:200])
        elif key == "tep" and value.filename:
            upload = value
    return fields, upload


def import_routes(pages: DirectoryPages) -> APIRouter:
    api = APIRouter()
    app = pages.app

    def summary_of(report: ImportReport) -> dict[str, Any]:
        return summary(pages.directory, report)

    async def show(request: Request, signed: Signed, *, status: int = 200, **extra: Any) -> Response:
        context: dict[str, Any] = {"error": "", "preview": None, "token": "", "done": None, "files": [],
                                   "filename": "", "max_mb": MAX_UPLOAD // (1024 * 1024)}
        context.update(extra)
        return pages.page(request, signed, "dir_import.html", context, status)

    async def admitted(request: Request, post: bool) -> tuple[Signed, Viewer] | Response:
        """The gate: a page exists for administrators only (404); a POST from another
        console user reaches the one check (``allowed``: 403, audited)."""
        visit = await pages.visit(request, pages.opening(None if post else "directory.import"))
        if isinstance(visit, Response):
            return visit
        return visit.signed, visit.viewer

    @api.get(IMPORT)
    async def import_page(request: Request) -> Response:
        entered = await admitted(request, post=False)
        if isinstance(entered, Response):
            return entered
        return await show(request, entered[0])

    @api.get(IMPORT + "/mau.xlsx")
    async def template(request: Request) -> Response:
        entered = await admitted(request, post=False)
        if isinstance(entered, Response):
            return entered
        with tempfile.TemporaryDirectory() as folder:
            data = write_template(Path(folder) / "mau-nhap-danh-ba.xlsx").read_bytes()
        return Response(data, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={**DOWNLOAD_HEADERS,
                                 "Content-Disposition": 'attachment; filename="mau-nhap-danh-ba.xlsx"'})

    @api.post(IMPORT)
    async def upload(request: Request) -> Response:
        entered = await admitted(request, post=True)
        if isinstance(entered, Response):
            return entered
        signed, viewer = entered
        read = await _read_upload(request)
        if isinstance(read[0], int):
            return await show(request, signed, status=read[0], error=str(read[1]))
        fields, file = read
        if not pages.web.form_ok(request, signed.session.secret, fields.get("csrf", "")):
            return pages.error(request, signed, "form.expired", 403)
        refused = await pages.allowed(request, signed, viewer, "directory.import", None, "directory:import")
        if refused is not None:
            return refused
        if file is None:
            return await show(request, signed, status=400, error="Chưa chọn tệp / no file chosen")
        filename = (file.filename or "")[:200]
        suffix = Path(filename).suffix.lower()
        if suffix not in SUFFIXES:
            return await show(request, signed, status=400, filename=filename,
                              error=f"Chỉ nhận tệp .xlsx hoặc .csv / only .xlsx or .csv files: {filename}")
        folder = _folder(pages)
        _forget_old(folder)
        token = secrets.token_hex(16)
        path = folder / f"{viewer.mailbox_id}-{token}{suffix}"
        size = 0
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            while chunk := await file.read(1 << 20):
                size += len(chunk)
                if size > MAX_UPLOAD:
                    break
                out.write(chunk)
        if size > MAX_UPLOAD:
            path.unlink(missing_ok=True)
            return await show(request, signed, status=413, filename=filename, error=TOO_LARGE)
        try:
            report = await Importer(app).run(path, dry_run=True)
        except ImportFileError as exc:
            path.unlink(missing_ok=True)
            return await show(request, signed, status=400, filename=filename, error=str(exc))
        summary = summary_of(report)
        if report.errors:
            path.unlink(missing_ok=True)
            return await show(request, signed, status=400, filename=filename, preview=summary)
        await audit.record(app, "directory.import_checked", viewer.address, "directory:import",
                           {"file": filename, "size": size, **summary["counts"]})
        return await show(request, signed, filename=filename, preview=summary, token=token)

    @api.post(IMPORT + "/xac-nhan")
    async def confirm(request: Request) -> Response:
        entered = await admitted(request, post=True)
        if isinstance(entered, Response):
            return entered
        signed, viewer = entered
        form = await pages.posted(request, signed)
        if isinstance(form, Response):
            return form
        refused = await pages.allowed(request, signed, viewer, "directory.import", None, "directory:import")
        if refused is not None:
            return refused
        token = (form.get("token") or [""])[0]
        filename = (form.get("filename") or [""])[0][:200]
        path = _upload_of(pages, viewer, token)
        if path is None:
            return await show(request, signed, status=410, error=pages.translator("vi")("imp.gone")
                              + " / " + pages.translator("en")("imp.gone"))
        try:
            report = await Importer(app).run(path)
        except ImportFileError as exc:
            return await show(request, signed, status=400, filename=filename, error=str(exc))
        finally:
            path.unlink(missing_ok=True)
        summary = summary_of(report)
        if report.errors:  # the directory changed since the preview
            return await show(request, signed, status=409, filename=filename, preview=summary)
        files = [str(p.relative_to(app.data_dir)) if p.is_relative_to(app.data_dir) else str(p)
                 for p in report.password_files]
        await audit.record(app, "directory.imported", viewer.address, "directory:import",
                           {"file": filename, **summary["counts"], "password_files": files})
        return await show(request, signed, filename=filename, done=summary["counts"], files=files)

    return api
