"""The directory's commands, through congthu.cli.main."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from congthu.cli import main


def run(capsys: pytest.CaptureFixture[str], data: Path | None, *argv: str) -> tuple[int, str, str]:
    args = (["--data", str(data)] if data else []) + list(argv)
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_name_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, None, "name", "person", "Nguyễn Thanh Bình")[1] == "ntbinh\n"
    assert run(capsys, None, "name", "person", "Đoàn Văn Thông")[1] == "dvthong\n"
    assert run(capsys, None, "name", "org", "Sở Thông tin và Truyền thông")[1] == "sotttt\n"
    assert run(capsys, None, "name", "org", "UBND huyện Mỹ Xuyên")[1] == "huyenmx\n"
    assert run(capsys, None, "name", "org", "Phòng Công nghệ thông tin", "--parent", "sotttt")[1] == "phongcntt.sotttt\n"
    assert run(capsys, None, "name", "org", "Xã Thạnh Phú huyện Mỹ Xuyên", "--parent", "huyenmx")[1] == "xatp.huyenmx\n"
    code, out, _ = run(capsys, None, "name", "org", "Sở Nội vụ", "--explain")
    assert code == 0 and "Điều 3.1a" in out
    code, _out, err = run(capsys, None, "name", "person", "123")
    assert code == 1 and "rỗng" in err


def test_org_user_alias_directory_commands(capsys: pytest.CaptureFixture[str], ddir: Path, tmp_path: Path) -> None:
    code, out, _ = run(capsys, ddir, "org", "add", "Sở Thông tin và Truyền thông")
    assert code == 0 and out.startswith("sotttt@soctrang.gov.vn") and "một lần" in out
    assert run(capsys, ddir, "org", "add", "Phòng Công nghệ thông tin", "--parent", "sotttt")[0] == 0
    code, _out, err = run(capsys, ddir, "org", "add", "Phòng Công nghệ thông tin", "--parent", "sotttt")
    assert code == 1 and "--address phongcntt2.sotttt" in err
    # the foundation's form: an explicit address, a one-time password printed
    code, out, _ = run(capsys, ddir, "user", "add", "vanthu@soctrang.gov.vn", "--name", "Văn thư")
    assert code == 0 and "vanthu@soctrang.gov.vn" in out
    assert re.search(r"one-time password: \S{14}", out)
    code, out, _ = run(capsys, ddir, "user", "add", "admin2", "--name", "Quản trị", "--password", "Mk@12345678")
    assert code == 0 and "one-time" not in out
    assert run(capsys, ddir, "user", "add", "vanthu@soctrang.gov.vn", "--name", "X")[0] == 1
    # an official, the address by the rules
    code, out, _ = run(capsys, ddir, "user", "add", "--name", "Nguyễn Thanh Bình", "--org", "sotttt",
                       "--title", "Giám đốc", "--rank", "1")
    assert code == 0 and out.startswith("ntbinh@soctrang.gov.vn") and "Điều 3.2" in out
    code, out, _ = run(capsys, ddir, "user", "add", "--name", "Nguyễn Thanh Bình", "--org", "phongcntt.sotttt")
    assert out.startswith("ntbinh.phongcntt.sotttt@") and "Điều 3.3b" in out
    code, out, _ = run(capsys, ddir, "user", "list")
    assert code == 0 and "vanthu@soctrang.gov.vn" in out and "ntbinh@soctrang.gov.vn" in out
    assert "sotttt@soctrang.gov.vn" in run(capsys, ddir, "org", "list")[1]
    code, out, _ = run(capsys, ddir, "directory", "search", "nguyen", "thanh", "binh")
    assert code == 0 and "ntbinh@soctrang.gov.vn" in out
    assert run(capsys, ddir, "directory", "search", "khong", "co", "ai")[0] == 1
    assert run(capsys, ddir, "alias", "add", "giamdoc.sotttt", "ntbinh")[0] == 0
    assert "giamdoc.sotttt@soctrang.gov.vn" in run(capsys, ddir, "alias", "list")[1]
    assert run(capsys, ddir, "alias", "remove", "giamdoc.sotttt")[0] == 0
    assert run(capsys, ddir, "user", "move", "ntbinh", "--org", "phongcntt.sotttt")[0] == 0
    code, out, _ = run(capsys, ddir, "org", "show", "phongcntt.sotttt")
    assert code == 0 and out.count("Nguyễn Thanh Bình") == 2
    code, out, _ = run(capsys, ddir, "org", "rename", "sotttt", "Sở Khoa học và Công nghệ")
    assert code == 0 and "sotttt@soctrang.gov.vn → sokhcn@soctrang.gov.vn" in out
    assert run(capsys, ddir, "user", "leave", "ntbinh")[0] == 0
    assert "revoked" in run(capsys, ddir, "user", "list")[1]
    code, out, _ = run(capsys, ddir, "org", "add", "Sở Nội vụ")
    code, out, _ = run(capsys, ddir, "org", "merge", "sonv", "--into", "sokhcn")
    assert code == 0 and "sokhcn@" in out
    assert "merged" in run(capsys, ddir, "org", "list", "--all")[1]
    code, out, _ = run(capsys, ddir, "directory", "publish", str(tmp_path / "pub"))
    assert code == 0 and (tmp_path / "pub" / "danh-ba.vcf").exists()


def test_import_commands(capsys: pytest.CaptureFixture[str], ddir: Path, tmp_path: Path) -> None:
    template = tmp_path / "mau.xlsx"
    assert run(capsys, ddir, "import", "template", str(template))[0] == 0 and template.exists()
    code, out, _ = run(capsys, ddir, "import", str(template), "--dry-run")
    assert code == 0 and "ntbinh" in out and "sẽ nhập / would import: 2" in out
    assert run(capsys, ddir, "user", "list")[1] == ""
    code, out, _ = run(capsys, ddir, "import", str(template), "--out", str(tmp_path / "pw"))
    assert code == 0 and "đã nhập / imported" in out and len(list((tmp_path / "pw").glob("*.csv"))) == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("Loại dòng,Mã,Tên tổ chức / Họ và tên,Thuộc\nCán bộ,,,sotttt\nCán bộ,,Lê A,khongco\n",
                   encoding="utf-8")
    code, out, _ = run(capsys, ddir, "import", str(bad))
    assert code == 1 and "dòng / line 2" in out and "dòng / line 3" in out
