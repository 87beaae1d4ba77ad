"""``Accounts``: the authentication core of one App, joined from one class per concern
(see ``base.py``)."""

from __future__ import annotations

from congthu.accounts.login import LoginChecks
from congthu.accounts.password_changes import PasswordChanges
from congthu.accounts.services import ServiceAccounts


class Accounts(LoginChecks, PasswordChanges, ServiceAccounts):
    """Credentials, the login check of every door, password rules and changes, the
    second factor, app passwords and service accounts (see the package docstring)."""
