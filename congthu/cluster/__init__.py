"""What the processes and nodes of one installation coordinate through the database:
leases of the periodic jobs (``leases.py``), so each runs once per period across every
worker of ``congthu serve`` and every node on a shared PostgreSQL."""
