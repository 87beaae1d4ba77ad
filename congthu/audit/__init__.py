"""The audit trail (Điều 9.12, 13.4): append-only and tamper-evident; see ``trail.py``."""

from congthu.audit.trail import (
    GENESIS,
    AuditHost,
    Problem,
    Record,
    Verification,
    append,
    record,
    record_hash,
    records,
    serialise,
    verify,
)

__all__ = ["GENESIS", "AuditHost", "Problem", "Record", "Verification", "append", "record", "record_hash",
           "records", "serialise", "verify"]
