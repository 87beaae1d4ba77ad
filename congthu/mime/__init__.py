"""MIME analysis of a message, done once at delivery (RFC 5322, RFC 2045-2049, 2047, 2231).

``analyse(raw)`` returns everything the store keeps about a message besides its bytes:
header fields for listing and SORT, folded text for search, the JSON structure used by
IMAP FETCH (ENVELOPE, BODYSTRUCTURE, BODY[section]) and the byte ranges of large leaf
bodies, which the store keeps as blobs of their own so an attachment is stored once.

Modules, one concern each:

* ``analysis``: ``analyse`` and its result, ``Analysis``;

* ``structure``: byte-exact MIME parser (offsets of every header and body);
* ``imap``: ``MessageStructure`` (ENVELOPE, BODYSTRUCTURE), ``load_structure``,
  ``section_range`` for FETCH;
* ``body``: transfer/charset decoding of a part, decoded sizes;
* ``headers``, ``params``, ``addresses``, ``envelope``, ``words``, ``charsets``: header
  sections, Content-Type/Disposition (RFC 2231), address lists, RFC 2047, charsets;
* ``authors``: the one reader of author fields (From, Sender, Resent-From,
  Resent-Sender) for every check of who sent a message (SMTP anti-spoofing, DMARC,
  send-as) and for ENVELOPE;
* ``search``: the folded search text (and ``analyse`` folds the four header fields
  SEARCH SUBJECT / FROM / TO / CC match: ``Analysis.subject_key``...).
* ``lines``: the first lines of the body's text parts, for the content rules
  (``Analysis.body_lines``; ``congthu.content.extract`` reads the attachments).
"""
from __future__ import annotations

from congthu.mime.addresses import display_addresses
from congthu.mime.analysis import SPLIT_THRESHOLD, Analysis, analyse
from congthu.mime.body import UnknownEncoding, body_text, decode_body, decoded_size
from congthu.mime.headers import field_spans, wire
from congthu.mime.imap import MessageStructure, load_structure, parse_structure, section_range
from congthu.mime.part import Part
from congthu.mime.words import decode_words

__all__ = [
    "Analysis", "MessageStructure", "Part", "SPLIT_THRESHOLD", "analyse", "body_text",
    "decode_body", "decode_words", "decoded_size", "display_addresses", "field_spans",
    "load_structure", "parse_structure", "section_range", "UnknownEncoding", "wire",
]
