"""What a service account may read (issue 16: "a service account sees what its
configuration grants"), from ``ldap.service_grants``:

    [ldap]
    service_grants = [
      "qlvb-stc org=sotc attributes=cn,mail,title",
      "cong-thong-tin attributes=cn,displayName,mail,title,o,ou",
    ]

One string per service account: its name, then ``org=`` (organisation addresses, or their
local parts in the system's domain, comma-separated) and ``attributes=`` (attribute
names, comma-separated), each optional and given once. With ``org=`` the account sees the
people, organisation entries and groups of those organisations and of every unit under
them, and nothing of any other (nor the role groups, nor other service accounts); the
containers above stay visible so that it can search from the base. With ``attributes=``
it reads (and can filter and compare on) only those attributes of an entry it sees,
beside ``objectClass`` and the attribute that names the entry; never more than a bound
identity sees anyway (``directory.public_fields``). A service account without a grant
reads what every bound identity reads. The grant acts on search and compare
(``Tree.hidden``, ``Tree.visible``); ``userPassword`` is never readable, grant or not.
"""

from __future__ import annotations

from dataclasses import dataclass

from congthu.ldap import schema
from congthu.store import normalise_address

__all__ = ["Grant", "GrantError", "parse"]


class GrantError(ValueError):
    """A malformed ``ldap.service_grants`` string; the text says which and why."""


@dataclass(frozen=True)
class Grant:
    service: str
    # Addresses of the organisations (with their units) it sees; empty: every one.
    orgs: tuple[str, ...] = ()
    # Canonical names of the attributes it reads; None: what any bound identity reads.
    attributes: frozenset[str] | None = None


def parse(lines: list[str], domain: str) -> dict[str, Grant]:
    """The grants by service account name; GrantError for a malformed line."""
    grants: dict[str, Grant] = {}
    for line in lines:
        words = line.split()
        if not words or "=" in words[0]:
            raise GrantError(f"ldap.service_grants: thiếu tên tài khoản dịch vụ / a grant starts with the service "
                             f"account's name: {line!r}")
        name = words[0].lower()
        if name in grants:
            raise GrantError(f"ldap.service_grants: {name} có hai dòng / {name} is granted twice")
        parts: dict[str, list[str]] = {}
        for word in words[1:]:
            key, sep, value = word.partition("=")
            items = [v for v in value.split(",") if v]
            if not sep or key not in ("org", "attributes") or key in parts or not items:
                raise GrantError(f"ldap.service_grants: {word!r} không hợp lệ / is not org=A,B or attributes=X,Y "
                                 f"(each once): {line!r}")
            parts[key] = items
        orgs = tuple(normalise_address(o if "@" in o else f"{o}@{domain}") for o in parts.get("org", []))
        attributes = None
        if "attributes" in parts:
            unknown = [a for a in parts["attributes"] if not schema.known(schema.canonical(a))]
            if unknown:
                raise GrantError(f"ldap.service_grants: thuộc tính không rõ / unknown attributes "
                                 f"{', '.join(unknown)}: {line!r}")
            attributes = frozenset(schema.canonical(a) for a in parts["attributes"]) - {schema.SECRET}
        grants[name] = Grant(name, orgs, attributes)
    return grants
