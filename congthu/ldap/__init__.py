"""LDAPv3 (RFC 4511) from the directory itself (issue 16; Điều 5.3; Circular 39/2017).

The province's applications (portal, document management, citizen reception) log
officials in with their mail password through an LDAP simple bind, and read the
directory as a tree under the domain's base DN (``dc=soctrang,dc=gov,dc=vn``). Nothing is
copied: every bind goes through ``app.accounts.authenticate`` (door "ldap"), and the tree
is built from the directory's public functions, so a password change, a departure or a
reclamation acts at once.

The package has the shape of the other protocol packages: ``server.py`` (listeners
``ldap`` with StartTLS and ``ldaps``), ``wire.py`` (PDUs on the socket, bounded; an
``asyncio.Protocol`` rather than a stream, so that a request answerable at once costs no
task: its docstring says why),
``session.py`` (one connection), ``commands.py`` (the operation table), ``cmd_*.py``
(handlers), ``errors.py`` (result codes); plus ``ber.py`` (framing and bounds of BER),
``messages.py`` (the RFC 4511 messages: Bind and Search read by hand, the rest with
pyasn1), ``dn.py`` (distinguished names, RFC 4514), ``filters.py`` (search filters),
``schema.py`` (attributes, matching rules, the subschema entry), ``tree.py`` (the DIT
built from the directory), ``grants.py`` (what each service account may read) and
``certificates.py`` (client certificates mapped to service accounts, SASL EXTERNAL). The listeners
are ``congthu.net``'s (``door_listeners``), shared with POP3.
"""
