"""Per-service grants (``ldap.service_grants``, ``congthu/ldap/grants.py``), as a matrix
of service accounts × entries and attributes, with ldapsearch and ldapcompare (ldap-utils)
over StartTLS.

- qlvb-sotttt: ``org=sotttt attributes=cn,mail,title``: the people of Sở Thông tin và
  Truyền thông and of its unit Phòng Công nghệ thông tin, those attributes only;
- ke-toan: ``org=sotc``: the people of Sở Tài chính, every public attribute;
- danh-ba: ``attributes=cn,mail``: everyone, name and address only;
- cong-thong-tin: no grant, what every bound identity reads.
"""

from __future__ import annotations

import pytest

from congthu.ldap.grants import GrantError, parse
from tests.ldap.conftest import BASE, PASSWORD, LDAPWorld
from tests.ldap.test_clients import ldif_values

SERVICES = ("qlvb-sotttt", "ke-toan", "danh-ba", "cong-thong-tin")
GRANTS = ["qlvb-sotttt org=sotttt attributes=cn,mail,title", "ke-toan org=sotc@soctrang.gov.vn",
          "danh-ba attributes=cn,mail"]
PEOPLE = {"ntbinh": "sotttt", "tthoa": "sotttt", "lvduc": "phongcntt", "pmtam": "sotc"}
# Which people each service sees.
SEES = {
    "qlvb-sotttt": {"ntbinh", "tthoa", "lvduc"},
    "ke-toan": {"pmtam"},
    "danh-ba": set(PEOPLE),
    "cong-thong-tin": set(PEOPLE),
}


@pytest.fixture
def granted(world: LDAPWorld) -> dict[str, str]:
    """The four service accounts, with their secrets, and the grants in force."""
    app = world.server.app
    world.server.app.settings.ldap.service_grants = list(GRANTS)
    secrets = {name: world.server.run(app.accounts.add_service(name, actor="test")) for name in SERVICES}
    assert set(PEOPLE) == {world.uid(n) for n in world.people}
    return secrets


def as_service(world: LDAPWorld, secrets: dict[str, str], service: str, *args: str) -> str:
    found = world.tool("ldapsearch", "-x", "-LLL", "-D", f"cn={service},ou=services,{BASE}", "-w", secrets[service],
                       "-b", BASE, *args)
    assert found.returncode == 0, found.stderr
    return found.stdout


def entries(output: str) -> list[dict[str, list[str]]]:
    """ldapsearch's LDIF as one dict of attribute -> values per entry."""
    out = []
    for block in output.strip().split("\n\n"):
        if block.strip():
            unfolded = block.replace("\n ", "")
            names = {line.split(":", 1)[0] for line in unfolded.splitlines()}
            out.append({name: ldif_values(unfolded, name) for name in names})
    return out


@pytest.mark.parametrize("service", SERVICES)
def test_people_each_service_sees(world: LDAPWorld, granted: dict[str, str], service: str) -> None:
    found = entries(as_service(world, granted, service, "(objectClass=inetOrgPerson)", "uid"))
    assert {e["uid"][0] for e in found} == SEES[service]
    # A base search of an entry out of the grant is noSuchObject, as if it did not exist.
    for uid in set(PEOPLE) - SEES[service]:
        done = world.tool("ldapsearch", "-x", "-LLL", "-D", f"cn={service},ou=services,{BASE}", "-w",
                          granted[service], "-b", f"uid={uid},ou=people,{BASE}", "-s", "base")
        assert done.returncode == 32, (service, uid, done.stderr)


@pytest.mark.parametrize("service", SERVICES)
def test_attributes_each_service_reads(world: LDAPWorld, granted: dict[str, str], service: str) -> None:
    for uid in SEES[service]:
        [entry] = entries(as_service(world, granted, service, f"(uid={uid})", "*"))
        names = set(entry) - {"dn"}
        if service == "qlvb-sotttt":
            assert names <= {"objectClass", "uid", "cn", "mail", "title"}, names
            assert {"cn", "mail", "title"} <= names
        elif service == "danh-ba":
            assert names == {"objectClass", "uid", "cn", "mail"}, names
        else:
            assert {"cn", "sn", "givenName", "title", "mail", "o"} <= names, names
        assert "userPassword" not in names


def test_filters_and_compare_see_only_what_is_granted(world: LDAPWorld, granted: dict[str, str]) -> None:
    # sn is not granted to danh-ba: a filter on it matches nothing, compare says no such attribute.
    assert entries(as_service(world, granted, "danh-ba", "(sn=Nguyễn)", "uid")) == []
    assert [e["uid"] for e in entries(as_service(world, granted, "cong-thong-tin", "(sn=Nguyễn)", "uid"))] == [
        ["ntbinh"]]

    def compare(service: str, dn: str, assertion: str) -> int:
        return world.tool("ldapcompare", "-x", "-D", f"cn={service},ou=services,{BASE}", "-w", granted[service],
                          dn, assertion).returncode

    binh, tam = f"uid=ntbinh,ou=people,{BASE}", f"uid=pmtam,ou=people,{BASE}"
    assert compare("cong-thong-tin", binh, "sn:Nguyễn") == 6  # compareTrue
    assert compare("danh-ba", binh, "sn:Nguyễn") == 16  # noSuchAttribute
    assert compare("danh-ba", binh, "cn:Nguyễn Thanh Bình") == 6
    assert compare("qlvb-sotttt", tam, "cn:Phạm Minh Tâm") == 32  # noSuchObject
    assert compare("ke-toan", tam, "cn:Phạm Minh Tâm") == 6


def test_organisations_groups_and_services_of_a_limited_service(world: LDAPWorld, granted: dict[str, str]) -> None:
    orgs = entries(as_service(world, granted, "qlvb-sotttt", "(objectClass=organizationalUnit)", "mail"))
    assert {m for e in orgs for m in e.get("mail", [])} == {"sotttt@soctrang.gov.vn",
                                                            "phongcntt.sotttt@soctrang.gov.vn"}
    groups = entries(as_service(world, granted, "qlvb-sotttt", "(objectClass=groupOfNames)", "cn"))
    assert sorted(e["dn"][0] for e in groups) == [f"cn=phongcntt.sotttt,ou=groups,{BASE}",
                                                  f"cn=sotttt,ou=groups,{BASE}"]
    services = entries(as_service(world, granted, "qlvb-sotttt", "(objectClass=applicationProcess)", "cn"))
    assert [e["cn"] for e in services] == [["qlvb-sotttt"]]
    everything = entries(as_service(world, granted, "cong-thong-tin", "(objectClass=applicationProcess)", "cn"))
    assert len(everything) == len(SERVICES)


def test_people_bind_and_read_as_before(world: LDAPWorld, granted: dict[str, str]) -> None:
    found = world.tool("ldapsearch", "-x", "-LLL", "-D", world.dn("Trần Thị Hoa"), "-w", PASSWORD, "-b", BASE,
                       "(objectClass=inetOrgPerson)", "uid")
    assert found.returncode == 0, found.stderr
    assert set(ldif_values(found.stdout, "uid")) == set(PEOPLE)


def test_malformed_grants_are_refused_with_their_reason() -> None:
    for bad in ("org=sotc", "x org=", "x place=sotc", "x org=a org=b", "x attributes=cn,nosuchattribute"):
        with pytest.raises(GrantError, match="ldap.service_grants"):
            parse([bad], "soctrang.gov.vn")
    assert parse(["x attributes=CN,mail,userPassword"], "soctrang.gov.vn")["x"].attributes == {"cn", "mail"}
