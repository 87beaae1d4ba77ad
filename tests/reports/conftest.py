"""The reports tests use the content tests' private clamd and rspamd and the SMTP tests'
DNS server (a month of activity stops spam and a virus), and the webmail's browser
fixtures for the dashboard."""

from tests.content.conftest import clamd, clamd_daemon, rspamd
from tests.smtp.conftest import dns_server

__all__ = ["clamd", "clamd_daemon", "dns_server", "rspamd"]
