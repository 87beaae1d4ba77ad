"""The API's endpoints for Vietnam's working-day calendar of Điều 4.3 (``congthu/requests/
calendar.py``): the override table the IT Center edits when the government announces a
swapped working day (as ``congthu holiday add|list|remove``), a year's exceptional days,
and the due date of a request filed at a given time.

| path | scope | who |
|---|---|---|
| `GET /calendar/overrides` | requests:read | any console role (the calendar is no secret) |
| `GET /calendar/days?year=` | requests:read | the same |
| `GET /calendar/due?filed_at=` | requests:read | the same |
| `POST /calendar/overrides` | calendar:write | `calendar.manage` (the IT Center's administrators) |
| `DELETE /calendar/overrides/{day}` | calendar:write | `calendar.manage` |

A change is audited (``calendar.override_set``, ``calendar.override_removed``); it acts on
requests filed after it (a filed request keeps its due date, as with the CLI).
"""

from __future__ import annotations

from datetime import UTC, date, timedelta
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Path, Query, Response

from congthu import audit
from congthu.api import models
from congthu.api.callers import Caller, require
from congthu.api.endpoints import BASE, CallerDep, Readers, scoped
from congthu.api.errors import forbidden, from_text, invalid, not_found
from congthu.console import access
from congthu.requests.calendar import (
    CalendarError,
    deadline,
    load_calendar,
    local_day,
    put_override,
    read_overrides,
    remove_override,
)

if TYPE_CHECKING:
    from congthu.app import App

DayP = Annotated[models.Day, Path(description="YYYY-MM-DD")]
FIRST_YEAR, LAST_YEAR = 2000, 2100


def routes(app: App, api: APIRouter, readers: Readers) -> None:
    directory = readers.directory

    async def reader(caller: Caller) -> None:
        """Anyone the console opens for reads the calendar (even a token limited to one
        organisation: the calendar is the whole province's)."""
        if not await access.can(directory, caller.viewer, "console"):
            raise forbidden()

    @api.get(BASE + "/calendar/overrides", response_model=list[models.OverrideOut],
             openapi_extra=scoped("requests:read"), tags=["calendar"],
             summary="Ngày điều chỉnh của lịch làm việc / the calendar's overrides (swapped days)")
    async def overrides(caller: CallerDep) -> list[models.OverrideOut]:
        await reader(caller)
        return [models.OverrideOut.of(o) for o in await app.db.run_read(read_overrides)]

    @api.get(BASE + "/calendar/days", response_model=list[models.DayOut], openapi_extra=scoped("requests:read"),
             tags=["calendar"],
             summary="Ngày nghỉ lễ, ngày làm bù của một năm / a year's holidays, swapped and overridden days")
    async def days(caller: CallerDep, year: Annotated[int, Query(ge=FIRST_YEAR, le=LAST_YEAR)]) -> list[models.DayOut]:
        await reader(caller)
        calendar = await app.db.run_read(load_calendar)
        out = []
        day = date(year, 1, 1)
        while day.year == year:
            working = calendar.is_working_day(day)
            name = calendar.holiday_name(day)
            override = calendar.overrides.get(day)
            if name or override or working == (day.weekday() >= 5):
                out.append(models.DayOut(day=day, working=working, holiday=name, override=override))  # type: ignore[arg-type]
            day += timedelta(days=1)
        return out

    @api.get(BASE + "/calendar/due", response_model=models.DueOut, openapi_extra=scoped("requests:read"),
             tags=["calendar"],
             summary="Hạn xử lý của yêu cầu gửi lúc filed_at (Điều 4.3) / the due date of a request filed then")
    async def due(caller: CallerDep, filed_at: Annotated[models.Moment | None, Query(
            description="ISO 8601 (without a zone: UTC); default now")] = None) -> models.DueOut:
        await reader(caller)
        moment = filed_at or app.accounts.clock()
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
        if not FIRST_YEAR <= moment.year <= LAST_YEAR:  # the years the holidays' lunar calendar covers well
            raise invalid(f"Năm từ {FIRST_YEAR} đến {LAST_YEAR}", f"a year from {FIRST_YEAR} to {LAST_YEAR}",
                          ["query", "filed_at"])
        working_days = app.settings.requests.working_days
        calendar = await app.db.run_read(load_calendar)
        try:
            last = calendar.due_on(moment, working_days)
        except (CalendarError, OverflowError) as exc:
            raise from_text(422, "invalid", str(exc)) from None
        return models.DueOut(filed_at=moment.astimezone(UTC), filed_day=local_day(moment), working_days=working_days,
                             due_on=last, deadline=deadline(last))

    @api.post(BASE + "/calendar/overrides", response_model=models.OverrideOut, status_code=201,
              openapi_extra=scoped("calendar:write"), tags=["calendar"],
              summary="Đặt ngày làm việc hoặc ngày nghỉ / set a day as a working day or a day off")
    async def override_set(caller: CallerDep, body: models.OverrideIn) -> models.OverrideOut:
        await require(app, directory, caller, "calendar.manage", None, "calendar")
        try:
            await app.db.run_write(put_override, body.day, body.kind, body.note, caller.actor[:320],
                                   app.accounts.clock())
        except CalendarError as exc:
            raise from_text(422, "invalid", str(exc)) from None
        await audit.record(app, "calendar.override_set", caller.actor, f"calendar:{body.day.isoformat()}",
                           {"kind": body.kind, "note": body.note}, client=caller.client)
        return models.OverrideOut(day=body.day, kind=body.kind, note=body.note[:300], added_by=caller.actor[:320])

    @api.delete(BASE + "/calendar/overrides/{day}", status_code=204, response_class=Response,
                openapi_extra=scoped("calendar:write"), tags=["calendar"],
                responses={204: {"description": "removed"}},
                summary="Bỏ một ngày điều chỉnh / remove an override")
    async def override_remove(caller: CallerDep, day: DayP) -> Response:
        await require(app, directory, caller, "calendar.manage", None, "calendar")
        if not await app.db.run_write(remove_override, day):
            raise not_found(f"ngày / day {day.isoformat()}")
        await audit.record(app, "calendar.override_removed", caller.actor, f"calendar:{day.isoformat()}", {},
                           client=caller.client)
        return Response(status_code=204)
