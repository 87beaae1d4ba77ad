"""Per-mailbox mail rules: the vacation auto-reply (RFC 3834), forwarding (never to
foreign free-mail, Điều 7.7) and the signature the webmail's compose page uses.

* ``tables.py``: the package's tables; ``errors.py``: ``RuleRefused``;
* ``rules.py``: reading and saving the rules (what the webmail calls);
* ``vacation.py``, ``forwarding.py``, ``signature.py``: each rule, its checks, its SQL;
* ``delivered.py``: ``after_delivery``, run by ``congthu.smtp.accept`` once a message is
  delivered; ``sending.py``: replies and copies sent through the smtp package's local
  delivery and outbound queue.
"""

from congthu.mailrules.delivered import after_delivery
from congthu.mailrules.errors import RuleRefused
from congthu.mailrules.forwarding import Forwarding
from congthu.mailrules.vacation import Vacation

__all__ = ["Forwarding", "RuleRefused", "Vacation", "after_delivery"]
