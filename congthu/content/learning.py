"""Teaching rspamd's Bayes from what users do (Điều 9.9): a message a user moves into
Junk is learnt as spam, one moved out of Junk as ham, in that user's own statistics
(rspamd's ``per_user``: the ``Deliver-To`` of the learn request).

``after_move`` is what the doors call when messages change folder (IMAP COPY and MOVE,
the webmail's move): for a move into or out of Junk (RFC 6154 ``\\Junk``) it teaches
each message, at most ``LEARN_PER_MOVE`` of them, in the background (``App.spawn``), so
the client never waits for rspamd. Learning is best effort: a controller that is down is
logged, never an error for the user's move.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from congthu.content import rspamd
from congthu.content.errors import ScannerUnavailable
from congthu.log import event

if TYPE_CHECKING:
    from congthu.app import App
    from congthu.store import Folder

__all__ = ["LEARN_PER_MOVE", "after_move", "teach"]

JUNK = "\\Junk"
# A user who moves a whole folder of old mail teaches rspamd with its first messages
# only: Bayes needs examples, not every one, and a move must not start a flood.
LEARN_PER_MOVE = 20


async def after_move(app: App, owner: str, source_id: int, destination: Folder, uids: Sequence[int]) -> bool:
    """Messages ``uids`` (in ``destination``) came from the folder ``source_id``: when one
    of the two is Junk and learning is on, teach them as spam (into Junk) or ham (out of
    it) for ``owner``, the mailbox's address, in the background. True if started."""
    if not uids or not app.settings.content.rspamd_controller:
        return False
    source = await app.store.get_folder_by_id(source_id)
    into, out_of = destination.special_use == JUNK, source is not None and source.special_use == JUNK
    if into == out_of:
        return False
    app.spawn(_teach_moved(app, owner, destination.id, list(uids)[:LEARN_PER_MOVE], into))
    return True


async def _teach_moved(app: App, owner: str, folder_id: int, uids: list[int], spam: bool) -> None:
    for message in await app.store.get_messages(folder_id, uids):
        await teach(app, owner, await app.store.read_message(message.content_id), spam)


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
