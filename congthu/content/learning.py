"""Teaching rspamd's Bayes from what users do (Điều 9.9): a message a user moves into
Junk is learnt as spam, one moved out of Junk as ham, in that user's own statistics
(rspamd's ``per_user``: the ``Deliver-To`` of the learn request).

``teach`` is what the doors call when a message changes folder to or from Junk (IMAP
MOVE/COPY, the webmail). Learning is best effort: a controller that is down is logged,
never an error for the user's move.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from congthu.content import rspamd
from congthu.content.errors import ScannerUnavailable
from congthu.log import event

if TYPE_CHECKING:
    from congthu.app import App

__all__ = ["teach"]


async def teach(app: App, user: str, raw: bytes, spam: bool) -> bool:
    """Learn ``raw`` as spam (moved into Junk) or ham (moved out) for ``user``; True when
    rspamd learnt it, False when learning is off or failed."""
    settings = app.settings.content
    if not settings.rspamd_controller:
        return False
    try:
        learnt = await rspamd.learn(settings.rspamd_controller, raw, spam, user=user,
                                    password=settings.rspamd_password, seconds=settings.timeout)
    except ScannerUnavailable as exc:
        event("content.learn_failed", user=user, spam=spam, error=str(exc))
        return False
    event("content.learned" if learnt else "content.not_learned", user=user, spam=spam, size=len(raw))
    return learnt
