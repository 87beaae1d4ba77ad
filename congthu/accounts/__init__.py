"""Accounts: credentials and the one authentication core every door uses.

``Accounts.authenticate(username, password, protocol=..., client_ip=..., secure=...)`` is
the single login check of SMTP AUTH, IMAP, POP3, the web consoles and LDAP, so the rules
of the regulation hold on every path at once:

- plaintext passwords only over TLS (``secure``), or over loopback when the development
  setting ``system.dev_allow_plaintext_loopback`` is on (``make run``; never production);
- argon2id hashes (RFC 9106, argon2-cffi), parameters from ``[passwords]``; a hash made
  with other parameters is redone at the next successful login;
- SCRAM-SHA-256 keys (RFC 5802, RFC 7677) derived when a password is set, for ``sasl.py``;
- Điều 13.2: every password chosen by someone other than the owner (a new or reset
  account, an administrator's choice, an import) must be changed at first login
  (``password_changes.py``); a password older than ``max_age_days`` (30) has expired.
  Both give ``AuthStatus.EXPIRED`` with a message pointing to the change page
  ``/doi-mat-khau``. The rules for a new password are in ``passwords.py``; reminders in
  ``jobs.py``;
- guessing: per (address, account), per address and per account delays and locks
  (``lockout.py``). The delay is
  awaited inside ``authenticate`` and reported in ``AuthResult.delay``;
- a second factor (TOTP, RFC 6238, ``totp.py``) for the web protocols of users who turn
  it on; their mail clients then log in with app passwords;
- every success and failure is a record of the audit trail (``congthu.audit``); a door
  whose clients log in per request (LDAP) may have repeated successes of one account
  from one address counted on the next record instead (``recent.py``);
- what a login is decided on (the mailbox, its credential and second factor, that no
  lock holds) is kept between logins in a process that hears the change feed, every
  change of it announced there by the function that makes it (``states.py``), so a
  repeated login reads nothing;
- applications log in with service accounts (``services.py``), a kind of their own.

Time comes from ``accounts.clock`` (a callable returning an aware UTC datetime) and delays
go through ``accounts.sleep``, so tests can move time forward.

Modules: ``accounts.py`` joins ``Accounts`` from ``base.py``, ``login.py``,
``second_factor.py``, ``password_changes.py`` and ``services.py``; ``model.py`` holds the
records, ``credentials.py`` the SQL of the credential tables, ``generated.py`` the
secrets the system makes; ``initial.py`` stores first passwords in the directory's
transaction.
"""

from congthu.accounts.accounts import Accounts
from congthu.accounts.generated import make_hasher, new_app_password, one_time_password
from congthu.accounts.model import (
    WEB_PROTOCOLS,
    AuthResult,
    AuthStatus,
    Credential,
    IssuedPassword,
    ScramCandidate,
    ScramLookup,
    Verified,
    change_password_url,
)
from congthu.accounts.passwords import PasswordRejected, Refusal
from congthu.accounts.services import ServiceAccount, ServiceCheck, ServiceError

__all__ = [
    "WEB_PROTOCOLS", "Accounts", "AuthResult", "AuthStatus", "Credential", "IssuedPassword", "PasswordRejected",
    "Refusal", "ScramCandidate", "ScramLookup", "ServiceAccount", "ServiceCheck", "ServiceError", "Verified",
    "change_password_url", "make_hasher", "new_app_password", "one_time_password",
]
