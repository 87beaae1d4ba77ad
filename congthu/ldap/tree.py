"""The directory information tree, built from the directory (issue 16):

    dc=soctrang,dc=gov,dc=vn                 (from system.domain, or ldap.base_dn)
      ou=people       uid=<local part>       inetOrgPerson: uid, cn, sn, givenName,
                                             displayName, mail, o, ou, title,
                                             telephoneNumber (when published), memberOf
      ou=organizations ou=<local part>       each organisation under its parent, as in
                                             the directory: cn, ou, displayName, mail
      ou=groups       cn=<local part>        groupOfNames per organisation: its people
        ou=roles      cn=<role>              groupOfNames per role (admin, supervisor,
                                             org_manager): seen by service accounts only
      ou=services     cn=<name>              service accounts (``congthu service add``)

The tree is read through the directory's public functions (``Directory.list_orgs``,
``people_in_chunks``) and ``Accounts.list_services``, never their tables, and kept by
the server (``TreeCache``, one per App) until the directory changes (``Directory.generation``,
read at most once every CHECK_SECONDS): a bind never uses it, so a password change or a
departure acts at once; a new person appears in searches within CHECK_SECONDS.

Who sees what: the root DSE and the subschema entry are public (tools discover the
server with them); a bound person or service account sees the fields of
``directory.public_fields`` (name, title, organisation, address, phone) of every entry,
and a person all of their own entry; a service account with a grant (``grants.py``)
sees only its organisations and attributes; ``userPassword`` is never an attribute of
anything.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from typing import TYPE_CHECKING

from congthu import metrics
from congthu.accounts import roles
from congthu.directory import Directory, Org, Person
from congthu.ldap import dn, grants, schema
from congthu.ldap.dn import Key

if TYPE_CHECKING:
    from congthu.accounts import ServiceAccount
    from congthu.app import App
    from congthu.config import Settings
    from congthu.ldap.filters import Filter

PAGED_RESULTS = "1.2.840.113556.1.4.319"  # RFC 2696
PASSWORD_POLICY = "1.3.6.1.4.1.42.2.27.8.5.1"  # noqa: S105 (draft-behera-ldap-password-policy)
MANAGE_DSA_IT = "2.16.840.1.113730.3.4.2"  # RFC 3296: no referrals here, nothing to do
START_TLS = "1.3.6.1.4.1.1466.20037"  # RFC 4511 section 4.14
WHO_AM_I = "1.3.6.1.4.1.4203.1.11.3"  # RFC 4532
PASSWORD_MODIFY = "1.3.6.1.4.1.4203.1.11.1"  # noqa: S105 (RFC 3062)
SUPPORTED_CONTROLS = [PAGED_RESULTS, PASSWORD_POLICY, MANAGE_DSA_IT]
SUPPORTED_EXTENSIONS = [START_TLS, WHO_AM_I, PASSWORD_MODIFY]
SUBSCHEMA_DN = "cn=Subschema"
# Seconds a tree is used without reading the directory's generation again (``TreeCache``):
# a change shows in searches within this time; one small read a second per worker at most.
CHECK_SECONDS = 1.0

# The fields of directory.public_fields and the attributes of a person they open.
FIELD_ATTRIBUTES = {
    "name": {"cn", "sn", "givenName", "displayName"},
    "title": {"title"},
    "organisation": {"o", "ou", "memberOf"},
    "address": {"mail"},
    "phone": {"telephoneNumber"},
}
# The octets of encoded entries one tree snapshot keeps (``Tree.keep_encoded``), each
# entry counted as its encoding and ENCODED_OVERHEAD more for its key and its slot in the
# dict (measured at 50,000 people: 295 octets an entry asking cn and mail, of which 136
# the encoding; 573 asking "*", of which 415). The bound was twice the tree's entries: at
# 50,000 people an application's lookups asking cn and mail held 14 MiB in each worker
# process, two attribute lists 41 MiB (tracemalloc; at most some 60 MiB, estimated, as
# twice the tree asking "*"). 16 MiB keeps the one list of every person of such a tree
# whole; more lists share it.
MAX_ENCODED_OCTETS = 16 << 20
ENCODED_OVERHEAD = 160
# Seen by anyone allowed to read an entry: what names it.
ALWAYS = {"objectClass", "uid", "cn", "ou", "dc", "o", "description", "displayName", "member",
          "structuralObjectClass", "entryDN", "subschemaSubentry", "hasSubordinates"}


def base_dn_of(domain: str) -> str:
    """dc=soctrang,dc=gov,dc=vn for soctrang.gov.vn."""
    return ",".join(f"dc={dn.escape(label)}" for label in domain.lower().split(".") if label)


@dataclass(slots=True)
class Entry:
    # Slots, and nothing kept per entry that can be made again: a worker holds every
    # entry of the tree (52,009 at 50,000 people), so each byte of one costs 50 KB.
    dn: str
    key: Key
    kind: str  # "base", "container", "person", "org", "group", "service", "root", "subschema"
    attrs: dict[str, list[str]]
    mailbox_id: int | None = None
    # The organisation a person, an organisation entry or a group belongs to (grants).
    org_id: int | None = None

    def values(self, name: str) -> list[str]:
        return self.attrs.get(name, [])

    def normalised(self, name: str) -> frozenset[str]:
        """The values of ``name`` as its equality rule compares them."""
        values = self.attrs.get(name, ())
        if name in REMEMBERED:
            return _normalised(name, tuple(values))
        return frozenset([dn.normalise_value(name, v) for v in values])


# Attributes whose value lists thousands of entries hold alike (every person's
# objectClass, an organisation's name as o and ou, a title, a family name): one list for
# them all (``Tree.add``). Value lists are never changed once in the tree.
SHARED = frozenset({"objectClass", "o", "ou", "title", "sn", "givenName", "memberOf", "description"})
# Those whose normalised values are remembered (``_normalised``): the shared ones, and
# DNs, costly to normalise (a group's members).
REMEMBERED = SHARED | {name for name in schema.ATTRIBUTES if schema.kind(name) == schema.DN_VALUED}


@lru_cache(maxsize=4096)
def _normalised(name: str, values: tuple[str, ...]) -> frozenset[str]:
    """``Entry.normalised`` of REMEMBERED attributes, remembered by value rather than per
    entry (a per-entry cache filled by one walk of the tree cost 3 KB an entry, 158 MiB a
    worker at 50,000 people); one person's own values are cheap to make again."""
    return frozenset([dn.normalise_value(name, v) for v in values])


