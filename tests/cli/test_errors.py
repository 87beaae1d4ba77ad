"""Issue 10: no traceback for any user mistake in any command.

A table of bad inputs for commands of every package (core, users, accounts, audit,
service accounts, directory, organisations, aliases, import, SMTP queue, delegation),
each run as the ``congthu`` command: it must exit non-zero with a short, clear message
saying what was wrong, and never print a traceback or an internal error. The commands
run in one child process for the module (``tests.clirunner``: an interpreter per
command cost a second and a half of imports each, ninety times); a sample of every kind
also runs as the installed ``congthu`` script in a process of its own, and must give
exactly what the runner gave (``test_the_runner_gives_what_the_command_gives``).
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from congthu.cli.errors import INTERNAL_MARK
from tests.clirunner import Cli
from tests.conftest import make_data_dir

REPO = Path(__file__).resolve().parents[2]
CONGTHU = REPO / ".venv" / "bin" / "congthu"
D = "soctrang.gov.vn"
USER = f"ntbinh@{D}"
NOBODY = f"nobody@{D}"

# (arguments, what the message must say (case-insensitive), standard input)
CASES: list[tuple[list[str], str, str]] = [
    # argument parsing
    (["bogus"], "invalid choice", ""),
    (["user"], "required", ""),
    (["user", "add", "x@" + D], "--name", ""),
    (["user", "passwd"], "required", ""),
    (["org", "add"], "required", ""),
    (["alias", "add", "x"], "required", ""),
    (["user", "add", "--name", "A B", "--org", "sotttt", "--rank", "abc"], "invalid int value", ""),
    (["audit", "list", "--limit", "many"], "invalid int value", ""),
    (["alias", "add", "a", USER, "--days", "x"], "invalid int value", ""),
    (["directory", "search", "x", "--limit", "zz"], "invalid int value", ""),
    (["user", "totp", USER, "explode"], "invalid choice", ""),
    # user commands
    (["user", "add", "bad address", "--name", "A B"], "invalid", ""),
    (["user", "add", "x@other.example", "--name", "A B"], "not a local domain", ""),
    (["user", "add", "x@" + D, "--name", ""], "--name", ""),
    (["user", "add", "x@" + D, "--name", "   "], "--name", ""),
    (["user", "add", "weak@" + D, "--name", "Weak User", "--password", "a"], "password refused", ""),
    (["user", "add", USER, "--name", "Nguyễn Thanh Bình"], "taken", ""),
    (["user", "add", "--name", "A B"], "--org", ""),
    (["user", "add", "--name", "A B", "--org", "nope"], "nope", ""),
    (["user", "add", "--name", "A B", "--org", "sotttt", "--registered", "32/13/2020"], "invalid date", ""),
    (["user", "move", NOBODY, "--org", "sotttt"], "nobody", ""),
    (["user", "leave", NOBODY], "nobody", ""),
    (["user", "list", "--org", "nope"], "nope", ""),
    (["user", "passwd", NOBODY, "--password-stdin"], "no such mailbox", "Song@Hau7River\n"),
    (["user", "passwd", USER], "--password-stdin", ""),
    (["user", "passwd", USER, "--password-stdin"], "no password", ""),
    (["user", "passwd", USER, "--password-stdin"], "password refused", "abc\n"),
    (["user", "reset", NOBODY], "no such mailbox", ""),
    (["user", "totp", NOBODY, "status"], "no such mailbox", ""),
    (["user", "totp", USER, "confirm"], "6-digit", ""),
    (["user", "totp", USER, "confirm", "123456"], "wrong code", ""),
    (["user", "app-password", USER, "revoke", "abc"], "id", ""),
    (["user", "app-password", USER, "revoke", "999"], "no such app password", ""),
    (["user", "role", NOBODY, "list"], "no such mailbox", ""),
    (["user", "role", USER, "grant"], "role is needed", ""),
    (["user", "role", USER, "grant", "org_manager"], "org_manager", ""),
    # audit and service accounts
    (["audit", "list", "--since", "yesterday"], "invalid date", ""),
    (["audit", "export", "--output", "/nonexistent/dir/audit.csv"], "no such file", ""),
    (["service", "add", "Bad Name"], "invalid service account name", ""),
    (["service", "add", f"svc@{D}"], "invalid service account name", ""),
    (["service", "remove", "nope"], "no such service account", ""),
    (["service", "reset", "nope"], "no such service account", ""),
    # organisations, names, aliases, the directory
    (["name", "person", ""], "", ""),
    (["org", "add", ""], "", ""),
    (["org", "add", "Sở Thông tin và Truyền thông", "--password", "x"], "password refused", ""),
    (["org", "add", "Phòng Kế hoạch", "--parent", "nope"], "nope", ""),
    (["org", "show", "nope"], "nope", ""),
    (["org", "rename", "nope", "Sở Mới"], "nope", ""),
    (["org", "merge", "nope1", "nope2", "--into", "sotttt"], "nope", ""),
    (["org", "split", "nope", "--part", "Phòng A"], "at least two", ""),
    (["org", "split", "nope", "--part", "Phòng A", "--part", "Phòng B"], "nope", ""),
    (["org", "dissolve", "nope"], "nope", ""),
    (["org", "leader", "nope", NOBODY], "no such", ""),
    (["alias", "add", "cu@" + D, NOBODY], "nobody", ""),
    (["alias", "remove", "nope@" + D], "nope", ""),
    (["import", "/nonexistent/people.csv"], "nonexistent", ""),
    (["import", "{garbage}"], "", ""),
    (["directory", "publish", "/proc/version/x"], "", ""),
    # SMTP queue and delegation
    (["queue", "retry", "abc"], "", ""),
    (["queue", "delete", "999999"], "", ""),
    (["delegate", "grant", NOBODY, USER, "lr"], "nobody", ""),
    (["delegate", "grant", "sotttt@" + D, USER, "zz"], "invalid right", ""),
    (["delegate", "revoke", NOBODY, USER], "nobody", ""),
    (["delegate", "list", NOBODY], "nobody", ""),
    # core
    (["restore", "/nonexistent/backup"], "nonexistent", ""),
    (["backup", "/proc/version/x"], "", ""),
    (["backup"], "DEST hoặc --into", ""),
    (["backup", "--into", "/proc/x", "--keep", "0"], "--keep", ""),
]

UNINITIALISED = [["user", "list"], ["check"], ["audit", "verify"], ["org", "list"], ["service", "list"],
                 ["queue", "list"], ["delegate", "list"], ["directory", "search", "binh"],
                 ["user", "add", USER, "--name", "A B"]]

BAD_CONFIGS = [
    ("[system]\ndomain = 5\n", "system.domain"),
    ("[system\n", "invalid toml"),
    ("[listen]\nimap = 99999\n", "listen.imap"),
    ("[nosuch]\n", "unknown section"),
    ("[passwords]\nmin_length = 4\n", "passwords.min_length"),
    ('[database]\nurl = "sqlite+aiosqlite:////nonexistent/dir/meta.db"\n', "unable to open database file"),
    ('[database]\nurl = "postgresql+asyncpg://u:p@127.0.0.1:1/x"\n', "connect"),
]


@pytest.fixture(scope="module")
def congthu() -> Iterator[Cli]:
    """``congthu(DATA, ARGS..., stdin=...)``: the command's exit code, stdout and stderr."""
    runner = Cli(REPO)
    try:
        yield runner
    finally:
        runner.close()


