"""The directory (Danh bạ thư điện tử, Điều 2.5, 9.8, 10.2): organisations, people,
aliases, and the addresses the naming engine of Điều 3 gives them.

Other packages call:

* ``resolve_recipient(app, address)`` (or ``Directory(app).resolve_recipient(address)``):
  the mailbox id an address delivers to (a live mailbox, or a live alias such as the old
  address of a merged organisation), None if nothing takes mail there. The SMTP server
  uses it for every local recipient.
* ``publish(app, dest=None)`` (``congthu.directory.publish``): write the public directory
  (HTML, CSV, XLSX, vCard, JSON); the server schedules it every
  ``directory.publish_every_hours``.
* ``Directory(app).search(text)``: accent- and case-insensitive search.

Every address issued is checked against ``mailboxes.address`` (any status: a reclaimed or
revoked mailbox keeps its address reserved), the aliases (live or expired), the reserved
table and ``naming.DEFAULT_RESERVED``.

``Directory`` (``directory.py``) gathers one class per concern, each in its module:

* ``records``: DirectoryError, Org, Person, the event log;
* ``addresses``: local and full addresses, those taken, proposals of ``naming``;
* ``lookup``: organisations and people by reference, lists, the organisation tree;
* ``mailboxes``: mailboxes created in bulk in the directory's transaction, moving mail;
* ``orgs``: adding, naming and renaming organisations, their leader;
* ``lifecycle``: merge, split and dissolve;
* ``people``: adding, moving and the leaving of officials;
* ``aliases``: aliases and reserved addresses;
* ``resolve``: recipient resolution for SMTP;
* ``search``: search and the search keys.

``naming`` (the rules of Điều 3), ``importer`` (CSV/XLSX import), ``publish`` and ``cli``
use them.
``operations`` carries out the console's changes (adding, renaming, the departure of
Điều 4.5, reorganisation with its preview) with their audit records, for the console's
pages and the REST API alike.
"""

from __future__ import annotations

from congthu.directory import naming
from congthu.directory.aliases import Alias
from congthu.directory.directory import Directory
from congthu.directory.mailboxes import NewMailbox
from congthu.directory.naming import NamingError, Proposal
from congthu.directory.publish import publish
from congthu.directory.records import DirectoryError, Org, Person
from congthu.directory.resolve import resolve_recipient
from congthu.directory.search import SearchHit, org_search_key, person_search_key

__all__ = [
    "Alias", "Directory", "DirectoryError", "NamingError", "NewMailbox", "Org", "Person", "Proposal",
    "SearchHit", "naming", "org_search_key", "person_search_key", "publish", "resolve_recipient",
]
