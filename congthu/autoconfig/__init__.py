"""Clients that configure themselves (issue 19): Thunderbird's autoconfig (Mozilla ISPDB
format), Outlook's autodiscover (the POX XML form) and Apple's configuration profile
(.mobileconfig), all built from ``[clients]`` (the public host and ports) by
``servers.py``; the routes are in ``web.py``."""
