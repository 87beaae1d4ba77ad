"""A production install in one command (issue 19): ``congthu quickstart`` (``cli.py``)
writes the production configuration and data directory, creates the system user, writes
the hardened systemd unit (``unit.py``) and prints the DNS records to publish."""
