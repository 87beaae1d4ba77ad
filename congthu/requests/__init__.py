"""Requests of Điều 4.1–4.3 and the administration console (issue 15).

* ``calendar.py``: Vietnam's working days (weekends, public holidays with lunar Tết and
  the Hùng Kings' day from the ``holidays`` package, the IT Center's overrides for the
  government's swapped days) and how "three working days" is counted;
* ``workflow.py``: requests of four kinds (create, rename, reset password, delete), their
  states received → in progress → done or refused, carried out through the directory
  and accounts, audited and mailed to the requester;
* ``access.py``: the console's one authorisation check (roles of ``accounts.roles``);
* ``web.py``: the console pages under ``/quan-tri`` on the webmail's sign-in, sessions,
  CSRF and layout; ``cli.py``: ``congthu request`` and ``congthu holiday``;
* ``reclaim.py``: reclamation of unused mailboxes (Điều 4.4), restore, export;
* ``bymail.py``: requests mailed to admin@ from an organisation mailbox (Điều 4.1);
* ``jobs.py``: overdue alerts and the daily reclamation; ``notices.py``: the mails;
  ``words.py``: the console's words; ``tables.py``: the tables.
"""
