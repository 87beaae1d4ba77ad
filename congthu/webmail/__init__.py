"""The webmail at ``/`` (issue 14, Điều 2.3): Vietnamese by default, server-rendered
(Jinja2), safe against hostile mail.

This first slice: sign-in through the accounts' one login check (forced change of a
first or expired password, TOTP, shared throttling), server-side sessions listed in
settings, folders with unread counts, the message list, flags, move, delete to Trash,
reading with sanitised HTML in a sandboxed frame, attachments and the source; writing
(compose, reply, forward, forward as attachment, drafts) sent through the submission
path of port 587 (``congthu.smtp.submit``).

Modules: ``web.py`` (the router), ``context.py`` (what routes share: session, CSRF,
authorisation), ``login.py``, ``mailpages.py``, ``accountpages.py`` (the routes),
``compose.py`` (writing), ``writing.py`` (building messages), ``drafts.py``,
``sessions.py`` and ``tables.py`` (sessions), ``prefs.py`` (each user's choices: the
list by conversation, senders whose remote images are shown), ``sanitise.py`` (HTML,
inline and remote images), ``previews.py`` (images checked by their bytes, PDF pages
rendered by poppler), ``reading.py`` (what a message shows), ``render.py`` (templates,
headers), ``i18n.py`` (words).
"""
