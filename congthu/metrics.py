"""Prometheus metrics shared by all services, served at ``/metrics``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

registry = CollectorRegistry()

connections = Counter(
    "congthu_connections_total", "Connections accepted", ["service"], registry=registry
)
connections_refused = Counter(
    "congthu_connections_refused_total", "Connections refused over a cap ([connections])",
    ["service", "reason"], registry=registry,
)
open_connections = Gauge(
    "congthu_open_connections", "Connections open now", ["service"], registry=registry
)
logins = Counter(
    "congthu_logins_total", "Login attempts", ["protocol", "result"], registry=registry
)
deliveries = Counter(
    "congthu_deliveries_total", "Messages delivered to mailboxes", ["path"], registry=registry
)
refusals = Counter(
    "congthu_refusals_total", "Messages refused", ["service", "reason"], registry=registry
)
ldap_tree_builds = Counter(
    "congthu_ldap_tree_builds_total", "LDAP trees built from the directory (congthu/ldap/tree.py)",
    ["reason"], registry=registry,
)
