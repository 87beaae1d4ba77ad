"""The attributes the tree serves, their matching rules, and the subschema entry
(RFC 4512 section 4.2) that tools read to learn them.

Matching (RFC 4517 section 4.2): every attribute that holds a name (cn, sn, givenName,
displayName, o, ou, title, description) is compared by ``congthu.text.fold``: case and
Vietnamese accents ignored, so ``(cn=nguyen thanh binh)`` finds Nguyễn Thanh Bình, as the
directory's own search does (beyond RFC 4517's caseIgnoreMatch, on purpose). uid, mail,
dc and objectClass are caseIgnore; telephoneNumber ignores spaces and hyphens
(telephoneNumberMatch); member, memberOf, seeAlso and entryDN are DNs.
"""

from __future__ import annotations

from congthu.text import fold

# canonical name -> (OID, matching kind, single-valued, operational)
FOLD, CASE_IGNORE, TELEPHONE, DN_VALUED, INTEGER = "fold", "caseIgnore", "telephone", "dn", "integer"
ATTRIBUTES: dict[str, tuple[str, str, bool, bool]] = {
    "objectClass": ("2.5.4.0", CASE_IGNORE, False, False),
    "cn": ("2.5.4.3", FOLD, False, False),
    "sn": ("2.5.4.4", FOLD, False, False),
    "givenName": ("2.5.4.42", FOLD, False, False),
    "displayName": ("2.16.840.1.113730.3.1.241", FOLD, True, False),
    "uid": ("0.9.2342.19200300.100.1.1", CASE_IGNORE, False, False),
    "mail": ("0.9.2342.19200300.100.1.3", CASE_IGNORE, False, False),
    "o": ("2.5.4.10", FOLD, False, False),
    "ou": ("2.5.4.11", FOLD, False, False),
    "title": ("2.5.4.12", FOLD, False, False),
    "description": ("2.5.4.13", FOLD, False, False),
    "telephoneNumber": ("2.5.4.20", TELEPHONE, False, False),
    "member": ("2.5.4.31", DN_VALUED, False, False),
    "seeAlso": ("2.5.4.34", DN_VALUED, False, False),
    "dc": ("0.9.2342.19200300.100.1.25", CASE_IGNORE, True, False),
    "employeeNumber": ("2.16.840.1.113730.3.1.3", CASE_IGNORE, True, False),
    "userPassword": ("2.5.4.35", CASE_IGNORE, False, False),
    "memberOf": ("1.2.840.113556.1.2.102", DN_VALUED, False, True),
    "entryDN": ("1.3.6.1.1.20", DN_VALUED, True, True),
    "subschemaSubentry": ("2.5.18.10", DN_VALUED, True, True),
    "hasSubordinates": ("2.5.18.9", CASE_IGNORE, True, True),
    "structuralObjectClass": ("2.5.21.9", CASE_IGNORE, True, True),
    # Root DSE (RFC 4512 section 5.1) and subschema (section 4.2).
    "namingContexts": ("1.3.6.1.4.1.1466.101.120.5", DN_VALUED, False, True),
    "supportedControl": ("1.3.6.1.4.1.1466.101.120.13", CASE_IGNORE, False, True),
    "supportedExtension": ("1.3.6.1.4.1.1466.101.120.7", CASE_IGNORE, False, True),
    "supportedFeatures": ("1.3.6.1.4.1.4203.1.3.5", CASE_IGNORE, False, True),
    "supportedLDAPVersion": ("1.3.6.1.4.1.1466.101.120.15", INTEGER, False, True),
    "supportedSASLMechanisms": ("1.3.6.1.4.1.1466.101.120.14", CASE_IGNORE, False, True),
    "vendorName": ("1.3.6.1.1.4", CASE_IGNORE, True, True),
    "vendorVersion": ("1.3.6.1.1.5", CASE_IGNORE, True, True),
    "attributeTypes": ("2.5.21.5", CASE_IGNORE, False, True),
    "objectClasses": ("2.5.21.6", CASE_IGNORE, False, True),
    "ldapSyntaxes": ("1.3.6.1.4.1.1466.101.120.16", CASE_IGNORE, False, True),
    "matchingRules": ("2.5.21.4", CASE_IGNORE, False, True),
}
# Other names of the same attributes (RFC 4519, RFC 4524).
ALIASES = {"commonname": "cn", "surname": "sn", "gn": "givenName", "userid": "uid", "rfc822mailbox": "mail",
           "organizationname": "o", "organizationalunitname": "ou", "domaincomponent": "dc"}
_BY_LOWER = {name.lower(): name for name in ATTRIBUTES} | ALIASES
_BY_OID = {oid: name for name, (oid, _k, _s, _o) in ATTRIBUTES.items()}

# Never sent, never compared, never matched by a filter: passwords are accounts', and
# no LDAP client reads them.
SECRET = "userPassword"  # noqa: S105 - a name, not a secret


def canonical(name: str) -> str:
    """The canonical name of an attribute description (options after ";" dropped, an
    alias or an OID resolved); unknown names come back as given."""
    base = name.split(";", 1)[0].strip()
    found = _BY_LOWER.get(base.lower()) or _BY_OID.get(base)
    return found or base


def known(name: str) -> bool:
    return name in ATTRIBUTES


def kind(name: str) -> str:
    return ATTRIBUTES[name][1] if name in ATTRIBUTES else CASE_IGNORE


def operational(name: str) -> bool:
    return name in ATTRIBUTES and ATTRIBUTES[name][3]


