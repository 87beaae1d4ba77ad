"""Where each old folder goes: the old server's special folders (RFC 6154 SPECIAL-USE
attributes, else the names Zimbra, Exchange, hMailServer, Dovecot, Gmail and
Vietnamese-language clients give them) become ours (``Sent``, ``Drafts``...), the
others keep their names with our delimiter "/"."""

from __future__ import annotations

from congthu.migrate.source import OldFolder
from congthu.text import fold

_BY_ATTRIBUTE = {"\\sent": "Sent", "\\drafts": "Drafts", "\\trash": "Trash", "\\junk": "Junk",
                 "\\archive": "Archive"}

# Compared accent- and case-folded (congthu.text.fold).
_BY_NAME = {
    "Sent": ["sent", "sent items", "sent messages", "sent mail", "outbox sent", "da gui", "thu da gui",
             "hop thu di", "thu di"],
    "Drafts": ["drafts", "draft", "thu nhap", "nhap", "ban nhap"],
    "Trash": ["trash", "deleted items", "deleted messages", "deleted", "bin", "thung rac", "thu da xoa",
              "da xoa"],
    "Junk": ["junk", "spam", "junk e-mail", "junk email", "bulk mail", "thu rac", "thu spam"],
    "Archive": ["archive", "archives", "luu tru", "thu luu tru"],
}
_NAMES = {name: ours for ours, names in _BY_NAME.items() for name in names}


def destination(folder: OldFolder) -> str:
    """Our folder name for an old one ("INBOX" stays INBOX; "INBOX.Sent" of Courier-style
    servers and "[Gmail]/Sent Mail" are Sent; "Sent Items/2019" is "Sent/2019")."""
    delimiter = folder.delimiter or "/"
    parts = folder.name.split(delimiter) if folder.delimiter else [folder.name]
    # "/" inside a part of a server whose delimiter is not "/" would make a level here.
    parts = [p.replace("/", "-") if delimiter != "/" else p for p in parts]
    if parts[0].upper() == "INBOX":
        parts[0] = "INBOX"
    for attribute, special in _BY_ATTRIBUTE.items():
        if attribute in folder.attributes:
            return special
    # A special folder at the top, under INBOX (Courier) or under [Gmail]: ours, its
    # sub-folders below it.
    for skip in (0, 1):
        if skip and (len(parts) < 2 or parts[0] not in ("INBOX", "[Gmail]", "[Google Mail]")):
            break
        ours = _NAMES.get(fold(parts[skip]).strip())
        if ours:
            return "/".join([ours, *parts[skip + 1:]])
    return "/".join(parts)
