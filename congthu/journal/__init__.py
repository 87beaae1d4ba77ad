"""The journal of inter-organisation mail (Điều 7.3–7.5): every message submitted from
one organisation mailbox to another is kept as sent, byte for byte, read-only, for
``journal.retention_days``, searchable by the records office (the ``records`` role,
optionally scoped to an organisation). See ``entries.py``; the CLI is ``cli.py``, the
console's page (``/quan-tri/luu-thu``) ``web.py``."""
