"""SCRAM-SHA-256 key derivation (RFC 5802 section 3, RFC 7677) and SASLprep (RFC 4013).

The server stores, per password, ``StoredKey = H(ClientKey)`` and ``ServerKey`` derived
from ``SaltedPassword = Hi(Normalize(password), salt, i)`` when the password is set
(RFC 5802 section 5: the server need not, and does not, keep the password).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import stringprep
import unicodedata
from dataclasses import dataclass


class SASLprepError(ValueError):
    pass


def saslprep(text: str) -> str:
    """RFC 4013: map, normalise (NFKC), refuse prohibited and badly mixed bidi characters."""
    mapped = []
    for c in text:
        if stringprep.in_table_c12(c):  # non-ASCII space -> SPACE (section 2.1)
            mapped.append(" ")
        elif not stringprep.in_table_b1(c):  # "commonly mapped to nothing" (section 2.1)
            mapped.append(c)
    out = unicodedata.normalize("NFKC", "".join(mapped))
    prohibited = (stringprep.in_table_c12, stringprep.in_table_c21_c22, stringprep.in_table_c3,
                  stringprep.in_table_c4, stringprep.in_table_c5, stringprep.in_table_c6,
                  stringprep.in_table_c7, stringprep.in_table_c8, stringprep.in_table_c9,
                  stringprep.in_table_a1)
    for c in out:
        if any(test(c) for test in prohibited):
            raise SASLprepError(f"prohibited character U+{ord(c):04X}")
    # RFC 3454 section 6: bidirectional text.
    if any(stringprep.in_table_d1(c) for c in out):
        if any(stringprep.in_table_d2(c) for c in out):
            raise SASLprepError("mixed right-to-left and left-to-right text")
        if not (stringprep.in_table_d1(out[0]) and stringprep.in_table_d1(out[-1])):
            raise SASLprepError("right-to-left text must start and end with such a character")
    return out


def normalise(password: str) -> str:
    """SASLprep when possible; otherwise NFC (a password SASLprep refuses stays usable
    with PLAIN and LOGIN)."""
    try:
        return saslprep(password)
    except SASLprepError:
        return unicodedata.normalize("NFC", password)


def _hmac(key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, hashlib.sha256).digest()


@dataclass(frozen=True)
class ScramKeys:
    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes

    @property
    def salt_b64(self) -> str:
        return base64.b64encode(self.salt).decode()

    @property
    def stored_b64(self) -> str:
        return base64.b64encode(self.stored_key).decode()

    @property
    def server_b64(self) -> str:
        return base64.b64encode(self.server_key).decode()


def new_salt() -> bytes:
    return secrets.token_bytes(16)


def derive(password: str, salt: bytes, iterations: int) -> ScramKeys:
    """RFC 5802 section 3: SaltedPassword, ClientKey, StoredKey, ServerKey."""
    salted = hashlib.pbkdf2_hmac("sha256", normalise(password).encode("utf-8"), salt, iterations)
    client_key = _hmac(salted, b"Client Key")
    return ScramKeys(salt, iterations, hashlib.sha256(client_key).digest(), _hmac(salted, b"Server Key"))


def client_proof_ok(stored_key: bytes, auth_message: bytes, proof: bytes) -> bool:
    """ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); H(ClientKey) == StoredKey?"""
    signature = _hmac(stored_key, auth_message)
    if len(proof) != len(signature):
        return False
    client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
    return hmac.compare_digest(hashlib.sha256(client_key).digest(), stored_key)


def server_signature(server_key: bytes, auth_message: bytes) -> bytes:
    return _hmac(server_key, auth_message)
