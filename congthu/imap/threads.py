"""Base subjects and threads for SORT and THREAD (RFC 5256): pure functions, no I/O.

* base subjects (RFC 5256 section 2.1): ``congthu.mime.subjects`` (the webmail sorts
  and groups by them too);
* ``ordered_subject``: THREAD=ORDEREDSUBJECT (RFC 5256 section 3).
* ``references``: THREAD=REFERENCES (RFC 5256 section 3), steps (1) to (6), each step
  commented where it is done.
* ``render``: a thread in the THREAD response's syntax (RFC 5256 section 4).

"Sent date" (RFC 5256 section 2.2): the Date header in UTC, or the INTERNALDATE if it has
none or it cannot be parsed; equal dates are ordered by sequence number. The callers
give each message a ``key`` of (sent date, UID): UIDs are in sequence-number order.
Deep threads (a reply chain of thousands) are walked without recursion.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from congthu.mime.subjects import base_subject, subject_base
from congthu.text import fold

__all__ = ["ThreadMessage", "Node", "message_ids",
           "ordered_subject", "references", "render"]


# -- messages and containers ----------------------------------------------------------------

_MSG_ID = re.compile(r"<([^<>]*)>")
_QUOTED_PAIR = re.compile(r"\\(.)")


def _normal_id(inner: str) -> str | None:
    """A msg-id (RFC 5322 section 3.6.4) in one normal form, or None if it is not one:
    RFC 5256 section 3 asks that <"01KF8JCEOCBS0045PS"@xxx.yyy.com> and
    <01KF8JCEOCBS0045PS@xxx.yyy.com> be the same Message ID. Comparison stays
    case-sensitive (section 3, step 1.A)."""
    left, at, right = inner.strip().rpartition("@")
    left, right = left.strip(), "".join(right.split())
    if len(left) >= 2 and left[0] == '"' and left[-1] == '"':
        left = _QUOTED_PAIR.sub(r"\1", left[1:-1])
    else:
        left = "".join(left.split())
    if not at or not left or not right:
        return None
    return f"<{left}@{right}>"


def message_ids(value: str | None) -> list[str]:
    """The valid Message IDs in a header field's value, in order, normalised."""
    found = (_normal_id(inner) for inner in _MSG_ID.findall(value or ""))
    return [mid for mid in found if mid is not None]


@dataclass
class ThreadMessage:
    """What threading needs of one searched message (in sequence-number order)."""

    uid: int
    key: Any  # (sent date, uid): RFC 5256 section 2.2
    subject: str = ""  # decoded, not yet reduced to the base subject
    message_id: str | None = None  # the first valid Message ID of Message-ID, normalised
    references: Sequence[str] = ()  # step 1's references (see ``references``)


class Node:
    """A container of the REFERENCES algorithm: a message, or a dummy (``msg`` None)."""

    __slots__ = ("msg", "parent", "children", "at_root", "_subject")

    def __init__(self, msg: ThreadMessage | None = None) -> None:
        self.msg = msg
        self.parent: Node | None = None
        self.children: list[Node] = []
        self.at_root = False
        self._subject: tuple[str, bool] | None = None

    @property
    def dummy(self) -> bool:
        return self.msg is None

    def message(self) -> ThreadMessage:
        """This message, or a dummy's first child's (step 5.B.i, step 6)."""
        node = self
        while node.msg is None:
            node = node.children[0]
        return node.msg

    def subject(self) -> tuple[str, bool]:
        """(folded base subject, is a reply or forward) of this node's message."""
        if self._subject is None:
            text, refwd = subject_base(self.message().subject)
            self._subject = (fold(text), refwd)
        return self._subject

    def link(self, child: Node) -> None:
        child.parent = self
        self.children.append(child)

    def unlink(self) -> None:
        if self.parent is not None:
            self.parent.children.remove(self)
            self.parent = None

    def is_above(self, node: Node) -> bool:
        """Is this container ``node`` itself or one of its ancestors?"""
        current: Node | None = node
        while current is not None:
            if current is self:
                return True
            current = current.parent
        return False


def _date_key(node: Node) -> Any:
    return node.message().key


def _children_first(root: Node) -> list[Node]:
    """Every node under ``root`` and root itself, each after all of its descendants."""
    out: list[Node] = []
    stack = [root]
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(node.children)
    out.reverse()
    return out


# -- ORDEREDSUBJECT (RFC 5256 section 3) ----------------------------------------------------------

def ordered_subject(messages: Iterable[ThreadMessage]) -> list[Node]:
    """Sort by base subject and sent date, one thread per base subject (its first
    message at the top, the others its children, no grandchildren), the threads by the
    sent date of their first message."""
    groups: dict[str, Node] = {}
    for m in sorted(messages, key=lambda m: m.key):
        key = base_subject(m.subject)
        top = groups.get(key)
        if top is None:
            groups[key] = Node(m)
        else:
            top.link(Node(m))
    return sorted(groups.values(), key=_date_key)


# -- REFERENCES (RFC 5256 section 3) ----------------------------------------------------------