def assert_clear_refusal(result: subprocess.CompletedProcess[str], expected: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    assert INTERNAL_MARK not in output, output
    assert result.stderr.strip(), "no message"
    assert len(result.stderr.strip().splitlines()) <= 12, result.stderr
    assert expected.lower() in result.stderr.lower(), result.stderr


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, congthu: Cli) -> Path:
    path = asyncio.run(make_data_dir(tmp_path_factory.mktemp("cli") / "data"))
    for args in (["org", "add", "Sở Thông tin và Truyền thông"],
                 ["user", "add", USER, "--name", "Nguyễn Thanh Bình"]):
        done = congthu(path, *args)
        assert done.returncode == 0, done.stderr
    return path


@pytest.mark.parametrize(("args", "expected", "stdin"), CASES, ids=[" ".join(c[0])[:60] for c in CASES])
def test_bad_input_gets_a_clear_message(congthu: Cli, data_dir: Path, args: list[str], expected: str,
                                        stdin: str) -> None:
    assert_clear_refusal(congthu(data_dir, *args, stdin=stdin), expected)


@pytest.mark.parametrize("args", UNINITIALISED, ids=[" ".join(a) for a in UNINITIALISED])
def test_uninitialised_data_directory(congthu: Cli, tmp_path: Path, args: list[str]) -> None:
    missing = tmp_path / "never-initialised"
    result = congthu(missing, *args)
    assert_clear_refusal(result, "not initialised")
    assert f"congthu --data {missing} init" in result.stderr
    assert result.stderr.count("\n") == 1  # one line
    assert not missing.exists()  # nothing was created on the way


