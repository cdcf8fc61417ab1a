"""Ledger: records, Merkle proofs, a real run's ledger, and tampering caught by ``verify``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ersgrid.cli import app
from ersgrid.errors import LedgerTampered
from ersgrid.ledger.chain import (
    KIND_BLOCK,
    KIND_SETTLEMENT,
    AnchorItem,
    ChainClient,
    compile_anchor_contract,
)
from ersgrid.ledger.keys import KeyStore
from ersgrid.ledger.merkle import merkle_proof, merkle_root, root_from_proof
from ersgrid.ledger.storage import LedgerStore, database_url
from ersgrid.ledger.verify import verify_ledger
from ersgrid.scenario.schema import Scenario
from ledger_helpers import copy_ledger, write_tiny_ledger

runner = CliRunner()


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13])
def test_merkle_proofs_lead_to_the_root(n: int) -> None:
    import hashlib

    leaves = [hashlib.sha256(bytes([i])).digest() for i in range(n)]
    root = merkle_root(leaves)
    for i in range(n):
        assert root_from_proof(leaves[i], merkle_proof(leaves, i)) == root
    if n > 1:
        assert root_from_proof(leaves[0], merkle_proof(leaves, 1)) != root
        assert merkle_root(leaves[:-1]) != root


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real ledger (three hours of ``tiny``), written once per module."""
    from ersgrid.scenario.loader import load_scenario

    folder = tmp_path_factory.mktemp("ledger") / "run"
    summary = write_tiny_ledger(load_scenario("tiny"), folder)
    assert summary.records > 400
    assert summary.blocks == 3
    assert summary.settlement_balanced
    assert summary.anchored == summary.blocks + summary.periods
    return folder


def _verify_cli(folder: Path) -> tuple[int, str]:
    res = runner.invoke(app, ["ledger", "verify", str(folder)])
    return res.exit_code, res.output + (res.stderr if res.stderr_bytes is not None else "")


def test_untouched_ledger_verifies(ledger: Path) -> None:
    rep = verify_ledger(ledger)
    assert rep.blocks == 3
    assert rep.anchors_checked == 6
    code, text = _verify_cli(ledger)
    assert code == 0, text
    assert "ok" in text


def test_keys_are_private_and_outside_the_database(ledger: Path) -> None:
    keys = ledger / "keys"
    assert (keys.stat().st_mode & 0o777) == 0o700
    files = [p for p in keys.rglob("*.key")]
    assert len(files) > 10
    assert all((p.stat().st_mode & 0o777) == 0o600 for p in files)
    secret = KeyStore(keys).provider_secret()
    assert secret not in (ledger / "ledger.sqlite").read_bytes()
    assert KeyStore(keys).chain_account() not in (ledger / "ledger.sqlite").read_bytes()


def _sql(folder: Path, *statements: str) -> None:
    con = sqlite3.connect(folder / "ledger.sqlite")
    with con:
        for s in statements:
            con.execute(s)
    con.close()


def test_one_byte_changed_in_the_database_file_is_caught(ledger: Path, tmp_path: Path) -> None:
    folder = copy_ledger(ledger, tmp_path / "t")
    store = LedgerStore(database_url(folder))
    seq = 123
    body = bytes(store.record_rows(seq, seq + 1)[0][5])
    store.close()
    assert not (folder / "ledger.sqlite-wal").exists()
    raw = bytearray((folder / "ledger.sqlite").read_bytes())
    at = raw.find(body)
    assert at > 0
    assert raw.find(body, at + 1) < 0
    raw[at + 60] ^= 0x01  # lowest byte of the record's battery energy [mWh]
    (folder / "ledger.sqlite").write_bytes(bytes(raw))
    code, text = _verify_cli(folder)
    assert code == 1
    assert f"record seq {seq}" in text
    assert "altered value" in text


def test_deleted_record_is_caught(ledger: Path, tmp_path: Path) -> None:
    folder = copy_ledger(ledger, tmp_path / "t")
    _sql(folder, "DELETE FROM records WHERE seq = 200")
    code, text = _verify_cli(folder)
    assert code == 1
    assert "record seq 200 missing" in text


def test_swapped_blocks_are_caught(ledger: Path, tmp_path: Path) -> None:
    folder = copy_ledger(ledger, tmp_path / "t")
    _sql(
        folder,
        "UPDATE blocks SET height = -1 WHERE height = 1",
        "UPDATE blocks SET height = 1 WHERE height = 2",
        "UPDATE blocks SET height = 2 WHERE height = -1",
    )
    code, text = _verify_cli(folder)
    assert code == 1
    assert "block at position 1" in text
    assert "reordered or swapped" in text


def test_replaced_signature_is_caught(ledger: Path, tmp_path: Path) -> None:
    folder = copy_ledger(ledger, tmp_path / "t")
    con = sqlite3.connect(folder / "ledger.sqlite")
    (other,) = con.execute(
        "SELECT signature FROM attestations WHERE height = 0 ORDER BY unit LIMIT 1"
    ).fetchone()
    (unit,) = con.execute(
        "SELECT unit FROM attestations WHERE height = 1 ORDER BY unit LIMIT 1 OFFSET 1"
    ).fetchone()
    with con:
        con.execute(
            "UPDATE attestations SET signature = ? WHERE height = 1 AND unit = ?", (other, unit)
        )
    con.close()
    code, text = _verify_cli(folder)
    assert code == 1
    assert f"block 1: bad signature of power unit {unit}" in text


