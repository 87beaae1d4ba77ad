"""Delegated access to mailboxes (Điều 12, 13.3): who may open, read, change or send as
another mailbox (an organisation mailbox managed by a delegate), as a whole or folder by
folder. Every grant is explicit, and every grant, change and use is audited.

The rights are the letters of RFC 4314 section 2.1:

    l lookup (see the folder)       r read (SELECT, FETCH, SEARCH, COPY from)
    s keep \\Seen                    w write other flags and keywords
    i insert (APPEND, COPY into)    p post (unused: no submission address per folder)
    k create folders                x delete folders
    t set \\Deleted                  e expunge
    a administer (change the grants)

and one right of our own (RFC 4314 reserves the digits for such): "0", send as the
owner (From / MAIL FROM of the owner's address, Điều 12: the delegate answers for the
organisation). The owner has every right. The obsolete "c" and "d" of RFC 2086 are
accepted and stored as "k" and "xte" (RFC 4314 section 2.1.1).

Two kinds of grant (RFC 4314 section 2: an ACL belongs to each mailbox name, that is to
each folder):

- the mailbox-wide grant (owner, grantee, rights): the grantee's rights on INBOX and on
  every folder that has no grant of its own. It is the only one that can hold "0":
  sending as the organisation is not a property of a folder. Grants made before folder
  grants existed are of this kind and keep their meaning, the whole mailbox.
- a folder grant (folder, grantee, rights): replaces the mailbox-wide grant on that one
  folder, in either direction ("lr" on "Công văn đến" for a delegate with nothing else,
  or "" to hide one folder from a delegate of the whole mailbox). It is stored by the
  folder's id, so it follows RENAME and is deleted with the folder (RFC 4314 section 4:
  "The DELETE command MUST delete the ACL associated with the deleted mailbox"; RENAME
  "SHOULD NOT change the ACLs"). INBOX has none: its rights are the mailbox-wide grant,
  so over IMAP the ACL of INBOX is the mailbox-wide ACL (``congthu.imap.cmd_acl``).

So the effective rights on a folder are its own grant if there is one, else the
mailbox-wide grant. A delegation (one owner, one delegate) may have an end
(``term``): from then on no door honours any of its grants (``term.in_force``, the one
check, applied by every read a door acts on). IMAP shows the delegated folders under the shared namespace
``Shared/<owner address>/...`` (``congthu.imap.namespace``); a folder without "l" is not
there at all for the delegate.
"""

from __future__ import annotations

from congthu.delegation.access import (
    Access,
    Grant,
    access_of,
    accesses_of,
    acl_of,
    can_send_as,
    delegated_to,
    grants_of,
    list_grants,
    rights_of,
)
from congthu.delegation.granting import create_folder, grant, revoke, set_end
from congthu.delegation.rights import (
    ALL_RIGHTS,
    FOLDER_RIGHTS,
    INBOX,
    READ_ONLY,
    SEND_AS,
    InvalidRights,
    normalise_rights,
    with_virtual_rights,
)
from congthu.delegation.term import KEEP, InvalidTerm, in_force, last_day, parse_end

__all__ = ["ALL_RIGHTS", "FOLDER_RIGHTS", "INBOX", "KEEP", "READ_ONLY", "SEND_AS", "Access", "Grant",
           "InvalidRights", "InvalidTerm", "access_of", "accesses_of", "acl_of", "can_send_as", "create_folder",
           "delegated_to", "grant", "grants_of", "in_force", "last_day", "list_grants", "normalise_rights",
           "parse_end", "revoke", "rights_of", "set_end", "with_virtual_rights"]
