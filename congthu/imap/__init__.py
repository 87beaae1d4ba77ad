"""IMAP server (IMAP4rev1 and IMAP4rev2) on the mail store.

RFCs implemented (the section is cited beside each rule in the code):

- RFC 3501 IMAP4rev1 and RFC 9051 IMAP4rev2: every command, FETCH/SEARCH/STORE item,
  sequence sets and UIDs, literals, modified UTF-7 mailbox names (``utf7.py``);
- RFC 7888 LITERAL+, RFC 4959 SASL-IR, RFC 4616 PLAIN, RFC 5530 response codes;
- RFC 2177 IDLE, RFC 2342 NAMESPACE, RFC 2971 ID, RFC 3691 UNSELECT, RFC 5161 ENABLE;
- RFC 4315 UIDPLUS, RFC 6851 MOVE, RFC 3348 CHILDREN, RFC 6154 SPECIAL-USE and
  CREATE-SPECIAL-USE, RFC 5258 LIST-EXTENDED, RFC 5819 LIST-STATUS, RFC 8438 STATUS=SIZE;
- RFC 4731 ESEARCH, RFC 5182 SEARCHRES, RFC 5032 WITHIN, RFC 5256 SORT and THREAD
  (ORDEREDSUBJECT, REFERENCES), RFC 5267 ESORT, RFC 5957 DISPLAYFROM/DISPLAYTO;
- RFC 6855 UTF8=ACCEPT, RFC 7889 APPENDLIMIT, RFC 9208 QUOTA, RFC 3516 BINARY;
- RFC 7162 CONDSTORE and QRESYNC;
- RFC 4314 ACL, rights per folder, with the shared namespace ``Shared/<address>/`` for
  delegated organisation mailboxes (Điều 12; ``namespace.py``, ``congthu.delegation``);
- RFC 3501 section 2.3.2 \\Recent for IMAP4rev1 sessions (``congthu.store.recent``).
- RFC 3502 MULTIAPPEND, RFC 8514 SAVEDATE, RFC 8474 OBJECTID, RFC 8970 PREVIEW, RFC
  4978 COMPRESS=DEFLATE (``wire.py``, ``cmd_compress.py``); subscriptions kept by name
  (RFC 5258 section 3.4: a deleted mailbox's name stays subscribed, ``\\NonExistent``).

Beyond the RFCs: SEARCH TEXT/BODY/SUBJECT/FROM/... match without regard to Vietnamese
accents or case (see ``cmd_search``).

Layout, the same in the three protocol packages (smtp, imap, pop3): ``server.py`` the
listeners; ``wire.py`` reading and writing on the socket (lines, literals, limits,
deadlines, buffered writes); ``parser.py`` the grammar; ``response.py`` serialising IMAP
data (atoms, strings, literals, lists) for the handlers; ``session.py`` one connection's
states and loop, given the command tables by ``commands.py`` (the only module importing
the ``cmd_*.py`` handlers, one module per command family); ``errors.py`` the errors and
their replies; ``selected.py`` the selected mailbox's index in memory and its sequence
sets; ``flags.py`` client flag names and rights; ``caches.py`` what the sessions of one
App share; ``namespace.py`` mailbox names and rights; ``mimeparts.py`` the MIME structure
for FETCH; ``threads.py`` the base subject and threading of RFC 5256.
"""