def references(messages: Iterable[ThreadMessage]) -> list[Node]:
    """The threads of the messages (given in sequence-number order), top-level first;
    a top-level dummy (``Node.dummy``) holds threads merged by subject.

    Each message's ``references`` are those of step 1: the valid Message IDs of its
    References field if it has any, else the first valid one of In-Reply-To, else none
    (the caller picks them, see ``cmd_search``)."""
    by_id: dict[str, Node] = {}
    every: list[Node] = []

    def container(mid: str) -> Node:
        node = by_id.get(mid)
        if node is None:
            # "If no message can be found with a given Message ID, create a dummy
            # message with this ID. Use this dummy message for all subsequent references."
            node = by_id[mid] = Node()
            every.append(node)
        return node

    # (1) For each searched message:
    for m in messages:
        # Its own container: the dummy made for its Message ID by an earlier reference,
        # or a new one. "If two or more messages have the same Message ID, then only use
        # that Message ID in the first (lowest sequence number) message": a duplicate, or
        # a message without a valid Message ID, gets a container of its own (a unique ID).
        node = by_id.get(m.message_id) if m.message_id else None
        if node is None or not node.dummy:
            node = Node()
            every.append(node)
            if m.message_id and m.message_id not in by_id:
                by_id[m.message_id] = node
        node.msg = m
        # (1.A) Link the references in order, each the parent of the next, unless the
        # next already has a parent ("don't change the existing link": the References
        # field may have been truncated) or the link would make a loop (the parent
        # must not be the child or a descendant of it).
        last: Node | None = None
        for mid in m.references:
            ref = container(mid)
            if last is not None and ref.parent is None and not ref.is_above(last):
                last.link(ref)
            last = ref
        # (1.B) The last reference becomes the message's parent: first break any
        # parent the message has (probably from a truncated References field); then
        # link, unless that would make a loop. No references: no parent.
        node.unlink()
        if last is not None and not node.is_above(last):
            last.link(node)

    # (2) The messages without parents are the children of a dummy root: the first
    # messages of the threads made so far.
    root = Node()
    for node in every:
        if node.parent is None:
            root.link(node)

    # (3) Prune dummies, each level after the levels below it: a dummy without children
    # is deleted; a dummy with children is deleted and its children take its place among
    # its siblings, except at the root, where a dummy with more than one child stays
    # (promoting them would make them threads of their own).
    for node in _children_first(root):
        kept: list[Node] = []
        for child in node.children:
            if child.dummy:
                if not child.children:
                    continue
                if node is not root or len(child.children) == 1:
                    kept.extend(child.children)
                    continue
            kept.append(child)
        node.children = kept
        for child in kept:
            child.parent = node

    # (4) Sort the top level by sent date; a dummy by its first child's, after sorting
    # its children.
    for top in root.children:
        if top.dummy:
            top.children.sort(key=_date_key)
    root.children.sort(key=_date_key)

    # (5) Gather the top-level threads that have the same base subject.
    tops = list(root.children)
    for top in tops:
        top.at_root = True
    # (5.A, 5.B) The subject table: one message per thread subject, the subject of the
    # message or, for a dummy, of its first child; empty subjects are skipped. A later
    # message replaces the one in the table if that one is not a dummy and either the
    # later one is a dummy, or the one in the table is a reply or forward and the later
    # one is not.
    table: dict[str, Node] = {}
    for top in tops:
        subject, refwd = top.subject()
        if not subject:
            continue
        held = table.get(subject)
        if held is None or (not held.dummy and (top.dummy or (held.subject()[1] and not refwd))):
            table[subject] = top
    # (5.C) Merge each top-level thread into the one in the table for its subject.
    made: list[Node] = []
    for top in tops:
        subject, refwd = top.subject()
        if not subject or not top.at_root:
            continue
        held = table[subject]
        if held is top:
            continue
        top.at_root = False
        if held.dummy and top.dummy:
            # Both dummies: the current one's children join the table's, it goes.
            for child in top.children:
                held.link(child)
        elif held.dummy or (refwd and not held.subject()[1]):
            # The table's is a dummy, or the current message is a reply or forward and
            # the table's is not: the current one becomes a child of the table's.
            held.link(top)
        else:
            # Otherwise a new dummy takes both as children and their place in the table.
            dummy = Node()
            held.at_root = False
            dummy.link(held)
            dummy.link(top)
            dummy.at_root = True
            table[subject] = dummy
            made.append(dummy)
    root.children = [top for top in tops if top.at_root] + made

    # (6) Sort every set of siblings by sent date, the youngest generation first so that
    # a dummy (only at the top) is sorted by its first child once that child is known.
    for node in _children_first(root):
        node.children.sort(key=_date_key)
    return root.children


# -- the response (RFC 5256 section 4) ---------------------------------------------------------

def render(top: Node, number: Callable[[int], int]) -> str:
    """One thread as in "(3 6 (4 23)(44 7 96))" or "((3)(5))" for a dummy at the top:
    a message, then its only child's thread continued, or each child's thread in
    parentheses. ``number`` gives a UID's message number (or the UID itself)."""
    out: list[str] = ["("]
    stack: list[Node | str] = [")", top]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        kids = item.children
        if item.msg is not None:
            out.append(str(number(item.msg.uid)))
            if len(kids) == 1:
                out.append(" ")
                stack.append(kids[0])
                continue
            if kids:
                out.append(" ")
        stack.extend(_bracketed(kids))
    return "".join(out)


def _bracketed(kids: list[Node]) -> Iterator[Node | str]:
    """Stack items that render "(kid1)(kid2)..." when popped."""
    for kid in reversed(kids):
        yield ")"
        yield kid
        yield "("