def test_block_signature_replaced_is_caught(ledger: Path, tmp_path: Path) -> None:
    folder = copy_ledger(ledger, tmp_path / "t")
    con = sqlite3.connect(folder / "ledger.sqlite")
    (sig0,) = con.execute("SELECT signature FROM blocks WHERE height = 0").fetchone()
    with con:
        con.execute("UPDATE blocks SET signature = ? WHERE height = 2", (sig0,))
    con.close()
    with pytest.raises(LedgerTampered, match="block 2: bad signature of the road operator"):
        verify_ledger(folder)


def test_different_root_anchored_is_caught(ledger: Path, tmp_path: Path) -> None:
    """The chain says another root for block 1 than the ledger holds."""
    folder = copy_ledger(ledger, tmp_path / "t")
    store = LedgerStore(database_url(folder))
    blocks = store.block_rows()
    settlements = store.settlement_rows()
    items = [
        AnchorItem(KIND_BLOCK, h, bytes(32 - 1) + b"\x07" if h == 1 else hsh)
        for h, _, hsh, _ in blocks
    ] + [AnchorItem(KIND_SETTLEMENT, p, r) for p, _, r, _ in settlements]
    client = ChainClient.in_process(KeyStore(folder / "keys").chain_account())
    client.deploy(compile_anchor_contract(folder / "chain", store.meta()["chain"]["evm_version"]))
    client.anchor(items)
    store.close()
    _sql(folder, "DELETE FROM chain_txs")
    store = LedgerStore(database_url(folder))
    store.add_chain_txs(client.sent)
    store.close()
    code, text = _verify_cli(folder)
    assert code == 1
    assert "block 1: root anchored on chain" in text
    assert "is different" in text


def test_altered_statement_is_caught(ledger: Path, tmp_path: Path) -> None:
    folder = copy_ledger(ledger, tmp_path / "t")
    _sql(
        folder,
        'UPDATE statements SET body = replace(body, \'"name":"Grid operator"\', '
        "'\"name\":\"Grid operator \"') WHERE party = 'grid_operator'",
    )
    with pytest.raises(LedgerTampered, match="statement of grid_operator differs"):
        verify_ledger(folder)


def test_missing_ledger_is_a_clear_error(tmp_path: Path) -> None:
    code, text = _verify_cli(tmp_path)
    assert code == 2
    assert "ledger.sqlite is missing" in text


