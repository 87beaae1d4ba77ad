"""HTTP: health and metrics now; the webmail, admin console and REST API grow here.

RFCs: RFC 9110 (HTTP semantics). Pages are server-rendered (Jinja2); every HTML that
comes from mail is hostile and is sanitised (nh3) before it is shown.
"""