@dataclass(frozen=True)
class Identity:
    """Who a connection is bound as."""

    kind: str  # "anonymous", "person" or "service"
    dn: str = ""
    mailbox_id: int | None = None
    address: str = ""
    # A service account's grant (grants.py); None: what every bound identity reads.
    grant: grants.Grant | None = None

    @property
    def bound(self) -> bool:
        return self.kind != "anonymous"


ANONYMOUS = Identity("anonymous")


class Tree:
    """One snapshot of the tree."""

    def __init__(self, base: str, public_fields: list[str]) -> None:
        self.base = base
        self.base_key = dn.key(base)
        self.entries: dict[Key, Entry] = {}
        self.children: dict[Key, list[Key]] = {}
        # attribute -> normalised value -> keys, for equality on uid, mail and cn.
        self.index: dict[str, dict[str, list[Key]]] = {name: {} for name in self.INDEXED}
        # Building: parent DNs -> their keys (``_parent_key``), and the value lists of
        # SHARED attributes by their values (``_share``); emptied when built.
        self._parents: dict[str, Key] = {}
        self._lists: dict[tuple[str, ...], list[str]] = {}
        # Organisations by address, and the units directly under each (grants).
        self.org_by_address: dict[str, int] = {}
        self.units: dict[int, list[int]] = {}
        self._granted: dict[tuple[str, ...], frozenset[int]] = {}
        self.person_fields: set[str] = set()
        for name in public_fields:
            self.person_fields |= FIELD_ATTRIBUTES.get(name, set())
        # What ``visible`` answers for someone else's person entry and for other entries,
        # made once (and their hashes kept: they key ``encoded``).
        self._shown_person = frozenset(ALWAYS | self.person_fields)
        self._shown_other = frozenset(ALWAYS | ({"mail"} & self.person_fields))
        # The SearchResultEntry operations made for this snapshot (``cmd_search``):
        # (DN, attributes asked, typesOnly, visible attributes) -> encoded bytes; an
        # application looks up the same people again and again. Kept within
        # ``encoded_budget`` octets (``keep_encoded``), ``encoded_octets`` held now.
        self.encoded: dict[tuple[str, tuple[str, ...], bool, frozenset[str] | None], bytes] = {}
        self.encoded_octets = 0
        self.encoded_budget = MAX_ENCODED_OCTETS
        self.built = time.monotonic()

    INDEXED = ("uid", "mail", "cn")

    def add(self, rdn: str | tuple[str, str], parent: str | None, kind: str, attrs: dict[str, list[str]],
            mailbox_id: int | None = None, org_id: int | None = None) -> Entry:
        """Add an entry named ``rdn`` under ``parent``: the RDN as text, or as (attribute,
        value), which is written escaped and keyed without parsing the text again
        (with the unescaped values passed through ``escape`` as they are: 3.6 -> 3.2 s of
        CPU a build at 50,000 people)."""
        if isinstance(rdn, tuple):
            own = dn.key_of([(rdn,)])
            rdn = f"{rdn[0]}={dn.escape(rdn[1])}"
        else:
            own = dn.key(rdn)
        text = rdn if parent is None else f"{rdn},{parent}"
        # The key's superior part is the parent's own key (50,000 people share one).
        parent_key = () if parent is None else self._parent_key(parent)
        key = own + parent_key
        kept = {name: self._share(values) if name in SHARED else values for name, values in attrs.items() if values}
        entry = Entry(text, key, kind, kept, mailbox_id, org_id)
        self.entries[key] = entry
        if parent is not None:
            self.children.setdefault(parent_key, []).append(key)
        for name in self.INDEXED:
            index = self.index[name]
            for value in kept.get(name, ()):
                normal = dn.normalise_value(name, value)
                keys = index.setdefault(value if normal == value else normal, [])  # a lower-case uid: one string
                if not keys or keys[-1] is not key:  # two values alike in one entry: listed once
                    keys.append(key)
        return entry

    def _parent_key(self, parent: str) -> Key:
        """The key of a parent DN: its entry's own key when it has one."""
        found = self._parents.get(parent)
        if found is None:
            found = dn.key(parent)
            existing = self.entries.get(found)
            found = self._parents[parent] = found if existing is None else existing.key
        return found

    def _share(self, values: list[str]) -> list[str]:
        return self._lists.setdefault(tuple(values), values)

    def built_up(self) -> None:
        """Every entry added: what only the building needed goes."""
        self._parents = {}
        self._lists = {}

    def get(self, key: Key) -> Entry | None:
        return self.entries.get(key)

    def keep_encoded(self, key: tuple[str, tuple[str, ...], bool, frozenset[str] | None], encoded: bytes) -> None:
        """Keep an entry's encoding (``cmd_search._entry_operation``) within
        ``encoded_budget`` octets, each counted with ENCODED_OVERHEAD: past the budget the
        oldest quarter goes (in the order they were made), so the lookups of the moment
        stay; one larger than the whole budget is not kept."""
        cost = len(encoded) + ENCODED_OVERHEAD
        if cost > self.encoded_budget:
            return
        kept = self.encoded
        while kept and self.encoded_octets + cost > self.encoded_budget:
            for old in list(islice(kept, max(1, len(kept) // 4))):
                self.encoded_octets -= len(kept.pop(old)) + ENCODED_OVERHEAD
        kept[key] = encoded
        self.encoded_octets += cost

    def matched(self, key: Key) -> str:
        """The DN of the nearest existing superior of ``key`` (matchedDN of noSuchObject)."""
        for cut in range(1, len(key) + 1):
            entry = self.entries.get(key[cut:])
            if entry is not None:
                return entry.dn
        return ""

    def scope(self, key: Key, scope: int) -> Iterator[Entry]:
        """The entries of a search scope (RFC 4511 section 4.5.1.2): 0 base, 1 one level,
        2 subtree, 3 subordinates (the subtree without its base)."""
        base = self.entries.get(key)
        if base is None:
            return
        if scope in (0, 2):
            yield base
        if scope == 0:
            return
        if scope == 1:
            for child in self.children.get(key, []):
                yield self.entries[child]
            return
        stack = list(reversed(self.children.get(key, [])))
        while stack:
            current = stack.pop()
            yield self.entries[current]
            stack.extend(reversed(self.children.get(current, [])))

    def in_scope(self, entry: Entry, key: Key, scope: int) -> bool:
        depth = len(entry.key) - len(key)
        if depth < 0 or entry.key[depth:] != key:
            return False
        return {0: depth == 0, 1: depth == 1, 2: True}.get(scope, depth >= 1)

    def visible(self, entry: Entry, who: Identity) -> frozenset[str] | None:
        """The attributes of ``entry`` that ``who`` may read; None: all of them."""
        if entry.kind in ("root", "subschema"):
            return None
        shown: frozenset[str] | None
        if entry.kind == "person":
            own = who.mailbox_id is not None and who.mailbox_id == entry.mailbox_id
            shown = None if own else self._shown_person
        else:
            shown = self._shown_other
        if who.grant is None or who.grant.attributes is None:
            return shown
        naming = {schema.canonical(attribute) for attribute, _value in entry.key[0]} if entry.key else set()
        granted = who.grant.attributes | naming | {"objectClass"}
        return frozenset(granted & (set(entry.attrs) if shown is None else shown))

    def hidden(self, entry: Entry, who: Identity) -> bool:
        """Entries ``who`` may not even see: the role groups (who administers the
        system) are for the applications' service accounts only; a service account
        granted some organisations sees only theirs (grants.py)."""
        if entry.kind == "role" and who.kind != "service":
            return True
        grant = who.grant
        if grant is None or not grant.orgs:
            return False
        if entry.kind in ("person", "org", "group"):
            return entry.org_id not in self.granted_orgs(grant.orgs)
        if entry.kind == "service":
            return entry.dn.lower() != who.dn.lower()
        return entry.kind == "role"

    def granted_orgs(self, addresses: tuple[str, ...]) -> frozenset[int]:
        """The organisations of ``addresses`` and every unit under them (cached per tree)."""
        found = self._granted.get(addresses)
        if found is None:
            stack = [self.org_by_address[a] for a in addresses if a in self.org_by_address]
            seen: set[int] = set()
            while stack:
                current = stack.pop()
                if current not in seen:
                    seen.add(current)
                    stack.extend(self.units.get(current, []))
            found = self._granted[addresses] = frozenset(seen)
        return found

    def has_children(self, entry: Entry) -> bool:
        return bool(self.children.get(entry.key))


def _person_attrs(person: Person, uid: str, group: str | None) -> dict[str, list[str]]:
    return {
        "objectClass": ["top", "person", "organizationalPerson", "inetOrgPerson"],
        "uid": [uid],
        "cn": [person.full_name],
        "sn": [person.family_name or person.full_name],
        "givenName": [" ".join(x for x in (person.middle_name, person.given_name) if x)],
        "displayName": [person.full_name],
        "mail": [person.address],
        "o": [person.org_name],
        "ou": [person.org_name],
        "title": [person.title] if person.title else [],
        "telephoneNumber": [person.phone] if person.phone else [],
        "employeeNumber": [person.code] if person.code else [],
        "memberOf": [group] if group else [],
    }


def uid_of(address: str, domain: str) -> str:
    """The uid of a mailbox: the local part for the system's domain, else the address."""
    local, _at, host = address.rpartition("@")
    return local if host.lower() == domain.lower() else address


async def build(app: App, base: str) -> Tree:
    """A snapshot of the tree from the directory and the service accounts."""
    directory = Directory(app)
    orgs: list[Org] = await directory.list_orgs()
    services = await app.accounts.list_services()
    role_holders = {role: await app.db.run_read(roles.holders, role)
                    for role in (roles.ADMIN, roles.SUPERVISOR, roles.ORG_MANAGER)}
    # Making the entries is CPU work in Python (tens of thousands of people): in a worker
    # thread, so the event loop goes on serving the other sessions meanwhile. The people
    # come a chunk at a time: with a list of them all (50,000 people's rows and Person
    # objects) a worker's RSS stayed some 40 MiB higher after the build.
    builder = await asyncio.to_thread(_Builder, app.settings, base, orgs)
    async for people in directory.people_in_chunks():
        await asyncio.to_thread(builder.add_people, people)
    return await asyncio.to_thread(builder.finish, services, role_holders)


class _Builder:
    """The making of one snapshot: the base, the containers and the organisations first,
    then the people chunk by chunk (``add_people``), then the groups, which list them."""

    def __init__(self, settings: Settings, base: str, orgs: list[Org]) -> None:
        self.domain, self.base, self.orgs = settings.system.domain, base, orgs
        tree = self.tree = Tree(base, settings.directory.public_fields)
        first = dn.parse(base)[0]
        tree.add(base, None, "base", {
            "objectClass": ["top", "dcObject", "organization"], "dc": [first[0][1]],
            "o": [settings.system.operator], "description": ["Công Thư: danh bạ thư điện tử / mail directory"],
        })
        for name, description in (("people", "Cán bộ / officials"), ("organizations", "Cơ quan, đơn vị / organisations"),
                                  ("groups", "Nhóm theo cơ quan / groups by organisation"),
                                  ("services", "Tài khoản ứng dụng / application accounts")):
            tree.add(f"ou={name}", base, "container", {"objectClass": ["top", "organizationalUnit"], "ou": [name],
                                                        "description": [description]})
        # Organisations under their parents (an organisation whose parent is not active
        # stands at the top).
        by_id = {org.id: org for org in orgs}
        org_dns: dict[int, str] = {}
        self.org_dns = org_dns

        def org_dn(org: Org) -> str:
            # Walk up iteratively: the tree is as deep as the directory makes it.
            chain = []
            current: Org | None = org
            seen: set[int] = set()
            while current is not None and current.id not in org_dns and current.id not in seen:
                seen.add(current.id)
                chain.append(current)
                current = by_id.get(current.parent_id) if current.parent_id is not None else None
            parent = org_dns[current.id] if current is not None and current.id in org_dns else f"ou=organizations,{base}"
            for item in reversed(chain):
                org_dns[item.id] = f"ou={dn.escape(item.local_part)},{parent}"
                parent = org_dns[item.id]
            return org_dns[org.id]

        groups: dict[int, str] = {}
        self.groups = groups
        for org in orgs:
            org_dn(org)
            groups[org.id] = f"cn={dn.escape(org.local_part)},ou=groups,{base}"
        for org in orgs:
            tree.org_by_address[org.address.lower()] = org.id
            if org.parent_id is not None and org.parent_id in by_id:
                tree.units.setdefault(org.parent_id, []).append(org.id)
        for org in sorted(orgs, key=lambda o: org_dns[o.id].count(",")):
            rdn, parent = org_dns[org.id].split(",", 1)
            tree.add(rdn, parent, "org", {
                "objectClass": ["top", "organizationalUnit", "extensibleObject"], "ou": [org.local_part, org.name],
                "cn": [org.name], "displayName": [org.name], "mail": [org.address],
                "seeAlso": [groups[org.id]],
            }, org_id=org.id)
        self.members: dict[int, list[str]] = {}
        self.person_dns: dict[int, str] = {}

    def add_people(self, people: list[Person]) -> None:
        tree, groups, members, people_base = self.tree, self.groups, self.members, f"ou=people,{self.base}"
        for person in people:
            if not person.address:
                continue
            uid = uid_of(person.address, self.domain)
            group = groups.get(person.org_id) if person.org_id is not None else None
            entry = tree.add(("uid", uid), people_base, "person", _person_attrs(person, uid, group),
                             person.mailbox_id, person.org_id)
            if person.mailbox_id is not None:
                self.person_dns[person.mailbox_id] = entry.dn
            if person.org_id is not None and person.org_id in groups:
                members.setdefault(person.org_id, []).append(entry.dn)

    def finish(self, services: list[ServiceAccount], role_holders: dict[str, list[int]]) -> Tree:
        tree, base = self.tree, self.base
        for org in self.orgs:
            # groupOfNames needs a member (RFC 4519 section 3.5): an organisation without
            # people has its own entry as the one member.
            tree.add(("cn", org.local_part), f"ou=groups,{base}", "group", {
                "objectClass": ["top", "groupOfNames"], "cn": [org.local_part, org.name], "description": [org.name],
                "o": [org.name], "mail": [org.address], "member": self.members.get(org.id) or [self.org_dns[org.id]],
            }, org_id=org.id)
        tree.add("ou=roles", f"ou=groups,{base}", "container", {
            "objectClass": ["top", "organizationalUnit"], "ou": ["roles"],
            "description": ["Nhóm theo vai trò / groups by role"]})
        for role, holders in role_holders.items():
            member_dns = [self.person_dns[i] for i in holders if i in self.person_dns]
            tree.add(f"cn={role}", f"ou=roles,ou=groups,{base}", "role", {
                "objectClass": ["top", "groupOfNames"], "cn": [role], "description": [roles.NAMES[role]],
                "member": member_dns or [f"cn={role},ou=roles,ou=groups,{base}"],
            })
        for service in services:
            tree.add(("cn", service.name), f"ou=services,{base}", "service", {
                "objectClass": ["top", "applicationProcess"], "cn": [service.name],
                "description": [service.description] if service.description else [],
            })
        tree.built_up()
        return tree


def root_dse(base: str, tls: bool, sasl: bool = False, external: bool = False) -> Entry:
    """The root DSE (RFC 4512 section 5.1); ``tls``: StartTLS is offered; ``sasl``: a
    password may be sent here, so SASL PLAIN is offered (RFC 4616 section 6);
    ``external``: the client sent a verified certificate, so EXTERNAL is offered (as
    slapd does)."""
    attrs = {
        "objectClass": ["top"],
        "namingContexts": [base],
        "subschemaSubentry": [SUBSCHEMA_DN],
        "supportedLDAPVersion": ["3"],
        "supportedControl": SUPPORTED_CONTROLS,
        "supportedExtension": [e for e in SUPPORTED_EXTENSIONS if tls or e != START_TLS],
        "supportedSASLMechanisms": (["EXTERNAL"] if external else []) + (["PLAIN"] if sasl else []),
        # All operational attributes ("+", RFC 3673) and by object class ("@", RFC 4529).
        "supportedFeatures": ["1.3.6.1.4.1.4203.1.5.1", "1.3.6.1.4.1.4203.1.5.2", "1.3.6.1.4.1.4203.1.5.3"],
        "vendorName": ["Công Thư"],
        "vendorVersion": ["Công Thư LDAPv3"],
    }
    return Entry("", (), "root", attrs)


def subschema_entry() -> Entry:
    """The subschema entry (RFC 4512 section 4.2)."""
    return Entry(SUBSCHEMA_DN, dn.key(SUBSCHEMA_DN), "subschema", {
        "objectClass": ["top", "subentry", "subschema"], "cn": ["Subschema"],
        "attributeTypes": schema.attribute_types(), "objectClasses": schema.OBJECT_CLASSES,
        "ldapSyntaxes": schema.LDAP_SYNTAXES, "matchingRules": schema.MATCHING_RULES,
    })


class TreeCache:
    """The tree of one App, and the service accounts' grants that say what of it each
    may see. The tree is rebuilt when the directory changed: the generation it was built
    from (``Directory.generation``, counted by the database's triggers at every change
    of what it is made of, by any path, process or node) is read again at most once every
    CHECK_SECONDS while searches come, and a new one means a new tree. Also when older
    than ``ldap.cache_seconds``: the settings it was made with are read at the start, so
    this is a safety net only (a database put back from a backup whose generation
    happens to be the same). One build at a time; searches meanwhile wait for it (a
    search after a change sees the change)."""

    # DNs whose keys are kept (the bases applications search from are few).
    MAX_KEYS = 1024
    # Bind names kept (one per person an application binds as).
    MAX_BIND_NAMES = 20_000

    def __init__(self, app: App, base: str) -> None:
        self.app, self.base = app, base
        self._keys: dict[str, dn.Key] = {}
        # Bind names -> ("person", address) or ("service", name) (``cmd_bind.bind_target``).
        self.bind_names: dict[str, tuple[str, str]] = {}
        # (mailbox id, address) -> the Identity a person's bind gives (``cmd_bind``).
        self.people: dict[tuple[int, str], Identity] = {}
        # (a filter's encoding, the depth bound) -> the filter read (``cmd_search._filter``).
        self.filters: dict[tuple[bytes, int], Filter] = {}
        # A search's attribute list as sent -> as text (``cmd_search.search_kept``): one
        # tuple per list an application sends, shared by the keys of ``Tree.encoded``.
        self.attribute_lists: dict[tuple[bytes, ...], tuple[str, ...]] = {}
        self._tree: Tree | None = None
        # The generation the tree was built from, and when it was last read (monotonic).
        self._generation = 0
        self._checked = 0.0
        self._lock = asyncio.Lock()
        self._grants: tuple[tuple[str, ...], dict[str, grants.Grant]] = ((), {})

    def key(self, text: str) -> dn.Key:
        """``dn.key(text)``, remembered: an application searches from the same few bases
        again and again. InvalidDN if malformed (not remembered)."""
        found = self._keys.get(text)
        if found is None:
            found = dn.key(text)
            if len(self._keys) >= self.MAX_KEYS:
                self._keys.clear()
            self._keys[text] = found
        return found

    def grant(self, service: str) -> grants.Grant | None:
        """The grant of a service account (``ldap.service_grants``, parsed again only
        when the setting changes); None: it reads what every bound identity reads."""
        lines = tuple(self.app.settings.ldap.service_grants)
        if lines != self._grants[0]:
            self._grants = (lines, grants.parse(list(lines), self.app.settings.system.domain))
        return self._grants[1].get(service)

    def fresh(self) -> Tree | None:
        """The snapshot ``get`` would give without reading the database, if there is one."""
        tree = self._tree
        if tree is not None:
            now = time.monotonic()
            if now - self._checked < CHECK_SECONDS and now - tree.built < self.app.settings.ldap.cache_seconds:
                return tree
        return None

    async def get(self) -> Tree:
        tree = self.fresh()
        if tree is not None:
            return tree
        async with self._lock:
            tree = self.fresh()  # checked, or built, by the search this one waited for
            if tree is not None:
                return tree
            # Read before the build: a change made during it is a newer generation, seen
            # by the next check.
            checked = time.monotonic()
            generation = await Directory(self.app).generation()
            tree = self._tree
            reason = ("first" if tree is None else "changed" if generation != self._generation
                      else "age" if checked - tree.built >= self.app.settings.ldap.cache_seconds else "")
            if tree is None or reason:
                tree = self._tree = await build(self.app, self.base)
                self._generation = generation
                metrics.ldap_tree_builds.labels(reason).inc()
            self._checked = checked
            return tree

    def invalidate(self) -> None:
        self._tree = None
