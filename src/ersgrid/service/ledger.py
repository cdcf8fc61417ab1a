"""The live loop's metering ledger: passes → signed blocks → settlement → anchors, as it runs.

Reuses :mod:`ersgrid.ledger` as ``ersgrid run`` does (:func:`create_run_writer`,
:func:`records_from_passes`, :class:`LedgerWriter`, :func:`verify_ledger`); only the timing
differs. After every tick the loop's new metered passes become records; once a settlement
period (a local hour by default) is over, its records are appended as blocks, the period is
settled and every new block and settlement root is anchored on the chain (the in-process
eth-tester chain unless ``chain_url``), then, unless more records already wait, the whole
ledger is verified again. That work
runs in a thread of its own so that the twin never waits for the database or the chain.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ersgrid.errors import ErsgridError, ServiceError
from ersgrid.service.live import LiveLoop, TickReport

__all__ = ["LiveLedger"]

log = logging.getLogger(__name__)


class LiveLedger:
    """Meters the live loop into a signed, anchored ledger in ``folder``.

    Parameters
    ----------
    loop : LiveLoop
    folder : Path
        Holds ``ledger.sqlite`` (unless ``db_url``), ``keys/`` and ``chain/``; must hold no
        ledger yet.
    db_url : str, optional
        SQLAlchemy URL of the ledger database (PostgreSQL in production).
    chain_url : str, optional
        Ethereum JSON-RPC node to anchor on; the in-process chain by default.
    verify : bool
        Verify the whole ledger after anchoring, whenever no more records wait (its cost
        grows with the ledger).
    """

    def __init__(
        self,
        loop: LiveLoop,
        folder: Path,
        db_url: str | None = None,
        chain_url: str | None = None,
        verify: bool = True,
    ) -> None:
        try:
            from ersgrid.ledger.run_ledger import create_run_writer, period_starts
        except ImportError as err:  # pragma: no cover - the extras are installed in dev
            raise ServiceError(
                f"the live ledger needs {err.name!r}: pip install 'ersgrid[ledger,chain]'"
            ) from None
        self.loop = loop
        self.folder = Path(folder)
        self.db_url, self.chain_url, self.verify = db_url, chain_url, verify
        if db_url is None and (self.folder / "ledger.sqlite").exists():
            raise ServiceError(
                f"--ledger {str(folder)!r} already holds a ledger; give an empty folder"
            )
        sc = loop.scenario
        world = loop.world
        self.writer = create_run_writer(
            sc, loop.layout, loop.index, self.folder, world.price_per_kwh,
            world.user_price_per_kwh, db_url,
        )  # fmt: skip
        meta = self.writer.meta()
        self._run_id = str(meta["run_id"])
        self._secret = self.writer.keys.provider_secret()
        self.period = sc.settlement.period
        self._period_of_step = period_starts(loop.index, self.period)
        self._taken = 0  # passes of the twin already turned into records
        self._steps_taken = 0  # planning steps whose connection meters are records
        self._held: list[npt.NDArray[np.void]] = []  # records of periods still open
        self._jobs: queue.Queue[npt.NDArray[np.void] | str | None] = queue.Queue()
        self._lock = threading.Lock()
        self._status: dict[str, Any] = {
            "folder": str(self.folder),
            "period": self.period,
            "records": 0,
            "blocks": 0,
            "periods_settled": 0,
            "settlement_balanced": True,
            "roots_anchored": 0,
            "chain": "in-process" if chain_url is None else chain_url,
            "last_anchor": None,
            "verified": None,
            "verified_at": None,
            "verify_s": None,
            "problem": None,
            "records_pending": 0,
            "errors": 0,
        }
        self._thread = threading.Thread(target=self._work, name="ersgrid-ledger", daemon=True)
        self._thread.start()
        loop.observers.append(self._on_tick)
        loop.finishers.append(self._on_finish)

    # ---- in the loop's thread -------------------------------------------------------------
    def _new_records(self) -> npt.NDArray[np.void]:
        from ersgrid.ledger.run_ledger import (
            ConnectionMeters,
            records_from_meters,
            records_from_passes,
        )

        loop = self.loop
        passes = loop.twin.passes()
        new = passes.iloc[self._taken :]
        self._taken = len(passes)
        vehicles = records_from_passes(
            new, loop.index, loop.dt_s, self.period, self._secret, self._run_id
        )
        # the connections' meters of the planning steps closed since, as the run's records
        st = loop.stepper
        steps = st.records[self._steps_taken :]
        if not steps:
            return vehicles
        first = self._steps_taken
        self._steps_taken = len(st.records)
        h = loop.world.step_h
        ren = st.energy.renewable_kw[first : first + len(steps)]
        meters = ConnectionMeters(
            import_kwh=np.asarray([r.import_kw for r in steps]) * h,
            export_kwh=np.asarray([r.export_kw for r in steps]) * h,
            renewable_kwh=(ren - np.asarray([r.curtailed_kw for r in steps])) * h,
        )
        return np.concatenate(
            [vehicles, records_from_meters(meters, loop.index, self.period, loop.layout, first)]
        )

    def _on_tick(self, report: TickReport) -> None:
        loop = self.loop
        if loop.twin.step % loop.steps_per_plan:
            return  # passes are gathered at planning-step boundaries
        k = loop.twin.step // loop.steps_per_plan
        if k >= len(loop.index) or self._period_of_step[k] == self._period_of_step[k - 1]:
            return  # the period goes on (the last one ends with the run: see _on_finish)
        rec = self._new_records()
        held = np.concatenate([*self._held, rec]) if self._held else rec
        done = np.asarray(held["period"], dtype=np.int64) < self._period_of_step[k]
        self._held = [held[~done]]
        self._submit(held[done])

    def _on_finish(self) -> None:
        """The run is over (its open passes closed): settle and anchor what is left."""
        rec = self._new_records()
        self._submit(np.concatenate([*self._held, rec]) if self._held else rec)
        self._held = []

    def _submit(self, records: npt.NDArray[np.void]) -> None:
        with self._lock:
            self._status["records_pending"] += len(records)
        self._jobs.put(records)

    # ---- in the ledger's thread -----------------------------------------------------------
    def _work(self) -> None:
        while (records := self._jobs.get()) is not None:
            try:
                if isinstance(records, str):
                    self._verify()
                    continue
                self._write(records)
            except Exception as err:  # the ledger failing must not stop the road: alarm
                log.exception("the live ledger failed")
                with self._lock:
                    self._status["errors"] += 1
                    self._status["problem"] = f"{type(err).__name__}: {err}"
                self.loop.alarms.raise_alarm(
                    "ledger_error", "ledger", f"writing the ledger failed: {err}", "critical",
                    "ledger",
                )  # fmt: skip
            finally:
                if not isinstance(records, str):
                    with self._lock:
                        self._status["records_pending"] -= len(records)
                self._jobs.task_done()

    def _write(self, records: npt.NDArray[np.void]) -> None:
        writer = self.writer
        blocks = writer.append(records)
        settlements, balanced = writer.settle(records)
        anchored = writer.anchor(self.chain_url)
        last = None
        anchors = writer.store.anchors()
        if anchors:
            (kind, key), (root, tx, block) = max(anchors.items(), key=lambda item: item[1][2])
            last = {
                "kind": "block" if kind == 0 else "settlement",
                "key": key,
                "root": "0x" + root.hex(),
                "tx": "0x" + tx.hex(),
                "block_number": block,
            }
        with self._lock:
            st = self._status
            st["records"] += len(records)
            st["blocks"] += len(blocks)
            st["periods_settled"] += len(settlements)
            st["settlement_balanced"] = bool(st["settlement_balanced"] and balanced)
            st["roots_anchored"] += anchored
            st["last_anchor"] = last
        if self.verify and self._jobs.empty():
            # verify when no more records wait: its cost grows with the ledger, and a
            # backlog must not grow because of it (the next write verifies everything)
            self._verify()

    def _verify(self) -> None:
        from ersgrid.errors import LedgerTampered
        from ersgrid.ledger.verify import verify_ledger

        wall0 = time.perf_counter()
        try:
            report = verify_ledger(self.folder, self.db_url, self.chain_url)
            verified, problem = True, None
            checked: dict[str, Any] = dataclasses.asdict(report)
        except (LedgerTampered, ErsgridError) as err:
            verified, problem, checked = False, str(err), {}
            self.loop.alarms.raise_alarm(
                "ledger_tampered", "ledger", f"the ledger does not verify: {err}", "critical",
                "ledger",
            )  # fmt: skip
        with self._lock:
            self._status |= {
                "verified": verified,
                "verified_at": self.loop.now.isoformat(),
                "verify_s": round(time.perf_counter() - wall0, 3),
                "problem": problem,
                "anchors_checked": checked.get("anchors_checked"),
            }

    # ---- for the API ----------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Records, blocks, settled periods, last anchored root and the verification."""
        with self._lock:
            return dict(self._status)

    def verify_now(self) -> None:
        """Verify the whole ledger again once the work queued before is done."""
        self._jobs.put("verify")

    def drain(self, timeout_s: float = 60.0) -> None:
        """Wait until every submitted record is written, settled and anchored (tests)."""
        wall0 = time.perf_counter()
        while self._jobs.unfinished_tasks:
            if time.perf_counter() - wall0 > timeout_s:
                raise ServiceError(f"the ledger did not catch up within {timeout_s} s")
            time.sleep(0.01)

    def stop(self) -> None:
        """Finish the queued work and release the database (once; later calls do nothing)."""
        if not self._thread.is_alive():
            return
        self._jobs.put(None)
        self._thread.join(60)
        self.writer.close()
