"""The REST API for the province's other applications (issue 15, 18): ``/api/v1``.

``web.py`` (found by ``congthu.plugins``) mounts the routes; ``tokens.py`` keeps the
scoped tokens an administrator issues (``congthu api token create``); ``callers.py``
turns a token into the console's ``Viewer`` and decides every call through the console's
one check (``congthu.console.access``); ``routing.py`` is what every call goes through
(body bounds, the token, the rate limit, errors as JSON, the audit trail). See
``docs/api.md``.
"""
