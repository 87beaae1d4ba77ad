"""The inputs and outputs of the API's changes to the directory (``people.py``,
``reorganise.py``, ``imports.py``), as Pydantic models in the style of ``models.py``:
inputs forbid unknown fields and bound every text and list; outputs are made from the
directory's records."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictBool

from congthu.api.models import ADDRESS, LINE, Day, Input, OrgOut, PersonOut
from congthu.directory import Proposal
from congthu.mailrules.leaver import Handover

ID = Annotated[int, Field(ge=1, le=2_147_483_647)]
Name = Annotated[str, Field(min_length=1, max_length=300, pattern=LINE)]
DRY_RUN = "true: only show what would happen (nothing changes); false: carry it out"


# -- people (Điều 3, 4.5) ---------------------------------------------------------------------


class ProposalOut(BaseModel):
    """The address the naming engine of Điều 3 gives, and why."""

    address: str
    rule: str = Field(description="the rule of article 3 applied (Điều 3.2, Điều 3.3b...)")
    reason: str
    clash_with: str | None = Field(description="the address (and its holder) the plain form clashed with")
    needs_decision: bool = Field(description="the IT Center must confirm or choose another address (3.3c)")
    notes: list[str]
    explanation: str = Field(description="all of it in one line, as the console shows it")

    @classmethod
    def of(cls, proposal: Proposal, address: str) -> ProposalOut:
        return cls(address=address, rule=proposal.rule, reason=proposal.reason, clash_with=proposal.clash_with,
                   needs_decision=proposal.needs_decision, notes=list(proposal.notes),
                   explanation=proposal.explain())


class PersonIn(Input):
    name: Name = Field(description="full name, Vietnamese with its accents")
    title: str = Field("", max_length=200, pattern=LINE)
    rank: int | None = Field(None, ge=1, le=99, description="leadership rank: 1 highest (Điều 3.3a); none if absent")
    address: str | None = Field(None, min_length=1, max_length=64, pattern=ADDRESS, description=(
        "another address than the rules' (Điều 3.3c): IT Center administrators only"))
    expected_address: str | None = Field(None, min_length=1, max_length=320, pattern=ADDRESS, description=(
        "the address the proposal showed: if another would be given now, 409 and nothing is made"))


class PersonAddedOut(BaseModel):
    person: PersonOut
    proposal: ProposalOut
    password: str = Field(description="the mailbox's one-time password, shown once (changed at first sign-in)")


class PersonRenameIn(Input):
    name: Name


class PersonRenamedOut(BaseModel):
    person: PersonOut
    proposal: ProposalOut
    old_address: str = Field(description="kept as an alias of the same mailbox for good")


class DepartureIn(Input):
    successor: str = Field("", max_length=320, pattern=ADDRESS, description=(
        "who takes over (an address); an organisation manager's must be in an organisation they manage"))
    forward: StrictBool = Field(False, description="forward new mail to the successor (a copy kept)")
    reply: StrictBool = Field(False, description="answer new mail naming the successor and the organisation's address")
    until: Day | None = Field(None, description="last day of forwarding and reply (default: 90 days)")


class HandoverOut(BaseModel):
    successor: str
    forward: bool
    reply: bool
    until: Day
    organisation: str

    @classmethod
    def of(cls, h: Handover) -> HandoverOut:
        return cls(successor=h.successor, forward=h.forward, reply=h.reply, until=h.until,
                   organisation=h.organisation)


class DepartureOut(BaseModel):
    person: PersonOut
    handover: HandoverOut | None


# -- reorganisation (Điều 2.5, 3.1) --------------------------------------------------------------


class OrgRenameIn(Input):
    name: Name
    dry_run: StrictBool = Field(False, description=DRY_RUN)


class OrgMergeIn(Input):
    into: ID = Field(description="the organisation that takes in this one")
    dry_run: StrictBool = Field(False, description=DRY_RUN)


class OrgSplitIn(Input):
    name: Name = Field(description="the new organisation's name")
    units: list[ID] = Field(default_factory=list, max_length=500, description="direct sub-units that move")
    people: list[ID] = Field(default_factory=list, max_length=5000, description="its people who move")
    dry_run: StrictBool = Field(False, description=DRY_RUN)


class OrgDissolveIn(Input):
    successor: ID | None = Field(None, description="takes the address, people and mail; without one the "
                                                   "organisation must be empty")
    dry_run: StrictBool = Field(False, description=DRY_RUN)


class AddressChange(BaseModel):
    old: str
    new: str


class ReorganisationOut(BaseModel):
    action: Literal["rename", "merge", "split", "dissolve"]
    dry_run: bool
    lines: list[str] = Field(description="what happens (happened) to every address, person, unit and mailbox")
    org: OrgOut = Field(description="the organisation as it is now (for a merge, the one it went into)")
    changed: list[AddressChange] = Field(description="addresses changed (empty for a dry run)")
    new_org: OrgOut | None = Field(None, description="split: the new organisation")
    password: str | None = Field(None, description="split: its mailbox's one-time password, shown once")


# -- bulk import (Điều 10.2) -------------------------------------------------------------------------


class ImportedOrg(BaseModel):
    line: int
    name: str
    address: str
    rule: str


class ImportedPerson(BaseModel):
    line: int
    name: str
    address: str
    rule: str


class ImportCounts(BaseModel):
    orgs: int
    people: int
    updated: int


class ImportOut(BaseModel):
    dry_run: bool
    filename: str
    counts: ImportCounts
    orgs: list[ImportedOrg] = Field(description="new organisations (the first 1000)")
    people: list[ImportedPerson] = Field(description="new people with their address of article 3 (the first 1000)")
    password_files: list[str] = Field(description="one-time password files per organisation, on the server "
                                                  "(under the data directory), never in the answer")
