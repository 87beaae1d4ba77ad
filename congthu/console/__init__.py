"""The administration console (``/quan-tri``, issue 15): what its pages share, whatever
package they belong to.

* ``access``: the one authorisation check (``viewer_of``, ``can``, ``refused``,
  ``needs_second_factor``) over ``congthu.accounts.roles``; an organisation's chain up
  to the root comes from the directory (``Directory.org_chain``), passed in by the caller;
* ``pages``: ``ConsolePages``, the console's sign-in gate, templates (the webmail's
  layout with the console's navigation) and error pages;
* ``words``: the console's shared words, Vietnamese and English.

The console has no tables. Its pages live in the package of what they are about:
requests in ``congthu.requests.web`` (``/quan-tri/yeu-cau``), the directory in
``congthu.directory.web`` (``/quan-tri/danh-ba``), reports in ``congthu.reports``
(``/quan-tri/bao-cao``).
"""
