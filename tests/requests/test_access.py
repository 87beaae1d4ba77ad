"""The console's one authorisation check (``access.can``) as a matrix over real role
grants: administrators everything, supervisors read, organisation managers their
organisation and its sub-units only, the one-time passwords for the organisation's
managers alone, plain officials nothing; administrators without TOTP are held at the
enrolment page."""

from __future__ import annotations

from congthu.accounts import roles
from congthu.app import App
from congthu.console import access
from congthu.directory import Directory
from congthu.requests.workflow import Requests

ACTIONS = ("read", "file", "start", "done", "refuse", "passwords")


async def test_matrix(app: App) -> None:
    d = Directory(app)
    org, _p, _pw = await d.add_org("Sở Tư pháp")
    unit, _p, _pw = await d.add_org("Phòng Hành chính", parent=org.id)
    other, _p, _pw = await d.add_org("Sở Y tế")
    domain = app.settings.system.domain
    ids = {}
    for name in ("admin", "supervisor", "manager", "unit_manager", "stranger", "official"):
        ids[name] = (await app.store.create_mailbox(f"{name.replace('_', '')}@{domain}", name)).id
    await roles.grant(app, ids["admin"], roles.ADMIN)
    await roles.grant(app, ids["supervisor"], roles.SUPERVISOR)
    await roles.grant(app, ids["manager"], roles.ORG_MANAGER, org.id)
    await roles.grant(app, ids["unit_manager"], roles.ORG_MANAGER, unit.id)
    await roles.grant(app, ids["stranger"], roles.ORG_MANAGER, other.id)
    workflow = Requests(app)
    expected = {
        # (viewer, organisation): actions allowed
        ("admin", org.id): {"read", "file", "start", "done", "refuse"},
        ("supervisor", org.id): {"read"},
        ("manager", org.id): {"read", "file", "passwords"},
        ("manager", unit.id): {"read", "file", "passwords"},  # a parent's manager manages its units
        ("unit_manager", unit.id): {"read", "file", "passwords"},
        ("unit_manager", org.id): set(),
        ("stranger", org.id): set(),
        ("stranger", unit.id): set(),
        ("official", org.id): set(),
    }
    for (who, org_id), allowed in expected.items():
        viewer = await access.viewer_of(app, ids[who], who)
        got = {a for a in ACTIONS if await access.can(workflow, viewer, a, org_id)}
        assert got == allowed, (who, org_id, got)
        assert await access.can(workflow, viewer, "console") == (who != "official")
        assert not await access.can(workflow, viewer, "anything-else", org_id)
    admin = await access.viewer_of(app, ids["admin"], "admin")
    assert await access.needs_second_factor(app, admin)
    supervisor = await access.viewer_of(app, ids["supervisor"], "supervisor")
    assert not await access.needs_second_factor(app, supervisor)
