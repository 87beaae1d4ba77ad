"""Reports on the system's operation (Điều 9.13, 11.8): monthly, quarterly, yearly and on
demand, per organisation with the tree's roll-up, as XLSX, PDF (the form of Decree
30/2020) and the console's dashboard; mailed to the Department after each period.

* ``counters``: what the doors count at the moment things happen (``app.reports``);
* ``periods``: months, quarters, years, spans;
* ``figures``: the figures of one report, from the counters and the owners' functions;
* ``xlsx``, ``pdf``, ``charts``: the outputs; ``cli``, ``web``, ``jobs``: the ways in.
"""