@pytest.mark.parametrize(("text", "expected"), BAD_CONFIGS, ids=[c[1][:30] for c in BAD_CONFIGS])
def test_bad_configuration_file(congthu: Cli, tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "congthu.toml").write_text(text, encoding="utf-8")
    assert_clear_refusal(congthu(tmp_path, "user", "list"), expected)


BAD_FILES = [
    ("people.csv", bytes(range(256)) * 8, "not a csv text file"),  # NUL bytes: binary, not text
    ("people.csv", b"ho ten,don vi\nNguy\xea\xde\xf2n,S\xf4\n", "utf-8"),  # a Windows code page, not UTF-8
    ("people.xlsx", b"PK\x03\x04 not really a workbook", "xlsx"),
    ("people.csv", b"a,b\n1,2\n", "missing columns"),
]


@pytest.mark.parametrize(("name", "content", "expected"), BAD_FILES, ids=[c[2] for c in BAD_FILES])
def test_import_of_a_bad_file(congthu: Cli, data_dir: Path, tmp_path: Path, name: str, content: bytes,
                              expected: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert_clear_refusal(congthu(data_dir, "import", str(path)), expected)


def test_configuration_file_not_utf8(congthu: Cli, tmp_path: Path) -> None:
    (tmp_path / "congthu.toml").write_bytes(b"[system]\ndomain = \"\xff\xfe\"\n")
    assert_clear_refusal(congthu(tmp_path, "check"), "utf-8")


def test_data_directory_is_a_file(congthu: Cli, tmp_path: Path) -> None:
    path = tmp_path / "a-file"
    path.write_text("x", encoding="utf-8")
    assert_clear_refusal(congthu(path, "init"), str(path))


def test_init_with_an_invalid_domain(congthu: Cli, tmp_path: Path) -> None:
    assert_clear_refusal(congthu(tmp_path / "d", "init", "--domain", "nodot"), "system.domain")


def test_the_runner_gives_what_the_command_gives(congthu: Cli, data_dir: Path, tmp_path: Path) -> None:
    """A case of every kind above, as the installed ``congthu`` script in a process of its
    own and through the runner: the same exit code, stdout and stderr (argument parsing's
    usage error, a refusal with standard input, a handler's refusal, an uninitialised
    directory, a bad configuration, a bad file to import, a data directory that is a file)."""
    bad_config = tmp_path / "bad-config"
    bad_config.mkdir()
    (bad_config / "congthu.toml").write_text(BAD_CONFIGS[1][0], encoding="utf-8")
    bad_file = tmp_path / "people.csv"
    bad_file.write_bytes(BAD_FILES[1][1])
    a_file = tmp_path / "a-file"
    a_file.write_text("x", encoding="utf-8")
    script = [str(CONGTHU)]
    taken = next(c for c in CASES if c[1] == "taken")
    for args, _expected, stdin in (CASES[0], taken, next(c for c in CASES if c[2])):
        congthu.same_as_a_process("--data", str(data_dir), *args, stdin=stdin, command=script)
    congthu.same_as_a_process("--data", str(tmp_path / "never-initialised"), *UNINITIALISED[0], command=script)
    congthu.same_as_a_process("--data", str(bad_config), "user", "list", command=script)
    congthu.same_as_a_process("--data", str(data_dir), "import", str(bad_file), command=script)
    congthu.same_as_a_process("--data", str(a_file), "init", command=script)
