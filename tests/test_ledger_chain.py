"""The ledger against a real EVM node: Hardhat Network from ``tools/evm`` on 127.0.0.1.

Anchoring, verification and proofs read the node over JSON-RPC; a rewrite, a rollback and a
re-forge with fresh keys are each caught there. Runs wherever Node.js is installed (``npm ci``
of the locked packages if ``tools/evm/node_modules`` is missing); skipped outside CI only
when Node.js is not. ``ERSGRID_TEST_CHAIN_URL`` names another dev node to use instead.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import IN_CI
from ersgrid.cli import app
from ersgrid.errors import LedgerTampered
from ersgrid.ledger.trust import Trust
from ersgrid.ledger.verify import (
    IN_PROCESS_CAVEAT,
    UNPINNED_CAVEAT,
    LedgerForged,
    LedgerRolledBack,
    verify_ledger,
)
from ersgrid.ledger.writer import LedgerWriter
from ersgrid.scenario.loader import load_scenario
from ledger_helpers import (
    FIRST_VEHICLE,
    EvmNode,
    copy_ledger,
    rewrite_with_all_keys,
    roll_back_last_block,
    tiny_passes,
    tiny_settled,
    write_tiny_ledger,
)

runner = CliRunner()
ANCHORS = "SELECT kind, key, root, tx_hash, chain_block FROM anchors ORDER BY kind, key"


@pytest.fixture(scope="module")
def chain_url() -> Iterator[str]:
    """A JSON-RPC dev node for this module: Hardhat started here, or ERSGRID_TEST_CHAIN_URL."""
    given = os.environ.get("ERSGRID_TEST_CHAIN_URL")
    if given:
        yield given
        return
    if shutil.which("node") is None and not IN_CI:
        pytest.skip("Node.js is not installed: the Hardhat node of tools/evm cannot run")
    node = EvmNode()
    try:
        yield node.url
    finally:
        node.stop()


@pytest.fixture(scope="module")
def passes() -> pd.DataFrame:
    """Three hours of the twin's passes of ``tiny`` (computed once)."""
    return tiny_passes(tiny_settled(load_scenario("tiny")))


