"""The ``congthu`` command starts without the libraries only some commands use.

Every command builds the whole command tree (each package's ``cli.py``) and most open an
App, so whatever those import at module level every command pays: the PDF and XLSX
writers, the S3 client, the ACME client, dkimpy and pyspf, the certificate builder, the
migration tool together cost a second of CPU per command (the tests run the command
hundreds of times, operators and their scripts as often). Those are imported by the
commands and the code paths that use them; this test keeps it so.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Top-level modules a command that does not use them must not load.
NOT_AT_START = ("reportlab", "openpyxl", "pypdf", "jinja2", "minio", "alembic", "dkim", "spf", "acme", "josepy",
                "cryptography.x509")

PROBE = textwrap.dedent("""
    import sys
    from congthu.app import App
    from congthu.cli import build_parser

    build_parser().parse_args(["org", "list"])
    print(" ".join(name for name in {NAMES} if name in sys.modules))
""")


def test_the_command_tree_and_the_app_load_no_library_of_a_single_command() -> None:
    probe = PROBE.replace("{NAMES}", repr(NOT_AT_START))
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [], f"loaded at start: {done.stdout}"
