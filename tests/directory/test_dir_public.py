"""The public directory page ``/danh-ba`` (Điều 3, 5): read without signing in, only the
published fields (``directory.public_fields``: name, title, organisation, address by
default; never the phone unless published, nor people who left), searched without
accents (``binh`` finds Bình, and nothing matches on a field that is not shown), in
pages of 50 with links between them. And the published HTML file carries no private
field either, not even in its search keys."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

from congthu.directory import Directory, publish
from tests.conftest import ServerThread

PHONE = "0299 3822 222"


def get(server: ServerThread, path: str) -> tuple[int, str, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port('http')}{path}", timeout=30) as response:
        return response.status, response.read().decode(), response.headers.get("set-cookie") or ""


def fill(server: ServerThread) -> None:
    d = Directory(server.app)
    server.run(d.add_org("Sở Thông tin và Truyền thông"))
    server.run(d.add_org("Phòng Công nghệ thông tin", parent="sotttt"))
    server.run(d.add_person("Nguyễn Thanh Bình", "sotttt", title="Giám đốc", rank=1, phone=PHONE))
    server.run(d.add_person("Trần Thị Hoà", "phongcntt.sotttt", title="Chuyên viên"))
    gone = server.run(d.add_person("Lê Văn Đã Nghỉ", "phongcntt.sotttt"))[0]
    server.run(d.person_leaves(gone.id))


def rows(html: str) -> list[str]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in html else ""
    return re.findall(r"<tr class=\"(?:org|person)\">(.*?)</tr>", body, re.S)


def test_public_page_shows_only_what_is_published(server: ServerThread) -> None:
    fill(server)
    domain = server.app.settings.system.domain
    status, html, cookie = get(server, "/danh-ba")
    assert status == 200 and cookie == ""  # no sign-in, no session
    assert "Nguyễn Thanh Bình" in html and f"ntbinh@{domain}" in html and "Giám đốc" in html
    assert "Sở Thông tin và Truyền thông" in html and "Trần Thị Hoà" in html
    assert PHONE not in html and "Đã Nghỉ" not in html
    assert len(rows(html)) == 4  # two organisations, two people
    # Without accents, upper case, several words.
    for query in ("binh", "BINH", "nguyen thanh binh", "giam doc", "ntbinh", "hoa chuyen vien"):
        _status, found, _cookie = get(server, "/danh-ba?q=" + urllib.request.quote(query))
        assert len(rows(found)) == 1, query
    _status, found, _cookie = get(server, "/danh-ba?q=" + urllib.request.quote("Bình"))
    assert "Nguyễn Thanh Bình" in found and "Trần Thị Hoà" not in found
    # A field not published finds nothing: the phone, a person who left.
    for query in ("0299", "3822", "da nghi"):
        _status, found, _cookie = get(server, "/danh-ba?q=" + urllib.request.quote(query))
        assert rows(found) == [], query
    # What is typed comes back escaped, never as markup.
    _status, found, _cookie = get(server, "/danh-ba?q=%3Cscript%3Ex")
    assert "<script>x" not in found and "&lt;script&gt;x" in found


def test_public_page_is_paged(server: ServerThread) -> None:
    d = Directory(server.app)
    org = server.run(d.add_org("Ủy ban nhân dân huyện Cù Lao Dung"))[0]
    given = ["An", "Bình", "Châu", "Dũng", "Giang", "Hà", "Khánh", "Lan", "Minh", "Nam", "Oanh", "Phúc"]
    for i in range(61):
        server.run(d.add_person(f"Nguyễn Văn {given[i % 12]} {chr(ord('A') + i // 12)}", org.id))
    _status, first, _cookie = get(server, "/danh-ba")
    assert len(rows(first)) == 50 and 'id="trang-sau"' in first and 'id="trang-truoc"' not in first
    _status, second, _cookie = get(server, "/danh-ba?trang=2")
    assert len(rows(second)) == 12 and 'id="trang-truoc"' in second and 'id="trang-sau"' not in second
    assert set(rows(first)).isdisjoint(rows(second))
    # The search keeps its words across pages; a page past the end shows the last.
    _status, found, _cookie = get(server, "/danh-ba?q=nguyen+van&trang=9")
    assert len(rows(found)) == 11 and "q=nguyen%20van&amp;trang=1" in found


async def test_published_file_holds_no_private_field(app: object, tmp_path: Path) -> None:
    d = Directory(app)  # type: ignore[arg-type]
    await d.add_org("Sở Thông tin và Truyền thông")
    await d.add_person("Nguyễn Thanh Bình", "sotttt", title="Giám đốc", phone=PHONE)
    await publish(app, tmp_path)  # type: ignore[arg-type]
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "nguyen thanh binh" in page  # the search key of a public field
    assert PHONE not in page and "0299" not in page
