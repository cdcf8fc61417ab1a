"""A Dask worker preload (``distributed.worker.preload``) for ``test_sweep_dask``: each import
is one worker start, logged to ``$ERSGRID_TEST_WORKER_STARTS``; the start whose number is
``$ERSGRID_TEST_FAIL_START`` raises, so that worker never starts and its nanny gives up (as a
nanny's restart can fail under load), leaving the cluster without workers."""

from __future__ import annotations

import os
from pathlib import Path

_log = Path(os.environ["ERSGRID_TEST_WORKER_STARTS"])
with _log.open("a", encoding="utf-8") as _f:
    _f.write(f"{os.getpid()}\n")
if len(_log.read_text(encoding="utf-8").split()) == int(os.environ["ERSGRID_TEST_FAIL_START"]):
    raise RuntimeError("this worker start fails (test)")


def dask_setup(worker: object) -> None:
    """Nothing to set up: the import above is the test."""
