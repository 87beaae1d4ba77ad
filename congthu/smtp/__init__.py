"""SMTP: receiving (MX), submission, delivery to mailboxes and the outbound queue.

One module per concern:

* ``protocol``: the SMTP server protocol (aiosmtpd's ``SMTP`` with a chunked DATA
  reader, BDAT, AUTH through ``app.accounts``); ``session``: the command hooks of the
  MX and submission doors; ``server``: the listeners.
* ``delivery``: local delivery (trace fields, quota, warnings); ``authres``: SPF, DKIM
  and DMARC evaluation; ``dkimsign``: signing; ``dsn``: delivery status notifications.
* ``queue`` and ``client``: the durable outbound queue and its runner (``jobs``);
  ``dns``: MX and TXT lookups with a configurable resolver; ``cli``: ``congthu dns``,
  ``congthu queue``.

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
