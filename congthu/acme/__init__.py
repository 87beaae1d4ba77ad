"""TLS certificates from an ACME certificate authority (RFC 8555; issue 19).

When ``tls.acme_directory`` is set, the server obtains the certificate for
``tls.acme_names`` (default ``system.hostname``) from the CA, proving control of each
name by HTTP-01 (RFC 8555 section 8.3): the CA fetches
``http://<name>/.well-known/acme-challenge/<token>`` from our own web port (``web.py``
answers it from ``challenges.py``'s files, so every worker answers alike). The
certificate is renewed once two thirds of its lifetime have passed (``renewal.py``, run
by ``jobs.py`` once across every worker and node) and written over ``tls.cert`` /
``tls.key``; every worker process notices the new files within a minute and loads them
into the TLS contexts all protocols share (``congthu.tls``), with no restart.
``congthu acme issue`` (``cli.py``) does the same at once.

The protocol is spoken by ``acme``, the ACME library of the EFF's certbot (with
``josepy``), run in a thread since it is synchronous (``client.py``).
"""