@pytest.fixture(scope="module")
def anchored(
    chain_url: str, passes: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """A ledger anchored on the node, and the trust file a party kept (outside its folder)."""
    folder = tmp_path_factory.mktemp("anchored") / "run"
    summary = write_tiny_ledger(load_scenario("tiny"), folder, passes=passes, chain_url=chain_url)
    assert summary.anchored == summary.blocks + summary.periods == 6
    kept = folder.parent / "kept-trust.json"
    shutil.copy(folder / "trust.json", kept)
    return folder, kept


def test_anchored_ledger_verifies_on_the_node_with_pinned_keys(
    anchored: tuple[Path, Path], chain_url: str, tmp_path: Path
) -> None:
    folder, kept = anchored
    rep = verify_ledger(folder, chain_url=chain_url, trust=kept)
    assert rep.chain == "json-rpc (chain id 31337)" or rep.chain.startswith("json-rpc")
    assert rep.anchors_checked == 6
    assert rep.keys == "pinned"
    assert rep.complete
    assert rep.warnings == ()  # nothing left to caveat: pinned keys, a node we chose
    res = runner.invoke(
        app, ["ledger", "verify", str(folder), "--chain-url", chain_url, "--trust", str(kept)]
    )
    assert res.exit_code == 0, res.output
    assert "6 anchors checked on json-rpc" in " ".join(res.output.split())
    assert "note" not in res.output
    out = tmp_path / "p.json"
    res = runner.invoke(
        app,
        ["ledger", "proof", str(folder), "--vehicle", str(FIRST_VEHICLE),
         "--period", "2035-04-02T00",
         "--out", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        app, ["ledger", "check-proof", str(out), "--chain-url", chain_url, "--trust", str(kept)]
    )
    assert res.exit_code == 0, res.output
    assert "anchors match on chain" in " ".join(res.output.split())


def test_rewrite_with_all_keys_is_caught_on_the_node(
    anchored: tuple[Path, Path], chain_url: str, tmp_path: Path
) -> None:
    folder = copy_ledger(anchored[0], tmp_path / "t")
    rewrite_with_all_keys(folder)
    res = runner.invoke(
        app,
        ["ledger", "verify", str(folder), "--chain-url", chain_url, "--trust", str(anchored[1])],
    )  # fmt: skip
    assert res.exit_code == 1
    assert "block 1: root anchored on chain" in res.output


def test_rollback_is_caught_on_the_node_even_with_the_chain_record_stripped(
    anchored: tuple[Path, Path], chain_url: str, tmp_path: Path
) -> None:
    """The newest block and its settlement deleted: the node's contract holds their roots.
    Stripping the ledger's record of its chain as well hides nothing from a verifier with the
    pinned trust file, who finds the contract from the pinned anchoring account."""
    folder = copy_ledger(anchored[0], tmp_path / "t")
    roll_back_last_block(folder)
    with pytest.raises(LedgerRolledBack, match=r"blocks 2\.\.2 are missing"):
        verify_ledger(folder, chain_url=chain_url, trust=anchored[1])
    con = sqlite3.connect(folder / "ledger.sqlite")
    with con:
        con.execute("DELETE FROM meta WHERE key = 'chain'")
        con.execute("DELETE FROM anchors")
    con.close()
    unpinned = verify_ledger(folder, chain_url=chain_url)  # on its own word: nothing anchored
    assert unpinned.anchors_checked == 0
    assert "nothing of the ledger is anchored on any chain yet" in unpinned.warnings
    with pytest.raises(LedgerRolledBack, match="the chain holds 3 block roots"):
        verify_ledger(folder, chain_url=chain_url, trust=anchored[1])


def test_reforged_ledger_with_fresh_keys_is_caught_with_the_trust_file(
    anchored: tuple[Path, Path], chain_url: str, passes: pd.DataFrame, tmp_path: Path
) -> None:
    """Someone without the keys writes the same run again with fresh keys, anchors it on the
    same node under a fresh account and puts it in place of the original."""
    forged = tmp_path / "forged"
    write_tiny_ledger(load_scenario("tiny"), forged, passes=passes, chain_url=chain_url)
    folder = copy_ledger(anchored[0], tmp_path / "t")
    for name in ("ledger.sqlite", "trust.json"):
        shutil.copy(forged / name, folder / name)
    rep = verify_ledger(folder, chain_url=chain_url)  # consistent in itself, and anchored
    assert UNPINNED_CAVEAT in rep.warnings
    assert IN_PROCESS_CAVEAT not in rep.warnings
    with pytest.raises(LedgerForged, match="not the pinned one"):
        verify_ledger(folder, chain_url=chain_url, trust=anchored[1])
    # the forger also rewrites the keys the ledger names back to the pinned ones: the
    # signatures then fail against them
    trust = Trust.load(anchored[1])
    con = sqlite3.connect(folder / "ledger.sqlite")
    with con:
        meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
        parties, units = json.loads(meta["parties"]), json.loads(meta["units"])
        parties.update(trust.parties)
        for u, key in zip(units, trust.units, strict=True):
            u["public_key"] = key
        con.execute("UPDATE meta SET value = ? WHERE key = 'parties'", (json.dumps(parties),))
        con.execute("UPDATE meta SET value = ? WHERE key = 'units'", (json.dumps(units),))
        con.execute("UPDATE meta SET value = ? WHERE key = 'run_id'", (json.dumps(trust.run_id),))
    con.close()
    with pytest.raises(LedgerTampered, match="block 0: bad signature of the pinned road operator"):
        verify_ledger(folder, chain_url=chain_url, trust=anchored[1])


def test_writer_killed_after_its_anchor_was_mined_recovers_from_the_node(
    chain_url: str, passes: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The anchoring transaction is mined but the writer dies before recording it: the next
    anchoring finds the roots on the node (from its log) and sends nothing twice."""
    folder = tmp_path / "run"
    write_tiny_ledger(load_scenario("tiny"), folder, passes=passes, chain_url=chain_url)
    con = sqlite3.connect(folder / "ledger.sqlite")
    with con:
        before = con.execute(ANCHORS).fetchall()
        con.execute("DELETE FROM anchors WHERE kind = 1 OR key = 2")  # as if never recorded
    con.close()
    writer = LedgerWriter(folder)
    assert writer.anchor(chain_url) == 0
    writer.close()
    con = sqlite3.connect(folder / "ledger.sqlite")
    after = con.execute(ANCHORS).fetchall()
    con.close()
    assert after == before
    assert verify_ledger(folder, chain_url=chain_url, trust=folder / "trust.json").complete


def test_anchoring_moves_from_the_in_process_chain_to_the_node(
    chain_url: str, passes: pd.DataFrame, tmp_path: Path
) -> None:
    folder = tmp_path / "run"
    write_tiny_ledger(load_scenario("tiny"), folder, passes=passes)  # in-process
    assert IN_PROCESS_CAVEAT in verify_ledger(folder).warnings
    res = runner.invoke(app, ["ledger", "anchor", str(folder), "--chain-url", chain_url])
    assert res.exit_code == 0, res.output
    assert "6 roots anchored" in res.output
    rep = verify_ledger(folder, chain_url=chain_url, trust=folder / "trust.json")
    assert (rep.anchors_checked, rep.warnings) == (6, ())
    con = sqlite3.connect(folder / "ledger.sqlite")
    meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
    (txs,) = con.execute("SELECT count(*) FROM chain_txs").fetchone()
    con.close()
    assert json.loads(meta["chain"])["url"] == chain_url
    assert json.loads(meta["previous_chains"])[0]["kind"] == "in-process"
    assert txs == 0  # the in-process log went with the move, in the same transaction