def test_proof_round_trip_and_forgery(ledger: Path, tmp_path: Path, tiny: Scenario) -> None:
    import json

    from ersgrid.ledger.proofs import check_proof, make_proof

    out = tmp_path / "proof.json"
    res = runner.invoke(
        app,
        ["ledger", "proof", str(ledger), "--vehicle", "0", "--period", "2035-04-02T00",
         "--out", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    proof = json.loads(out.read_text())
    assert proof["records"]
    assert all(r["values"]["pseudonym"] == proof["pseudonym"] for r in proof["records"])
    res = runner.invoke(app, ["ledger", "check-proof", str(out)])
    assert res.exit_code == 0, res.output
    summary = check_proof(proof)
    assert summary["battery_kwh"] > 0
    # the same vehicle in the next hour has another pseudonym
    later = make_proof(ledger, 0, "2035-04-02T01") if _has_records(ledger, 0, 1) else None
    if later is not None:
        assert later["pseudonym"] != proof["pseudonym"]
    # a forged record fails
    rec = bytearray(bytes.fromhex(proof["records"][0]["record"]))
    rec[60] ^= 1
    proof["records"][0]["record"] = bytes(rec).hex()
    out.write_text(json.dumps(proof))
    res = runner.invoke(app, ["ledger", "check-proof", str(out)])
    assert res.exit_code == 1
    assert "not included under the root its power unit signed" in res.output


def _has_records(folder: Path, vehicle: int, hour: int) -> bool:
    from ersgrid.errors import LedgerError
    from ersgrid.ledger.proofs import make_proof

    try:
        make_proof(folder, vehicle, f"2035-04-02T0{hour}")
    except LedgerError:
        return False
    return True


def test_anchoring_moves_to_a_json_rpc_node(ledger: Path, tmp_path: Path) -> None:
    """Against a real node (ganache, anvil, geth --dev) named by ERSGRID_TEST_CHAIN_URL."""
    import json
    import os

    url = os.environ.get("ERSGRID_TEST_CHAIN_URL")
    if not url:
        pytest.skip("set ERSGRID_TEST_CHAIN_URL to an Ethereum JSON-RPC dev node to run")
    folder = copy_ledger(ledger, tmp_path / "t")
    res = runner.invoke(app, ["ledger", "anchor", str(folder), "--chain-url", url])
    assert res.exit_code == 0, res.output
    assert "6 roots anchored" in res.output
    rep = verify_ledger(folder, chain_url=url)
    assert rep.anchors_checked == 6
    assert rep.chain.startswith("json-rpc")
    out = tmp_path / "p.json"
    res = runner.invoke(
        app,
        ["ledger", "proof", str(folder), "--vehicle", "0", "--period", "2035-04-02T00",
         "--out", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["ledger", "check-proof", str(out), "--chain-url", url])
    assert res.exit_code == 0, res.output
    assert "anchors match on" in res.output
    assert json.loads(out.read_text())["chain"]["url"] == url


def test_statements_command_sums_to_zero(ledger: Path) -> None:
    res = runner.invoke(app, ["ledger", "statements", str(ledger)])
    assert res.exit_code == 0, res.output
    assert "Road operator" in res.output
    assert "vehicle owners" in res.output
    last = next(ln for ln in res.output.splitlines() if ln.strip("│ ").startswith("sum"))
    assert "0.000000" in last


def test_verify_needs_no_secret_key(ledger: Path, tmp_path: Path) -> None:
    """A third party verifies from the ledger alone: no keys folder at all."""
    import shutil

    folder = copy_ledger(ledger, tmp_path / "t")
    shutil.rmtree(folder / "keys")
    assert verify_ledger(folder).anchors_checked == 6


@pytest.mark.parametrize("table", ["records", "blocks", "attestations", "statements"])
def test_damaged_database_pages_are_reported_not_crashed(
    ledger: Path, tmp_path: Path, table: str
) -> None:
    """A whole page of a table overwritten in the SQLite file: verify exits 1 naming it."""
    folder = copy_ledger(ledger, tmp_path / "t")
    con = sqlite3.connect(folder / "ledger.sqlite")
    (size,) = con.execute("PRAGMA page_size").fetchone()
    pageno = con.execute(
        "SELECT max(pageno) FROM dbstat WHERE name = ? AND pagetype = 'leaf'", (table,)
    ).fetchone()[0]
    con.close()
    assert pageno is not None
    raw = bytearray((folder / "ledger.sqlite").read_bytes())
    at = (pageno - 1) * size
    raw[at + 200 : at + size] = bytes(range(256)) * ((size - 200) // 256) + bytes(
        (size - 200) % 256
    )
    (folder / "ledger.sqlite").write_bytes(bytes(raw))
    code, text = _verify_cli(folder)
    assert code == 1, text
    assert "TAMPERED" in text


def test_insider_rewrite_with_all_keys_is_caught_only_by_the_chain(
    ledger: Path, tmp_path: Path
) -> None:
    """Someone holding every key alters one record and re-signs and re-settles everything
    consistently (same timestamps): every signature and root checks, and only the anchored
    root on the chain shows the rewrite."""
    import numpy as np

    from ersgrid.ledger.blocks import GENESIS_HASH, BlockHeader, build_block
    from ersgrid.ledger.records import decode_records
    from ersgrid.ledger.writer import LedgerWriter

    folder = copy_ledger(ledger, tmp_path / "t")
    writer = LedgerWriter(folder)
    store = writer.store
    old = [(BlockHeader.decode(hdr), hsh) for _, hdr, hsh, _ in store.block_rows()]
    chunks = [
        np.array(decode_records([bytes(r[5]) for r in store.record_rows(h.first_seq,
                 h.first_seq + h.n_records)]), copy=True)
        for h, _ in old
    ]  # fmt: skip
    chunks[1]["battery_mwh"][5] -= 100_000  # 0.1 kWh less billed to one owner
    _sql(folder, "DELETE FROM records", "DELETE FROM attestations", "DELETE FROM blocks",
         "DELETE FROM statements", "DELETE FROM settlements")  # fmt: skip
    prev = GENESIS_HASH
    for (head, _), rec in zip(old, chunks, strict=True):
        block = build_block(rec, head.height, prev, writer.keys, head.timestamp_ms)
        store.append_block(block)
        prev = block.hash
    _, balanced = writer.settle(np.concatenate(chunks))
    writer.close()
    assert balanced
    new = LedgerStore(database_url(folder)).block_rows()
    assert new[0][2] == old[0][1]  # block 0 rebuilt bit for bit
    code, text = _verify_cli(folder)
    assert code == 1
    assert "block 1: root anchored on chain" in text


def test_run_writes_its_ledger_and_kpis_and_a_rerun_replaces_it(
    tmp_path: Path, tiny: Scenario
) -> None:
    import json

    from ersgrid.results import write_results
    from ersgrid.run.runner import run

    out = tmp_path / "results"
    first = run(tiny, days=0.125)
    write_results(first, out)
    kpis = json.loads((out / "kpis.json").read_text())
    assert kpis["ledger_records"] == len(first.passes) > 0
    assert kpis["ledger_blocks"] == 3
    assert kpis["settlement_balanced"] is True
    second = run(tiny, days=0.125, seed=7)
    write_results(second, out)
    assert json.loads((out / "kpis.json").read_text())["ledger_records"] == len(second.passes)
    assert verify_ledger(out).records == len(second.passes)