def normalise(name: str, value: str) -> str:
    """A value of attribute ``name`` (canonical) as its equality rule compares it."""
    rule = kind(name)
    if rule == FOLD:
        return fold(value)
    if rule == TELEPHONE:
        return "".join(c for c in value if c not in " -").casefold()
    if rule == DN_VALUED:
        # Imported here would make a cycle (dn uses schema); DN values are compared by
        # the caller through dn.key. Plain case-insensitive text is the fallback.
        return " ".join(value.casefold().split())
    return " ".join(value.casefold().split())


OBJECT_CLASSES = [
    "( 2.5.6.0 NAME 'top' ABSTRACT MUST objectClass )",
    "( 2.5.6.6 NAME 'person' SUP top STRUCTURAL MUST ( sn $ cn ) MAY ( userPassword $ telephoneNumber $ "
    "seeAlso $ description ) )",
    "( 2.5.6.7 NAME 'organizationalPerson' SUP person STRUCTURAL MAY ( title $ ou ) )",
    "( 2.16.840.1.113730.3.2.2 NAME 'inetOrgPerson' SUP organizationalPerson STRUCTURAL MAY ( displayName $ "
    "employeeNumber $ givenName $ mail $ o $ uid ) )",
    "( 2.5.6.5 NAME 'organizationalUnit' SUP top STRUCTURAL MUST ou MAY ( description $ seeAlso $ "
    "telephoneNumber ) )",
    "( 2.5.6.4 NAME 'organization' SUP top STRUCTURAL MUST o MAY ( description $ seeAlso ) )",
    "( 1.3.6.1.4.1.1466.344 NAME 'dcObject' SUP top AUXILIARY MUST dc )",
    "( 2.5.6.9 NAME 'groupOfNames' SUP top STRUCTURAL MUST ( member $ cn ) MAY ( description $ o $ ou $ "
    "seeAlso ) )",
    "( 2.5.6.11 NAME 'applicationProcess' SUP top STRUCTURAL MUST cn MAY ( description $ ou $ seeAlso ) )",
    "( 1.3.6.1.4.1.1466.101.120.111 NAME 'extensibleObject' SUP top AUXILIARY )",
    "( 2.5.17.0 NAME 'subentry' SUP top STRUCTURAL MUST cn )",
    "( 2.5.20.1 NAME 'subschema' AUXILIARY MAY ( attributeTypes $ objectClasses $ ldapSyntaxes $ "
    "matchingRules ) )",
]

_SYNTAX = {FOLD: "1.3.6.1.4.1.1466.115.121.1.15", CASE_IGNORE: "1.3.6.1.4.1.1466.115.121.1.15",
           TELEPHONE: "1.3.6.1.4.1.1466.115.121.1.50", DN_VALUED: "1.3.6.1.4.1.1466.115.121.1.12",
           INTEGER: "1.3.6.1.4.1.1466.115.121.1.27"}
_EQUALITY = {FOLD: "caseIgnoreMatch", CASE_IGNORE: "caseIgnoreMatch", TELEPHONE: "telephoneNumberMatch",
             DN_VALUED: "distinguishedNameMatch", INTEGER: "integerMatch"}


def attribute_types() -> list[str]:
    """attributeTypes values (RFC 4512 section 4.1.2) of the attributes we serve."""
    out = []
    aliases: dict[str, list[str]] = {}
    for alias, name in ALIASES.items():
        aliases.setdefault(name, []).append(alias)
    for name, (oid, rule, single, operational_) in ATTRIBUTES.items():
        names = [name, *sorted(aliases.get(name, []))]
        shown = f"'{names[0]}'" if len(names) == 1 else "( " + " ".join(f"'{n}'" for n in names) + " )"
        parts = [f"( {oid} NAME {shown}", f"EQUALITY {_EQUALITY[rule]}"]
        if rule in (FOLD, CASE_IGNORE):
            parts.append("SUBSTR caseIgnoreSubstringsMatch")
        parts.append(f"SYNTAX {_SYNTAX[rule]}")
        if single:
            parts.append("SINGLE-VALUE")
        if operational_:
            parts.append("NO-USER-MODIFICATION USAGE directoryOperation" if name in (
                "entryDN", "subschemaSubentry", "hasSubordinates", "structuralObjectClass", "memberOf")
                else "USAGE dSAOperation")
        out.append(" ".join(parts) + " )")
    return out


LDAP_SYNTAXES = [
    "( 1.3.6.1.4.1.1466.115.121.1.15 DESC 'Directory String' )",
    "( 1.3.6.1.4.1.1466.115.121.1.12 DESC 'DN' )",
    "( 1.3.6.1.4.1.1466.115.121.1.50 DESC 'Telephone Number' )",
    "( 1.3.6.1.4.1.1466.115.121.1.27 DESC 'INTEGER' )",
    "( 1.3.6.1.4.1.1466.115.121.1.38 DESC 'OID' )",
]
MATCHING_RULES = [
    "( 2.5.13.2 NAME 'caseIgnoreMatch' SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )",
    "( 2.5.13.3 NAME 'caseIgnoreOrderingMatch' SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )",
    "( 2.5.13.4 NAME 'caseIgnoreSubstringsMatch' SYNTAX 1.3.6.1.4.1.1466.115.121.1.58 )",
    "( 2.5.13.5 NAME 'caseExactMatch' SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )",
    "( 2.5.13.1 NAME 'distinguishedNameMatch' SYNTAX 1.3.6.1.4.1.1466.115.121.1.12 )",
    "( 2.5.13.20 NAME 'telephoneNumberMatch' SYNTAX 1.3.6.1.4.1.1466.115.121.1.50 )",
    "( 2.5.13.14 NAME 'integerMatch' SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 )",
]
