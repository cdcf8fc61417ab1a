"""Ledger and settlement: signed metering records, Merkle blocks, anchoring, statements, proofs.

See ``docs/ledger.md`` for the design. Typical use::

    from ersgrid.ledger import verify_ledger
    report = verify_ledger(Path("results/shin-tomei"), trust=Path("my-copy-of-trust.json"))
"""

from __future__ import annotations

from ersgrid.ledger.proofs import check_proof, make_proof
from ersgrid.ledger.run_ledger import LedgerSummary, write_run_ledger
from ersgrid.ledger.shapley import shapley_values
from ersgrid.ledger.storage import DurablePoint
from ersgrid.ledger.trust import Trust
from ersgrid.ledger.verify import LedgerForged, LedgerRolledBack, VerifyReport, verify_ledger
from ersgrid.ledger.writer import LedgerWriter

__all__ = [
    "DurablePoint",
    "LedgerForged",
    "LedgerRolledBack",
    "LedgerSummary",
    "LedgerWriter",
    "Trust",
    "VerifyReport",
    "check_proof",
    "make_proof",
    "shapley_values",
    "verify_ledger",
    "write_run_ledger",
]
