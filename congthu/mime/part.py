"""One MIME entity of a message, with its byte offsets in the raw message.

Offsets (RFC 2045 section 2.4 entity, RFC 2046 section 5.1.1 body parts):

* ``header_start`` .. ``body_start``: the header, including the blank line that ends it
  (IMAP BODY[x.MIME], BODY[HEADER]; empty when the part has no header);
* ``body_start`` .. ``body_end``: the body, for a part of a multipart exactly the bytes
  between the blank line after its header and the CRLF preceding the next boundary
  delimiter (that CRLF belongs to the delimiter, RFC 2046 section 5.1.1).

The same class describes a whole message (the root, or the message inside a
message/rfc822 part, ``message``): then ``envelope`` is set.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from congthu.mime.envelope import Envelope

__all__ = ["Part"]

Params = list[tuple[str, str]]


@dataclass
class Part:
    header_start: int
    body_start: int
    body_end: int
    type: str = "text"  # lower case, as are subtype, encoding and disposition
    subtype: str = "plain"
    params: Params = field(default_factory=list)  # IMAP form, see params.imap_params
    content_id: str | None = None
    description: str | None = None
    encoding: str | None = None  # Content-Transfer-Encoding; None: 7bit (RFC 2045 section 6.1)
    md5: str | None = None
    disposition: str | None = None
    disposition_params: Params = field(default_factory=list)
    language: list[str] | None = None
    location: str | None = None
    lines: int | None = None  # text/* and message/rfc822 only
    filename: str | None = None  # decoded (RFC 2231 / RFC 2047), NFC
    charset: str | None = None
    children: list[Part] = field(default_factory=list)  # multipart/*
    message: Part | None = None  # message/rfc822, message/global
    envelope: Envelope | None = None  # set on message entities

    @property
    def size(self) -> int:
        """Body size in octets, as in BODYSTRUCTURE (RFC 9051 section 7.5.2 body-fld-octets)."""
        return self.body_end - self.body_start

    @property
    def media_type(self) -> str:
        return f"{self.type}/{self.subtype}"

    @property
    def is_multipart(self) -> bool:
        return bool(self.children)

    @property
    def is_leaf(self) -> bool:
        return not self.children and self.message is None

    @property
    def is_attachment(self) -> bool:
        """An attachment to the user (and for the 15 MB rule, Điều 8.1).

        A message/rfc822 part, a part with disposition "attachment" (RFC 2183), a text part
        with a file name that is not marked inline, or any other non-multipart part.
        """
        if self.children:
            return False
        if self.message is not None or self.disposition == "attachment":
            return True
        if self.type == "text":
            return self.filename is not None and self.disposition != "inline"
        return True

    def walk(self, prefix: str = "") -> Iterator[tuple[str, Part]]:
        """(IMAP section number, part) for this part and every part below, in order.

        Numbering follows RFC 9051 section 6.4.5: the children of a multipart are 1, 2, ...;
        a message/rfc822 part's message body gets the numbers of its own parts, and a
        non-multipart message body is its part 1.
        """
        if not prefix:
            if self.children:
                for number, child in enumerate(self.children, 1):
                    yield from child.walk(str(number))
            else:
                yield from self.walk("1")
            return
        yield prefix, self
        if self.children:
            for number, child in enumerate(self.children, 1):
                yield from child.walk(f"{prefix}.{number}")
        elif self.message is not None:
            inner = self.message
            if inner.children:
                for number, child in enumerate(inner.children, 1):
                    yield from child.walk(f"{prefix}.{number}")
            else:
                yield from inner.walk(f"{prefix}.1")

    # -- JSON ---------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"o": [self.header_start, self.body_start, self.body_end],
                               "t": self.media_type}
        optional = {
            "p": [list(p) for p in self.params], "id": self.content_id, "desc": self.description,
            "enc": self.encoding, "md5": self.md5, "disp": self.disposition,
            "dp": [list(p) for p in self.disposition_params], "lang": self.language,
            "loc": self.location, "n": self.lines, "fn": self.filename, "cs": self.charset,
        }
        out.update((k, v) for k, v in optional.items() if v is not None and v != [])
        if self.children:
            out["parts"] = [c.to_json() for c in self.children]
        if self.message is not None:
            out["msg"] = self.message.to_json()
        if self.envelope is not None:
            out["env"] = self.envelope.to_json()
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Part:
        header_start, body_start, body_end = data["o"]
        kind, _, sub = data["t"].partition("/")
        return cls(
            header_start=header_start, body_start=body_start, body_end=body_end,
            type=kind, subtype=sub, params=[(k, v) for k, v in data.get("p", [])],
            content_id=data.get("id"), description=data.get("desc"), encoding=data.get("enc"),
            md5=data.get("md5"), disposition=data.get("disp"),
            disposition_params=[(k, v) for k, v in data.get("dp", [])],
            language=data.get("lang"), location=data.get("loc"), lines=data.get("n"),
            filename=data.get("fn"), charset=data.get("cs"),
            children=[cls.from_json(c) for c in data.get("parts", [])],
            message=cls.from_json(data["msg"]) if "msg" in data else None,
            envelope=Envelope.from_json(data["env"]) if "env" in data else None,
        )
