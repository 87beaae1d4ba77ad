"""SMTP: receiving (MX), submission, delivery to mailboxes and the outbound queue.

The connection side has the shape shared with IMAP and POP3:

* ``server``: the listeners of each door (MX 25, submission 587 and 465);
* ``wire``: reading DATA and BDAT on the socket (chunked, smuggling-proof, deadlines);
* ``session``: one connection (aiosmtpd's ``SMTP``): its state, replies and ending; it
  dispatches on the command table it is given;
* ``commands``: the command table and aiosmtpd hooks, the only importer of the handlers;
* ``cmd_hello`` (EHLO, HELO), ``cmd_auth`` (AUTH), ``cmd_mail`` (MAIL, RCPT),
  ``cmd_data`` (DATA, BDAT, and what the MX and submission do with a message),
  ``cmd_other`` (NOOP, RSET, QUIT, HELP, STARTTLS, VRFY, EXPN);
* ``errors``: replies (bilingual, enhanced status codes) and errors.

Beside it: ``submit`` (the submission checks of MAIL, RCPT and DATA, shared by ports
587/465 and the webmail, and ``submit()`` for a whole message without an SMTP session),
``accept`` (the content pipeline, local delivery and the queue for an accepted message,
every door), ``delivery`` (local delivery: trace fields, quota warnings), ``authres``
(SPF, DKIM, DMARC; the author fields come from ``congthu.mime.authors``), ``dkimsign``,
``dsn`` (delivery status notifications), ``addresses`` (envelope addresses, which are
ours, recipient look-up), ``queue`` and ``client`` (the durable outbound queue and its
runner, started by ``jobs``), ``ratelimit``, ``dns`` (resolvers of ``smtp.dns_servers``),
``runtime`` (what an App keeps for this package: ``app.smtp``), ``cli`` (``congthu dns``,
``congthu queue``), ``tables``.

RFCs implemented:

* RFC 5321 SMTP (section 2.3.8 line endings, 3.6 relaying, 4.1.4 and 4.4 trace fields,
  4.5.2 transparency, 4.5.3 limits, 4.5.4 retry strategy, 5 address resolution)
* RFC 1870 SIZE, RFC 6152 8BITMIME, RFC 2920 PIPELINING, RFC 3030 CHUNKING (BDAT),
  RFC 3207 STARTTLS, RFC 8314 implicit TLS (465), RFC 6409 message submission,
  RFC 6531 SMTPUTF8, RFC 2034 / 3463 / 5248 enhanced status codes
* RFC 4954 AUTH with RFC 4616 PLAIN and LOGIN
* RFC 7208 SPF (pyspf), RFC 6376 DKIM (dkimpy), RFC 7489 DMARC, RFC 8601
  Authentication-Results, RFC 7505 null MX
* RFC 3461 / 3464 delivery status notifications (the report format)
"""
