"""How the ``congthu`` command reports a failure: one clear message, never a traceback
for a user's mistake (a missing argument, a bad address, an unknown user, a bad file, a
data directory that was never initialised, an invalid configuration), and an exit code
that says which kind of failure it was.

An error that is nobody's mistake but ours (a bug) is reported as an internal error in
one line too; ``congthu -v`` shows its traceback.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

from sqlalchemy.exc import OperationalError

from congthu.accounts.passwords import PasswordRejected
from congthu.config import CONFIG_FILE, ConfigError
from congthu.db import DatabaseUnavailable

# Exit codes: 1 a refused command, 2 usage or configuration, 3 the database is
# unavailable, 70 an internal error (sysexits EX_SOFTWARE).
USAGE, UNAVAILABLE, INTERNAL = 2, 3, 70
INTERNAL_MARK = "Lỗi nội bộ / internal error"


class CommandError(Exception):
    """A command's clear refusal: printed without a traceback."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def require_initialised(data_dir: Path) -> None:
    """Refuse to open a data directory that ``congthu init`` has not made (it would
    otherwise end in "unable to open database file" deep in the database driver)."""
    if not (data_dir / CONFIG_FILE).is_file():
        raise CommandError(
            f"Thư mục dữ liệu chưa được khởi tạo / data directory not initialised: {data_dir} "
            f"(khởi tạo bằng / initialise it with: congthu --data {data_dir} init)", USAGE)


def report(exc: Exception, *, verbose: bool = False) -> int:
    """Print what went wrong on standard error, in one message; the exit code."""
    if isinstance(exc, CommandError):
        return _say(str(exc), exc.code)
    if isinstance(exc, ConfigError):
        return _say(f"Lỗi cấu hình / configuration error: {exc}", USAGE)
    if isinstance(exc, DatabaseUnavailable):
        return _say(str(exc), UNAVAILABLE)
    if isinstance(exc, PasswordRejected):
        rules = "\n".join(f"  - {r.message}" for r in exc.refusals)
        return _say(f"Mật khẩu không được chấp nhận / password refused:\n{rules}", 1)
    if isinstance(exc, OperationalError):
        # The database cannot be opened or used (a wrong path or URL in [database], a
        # full disk, a lock held too long): the driver's own words, without SQLAlchemy's.
        return _say(f"Lỗi cơ sở dữ liệu / database error: {exc.orig}", UNAVAILABLE)
    if isinstance(exc, OSError):
        # A file or directory named on the command line (or the database server) that
        # cannot be used: the system's own words say which and why.
        return _say(f"Lỗi tệp hoặc kết nối / file or connection error: {exc}", 1)
    if verbose:
        traceback.print_exception(exc, file=sys.stderr)
    return _say(f"{INTERNAL_MARK}: {type(exc).__name__}: {exc} "
                "(chạy lại với -v để xem chi tiết / run again with -v for details)", INTERNAL)


def _say(message: str, code: int) -> int:
    print(message, file=sys.stderr)
    return code
