"""POP3: the maildrop (INBOX) of a mailbox for clients that download mail.

Circular 39/2017/TT-BTTTT asks for POP3 next to IMAP; the regulation promises that any
mail client works (Điều 2.3, 8.2). Implemented:

- RFC 1939  Post Office Protocol - Version 3: USER/PASS, STAT, LIST, RETR, DELE, NOOP,
            RSET, QUIT, TOP, UIDL (APOP is not offered: it needs the clear password).
- RFC 2449  POP3 Extension Mechanism: CAPA, RESP-CODES, PIPELINING, TOP, UIDL, USER,
            SASL, IMPLEMENTATION; the 255-octet command line limit.
- RFC 2595  STLS (plaintext logins only after TLS, or over loopback in development).
- RFC 3206  Response codes [SYS/TEMP], [SYS/PERM] and AUTH-RESP-CODE's [AUTH];
            RFC 2449 section 8.1.1 [IN-USE] for a locked maildrop.
- RFC 5034  SASL AUTH with initial response, through ``congthu.accounts.sasl``:
            SCRAM-SHA-256 (also without TLS: the password never crosses the wire),
            PLAIN and LOGIN (only after TLS).
- RFC 8314  Implicit TLS on the pop3s port (995).

There is no [EXPIRED] code in POP3 (RFC 5530 is IMAP's): an expired or must-change
password gets ``-ERR [AUTH]`` with a text that says where to change it.

Every login (USER/PASS and AUTH) goes through ``congthu.accounts`` (last access for
Điều 4.4, expiry, lockout, audit, the login metric); on top of that a session answers a
failed login after a growing delay and hangs up after the third. Beyond the RFCs:
messages retrieved whole by RETR are marked \\Seen at QUIT, so an IMAP client on the
same mailbox sees them read.

Timeouts and limits are the settings of ``[pop3]`` (``congthu.config.POP3Settings``);
the connection caps those of ``[connections]``.

Modules, in the shape shared with ``congthu.smtp`` and ``congthu.imap``: ``server`` (the
listeners), ``wire`` (lines in and out with deadlines, the command syntax, the wire form
of messages), ``session`` (one connection's state and loop, looking commands up in the
table it is given), ``commands`` (the table per state), ``cmd_auth`` (CAPA, STLS, USER,
PASS, AUTH), ``cmd_maildrop`` (STAT, LIST, UIDL, RETR, TOP, DELE, RSET, NOOP),
``cmd_quit`` (QUIT and the UPDATE state), ``errors`` (errors and -ERR replies);
``maildrop`` (the session's fixed view of INBOX and its deletion marks) and ``lock`` (the
maildrop lock, a leased row in the database that holds across processes and nodes).
"""
