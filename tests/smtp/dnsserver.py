"""A tiny DNS server on loopback for the SMTP tests (dnspython): answers from a dict of
records, NXDOMAIN for unknown names; runs in its own thread.

It can also play a validating resolver (for DANE, RFC 7672): answers for names in a
zone marked ``secure`` carry the AD bit when the query asks for it (AD or DO set, RFC
6840 section 5.7), as a resolver's do for data DNSSEC authenticated; names marked
``failing`` get SERVFAIL, as a resolver answers for DNSSEC-bogus data."""

from __future__ import annotations

import socket
import threading

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


class DNSServer:
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], list[str]] = {}
        self.ttl = 60  # of every answer
        self.queries: list[tuple[str, str]] = []  # (name, type) as asked, in order
        self.secure: set[str] = set()  # zones whose answers are "authenticated"
        self.failing: set[tuple[str, str]] = set()  # (name, type) answered with SERVFAIL
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True, name="test-dns")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def add(self, name: str, rdtype: str, value: str) -> None:
        self.records.setdefault((name.lower().rstrip("."), rdtype.upper()), []).append(value)

    def set_txt(self, name: str, text: str) -> None:
        """Replace the TXT records of ``name``."""
        self.records.pop((name.lower().rstrip("."), "TXT"), None)
        self.add_txt(name, text)

    def is_secure(self, name: str) -> bool:
        return any(name == zone or name.endswith("." + zone) for zone in self.secure)

    def count(self, name: str, rdtype: str) -> int:
        """How many times ``name`` was asked for (``rdtype``)."""
        return self.queries.count((name.lower().rstrip("."), rdtype.upper()))

    def add_txt(self, name: str, text: str) -> None:
        chunks = [text[i:i + 250] for i in range(0, len(text), 250)] or [""]
        self.add(name, "TXT", " ".join(f'"{c}"' for c in chunks))

    def start(self) -> DNSServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop = True
        self.sock.close()

    def _serve(self) -> None:
        while not self._stop:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            try:
                query = dns.message.from_wire(data)
                response = dns.message.make_response(query)
                response.flags |= dns.flags.AA
                question = query.question[0]
                name = question.name.to_text(omit_final_dot=True).lower()
                rdtype = dns.rdatatype.to_text(question.rdtype)
                self.queries.append((name, rdtype))
                values = self.records.get((name, rdtype))
                wants_ad = bool(query.flags & dns.flags.AD) or bool(query.ednsflags & dns.flags.DO)
                if wants_ad and self.is_secure(name):
                    response.flags |= dns.flags.AD
                if (name, rdtype) in self.failing:
                    response.flags &= ~dns.flags.AD
                    response.set_rcode(dns.rcode.SERVFAIL)
                elif values:
                    response.answer.append(dns.rrset.from_text_list(question.name, self.ttl, "IN", rdtype, values))
                elif not any(key[0] == name for key in self.records):
                    response.set_rcode(dns.rcode.NXDOMAIN)
                self.sock.sendto(response.to_wire(), peer)
            except Exception:
                continue
