"""The API's bulk import of the directory (Điều 10.2: the structure comes from Home
Affairs), as the console's import (``congthu/directory/web_import.py``) with the same
``Importer`` and the same files (XLSX or CSV in the template):

| path | scope | what |
|---|---|---|
| `GET /import/template.xlsx` | orgs:write | the template |
| `POST /import?dry_run=true` | orgs:write | the whole file checked, nothing changed: what would be imported, with the address of Điều 3 and its rule for every new person and organisation |
| `POST /import` | orgs:write | the file checked against the directory as it is, then imported in one transaction |

The file is the part ``file`` of a ``multipart/form-data`` body (its name says .xlsx or
.csv), at most ``web_import.MAX_UPLOAD``. A file with bad rows imports nothing: 422 with
every bad row in ``errors`` as ``["file", <line number>]`` and its reason; a file that
cannot be read at all (not an XLSX, not UTF-8, a zip bomb, missing columns) 422 too. The
one-time passwords go to files per organisation on the server, as the console and
``congthu directory import`` write them, never into the answer. The console's action
``directory.import`` (IT Center administrators), audited as there
(``directory.import_checked``, ``directory.imported``).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, File, Query, UploadFile
from fastapi.responses import Response

from congthu import audit
from congthu.api import directory_models as dm
from congthu.api.callers import require
from congthu.api.endpoints import BASE, CallerDep, Readers, scoped
from congthu.api.errors import ApiError, FieldError, from_text
from congthu.api.routing import upload
from congthu.console.pages import DOWNLOAD_HEADERS
from congthu.directory.importer import Importer, ImportFileError, write_template
from congthu.directory.web_import import MAX_UPLOAD, SHOWN_ROWS, SUFFIXES, summary

if TYPE_CHECKING:
    from congthu.app import App

SCOPE = "orgs:write"
MULTIPART = "multipart/form-data"
FORM_SLACK = 64 * 1024
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def routes(app: App, api: APIRouter, readers: Readers) -> None:
    directory = readers.directory

    @api.get(BASE + "/import/template.xlsx", openapi_extra=scoped(SCOPE), tags=["import"], response_class=Response,
             responses={200: {"content": {XLSX: {"schema": {"type": "string", "format": "binary"}}}}},
             summary="Tệp mẫu nhập danh bạ / the import template")
    async def template(caller: CallerDep) -> Response:
        await require(app, directory, caller, "directory.import", None, "directory:import")
        with tempfile.TemporaryDirectory() as folder:
            data = write_template(Path(folder) / "mau-nhap-danh-ba.xlsx").read_bytes()
        return Response(data, media_type=XLSX, headers={
            **DOWNLOAD_HEADERS, "Content-Disposition": 'attachment; filename="mau-nhap-danh-ba.xlsx"'})

    @api.post(BASE + "/import", response_model=dm.ImportOut,
              openapi_extra={**scoped(SCOPE), **upload(MULTIPART, MAX_UPLOAD + FORM_SLACK)}, tags=["import"],
              summary="Nhập danh bạ từ tệp XLSX, CSV (Điều 10.2) / import the directory from an XLSX or CSV file")
    async def import_file(caller: CallerDep,
                          file: Annotated[UploadFile, File(description="the file in the template: .xlsx, or .csv "
                                                                       "in UTF-8")],
                          dry_run: Annotated[bool, Query(description=dm.DRY_RUN)] = False) -> dm.ImportOut:
        await require(app, directory, caller, "directory.import", None, "directory:import")
        filename = (file.filename or "")[:200]
        suffix = Path(filename).suffix.lower()
        if suffix not in SUFFIXES:
            raise ApiError(422, "invalid", f"Chỉ nhận tệp .xlsx hoặc .csv: {filename}",
                           f"only .xlsx or .csv files: {filename}",
                           errors=[FieldError(loc=["body", "file"], msg="the file's name must end in .xlsx or .csv",
                                              type="value_error")])
        folder = app.data_dir / "nhap-danh-ba"  # the console's: readable by the server only
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(suffix=suffix, prefix="api-", dir=folder)
        path = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := await file.read(1 << 20):
                    out.write(chunk)
            size = path.stat().st_size
            try:
                report = await Importer(app).run(path, dry_run=dry_run)
            except ImportFileError as exc:
                raise from_text(422, "invalid", str(exc)) from None
        finally:
            path.unlink(missing_ok=True)
        shown = summary(directory, report)
        if report.errors:
            count = shown["error_count"]
            raise ApiError(422, "invalid", f"{count} dòng lỗi, không nhập gì", f"{count} bad rows, nothing imported",
                           errors=[FieldError(loc=["file", e["line"]], msg=e["text"], type="row_error")
                                   for e in shown["errors"][:SHOWN_ROWS]])
        files = [str(p.relative_to(app.data_dir)) if p.is_relative_to(app.data_dir) else str(p)
                 for p in report.password_files]
        if dry_run:
            await audit.record(app, "directory.import_checked", caller.actor, "directory:import",
                               {"file": filename, "size": size, **shown["counts"]}, client=caller.client)
        else:
            await audit.record(app, "directory.imported", caller.actor, "directory:import",
                               {"file": filename, **shown["counts"], "password_files": files}, client=caller.client)
        return dm.ImportOut(dry_run=dry_run, filename=filename, counts=dm.ImportCounts(**shown["counts"]),
                            orgs=[dm.ImportedOrg(**o) for o in shown["orgs"]],
                            people=[dm.ImportedPerson(**p) for p in shown["people"]], password_files=files)
