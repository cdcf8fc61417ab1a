"""Ledger: records, Merkle proofs, a real run's ledger, and tampering caught by ``verify``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
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
from ersgrid.ledger.trust import Trust
from ersgrid.ledger.verify import verify_ledger
from ersgrid.scenario.schema import Scenario
from ledger_helpers import (
    FIRST_VEHICLE,
    copy_ledger,
    delete_record,
    record_body,
    rewrite_with_all_keys,
    roll_back_last_block,
    write_tiny_ledger,
)

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
    seq = 123
    body = record_body(folder, seq)
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
    delete_record(folder, 200)
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
    meta = store.meta()
    client.deploy(
        compile_anchor_contract(meta["chain"]["evm_version"]), Trust.of_meta(meta).digest()
    )
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
        ["ledger", "proof", str(ledger), "--vehicle", str(FIRST_VEHICLE),
         "--period", "2035-04-02T00",
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
    later = (
        make_proof(ledger, FIRST_VEHICLE, "2035-04-02T01")
        if _has_records(ledger, FIRST_VEHICLE, 1)
        else None
    )
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
    folder = copy_ledger(ledger, tmp_path / "t")
    old = LedgerStore(database_url(folder)).block_rows()
    rewrite_with_all_keys(folder)
    new = LedgerStore(database_url(folder)).block_rows()
    assert new[0][2] == old[0][2]  # block 0 rebuilt bit for bit
    assert new[1][2] != old[1][2]
    code, text = _verify_cli(folder)
    assert code == 1
    assert "block 1: root anchored on chain" in text


def test_run_writes_its_ledger_and_kpis_and_a_rerun_replaces_it(
    tmp_path: Path, tiny: Scenario
) -> None:
    import json

    from ersgrid.results import write_results
    from ersgrid.run.runner import RunResult, run

    def meter_readings(result: RunResult) -> int:
        """Connection-meter records of a run: one per step and kind with energy."""
        h = result.world.step_h
        kwh = [result.import_kw * h, result.export_kw * h,
               (result.energy.renewable_kw - result.curtailed_kw) * h]  # fmt: skip
        return sum(int((np.rint(v * 1e6) > 0).sum()) for v in kwh)

    out = tmp_path / "results"
    first = run(tiny, days=0.125)
    write_results(first, out)
    kpis = json.loads((out / "kpis.json").read_text())
    assert meter_readings(first) > 0
    assert kpis["ledger_records"] == len(first.passes) + meter_readings(first)
    assert kpis["ledger_blocks"] == 3
    assert kpis["settlement_balanced"] is True
    second = run(tiny, days=0.125, seed=7)
    write_results(second, out)
    records = len(second.passes) + meter_readings(second)
    assert json.loads((out / "kpis.json").read_text())["ledger_records"] == records
    assert verify_ledger(out).records == records


def test_rolled_back_block_and_settlement_are_caught(ledger: Path, tmp_path: Path) -> None:
    """The newest block and its period's settlement deleted: every remaining block and
    settlement checks, but the chain holds a root beyond the ledger's tip."""
    from ersgrid.ledger.verify import LedgerRolledBack

    folder = copy_ledger(ledger, tmp_path / "t")
    height, _ = roll_back_last_block(folder)
    assert height == 2
    with pytest.raises(LedgerRolledBack, match="the chain holds 3 block roots, the ledger only 2"):
        verify_ledger(folder)
    code, text = _verify_cli(folder)
    assert code == 1
    assert "blocks 2..2 are missing" in text


def test_rolled_back_settlement_alone_is_caught(ledger: Path, tmp_path: Path) -> None:
    from ersgrid.ledger.verify import LedgerRolledBack

    folder = copy_ledger(ledger, tmp_path / "t")
    store = LedgerStore(database_url(folder))
    last = store.settlement_rows()[-1][0]
    store.close()
    _sql(folder, f"DELETE FROM statements WHERE period = {last}",
         f"DELETE FROM settlements WHERE period = {last}")  # fmt: skip
    with pytest.raises(LedgerRolledBack, match=f"settlement of period .*{last}.* missing"):
        verify_ledger(folder)


def test_untouched_ledger_says_what_it_cannot_vouch_for(ledger: Path) -> None:
    from ersgrid.ledger.verify import IN_PROCESS_CAVEAT, UNPINNED_CAVEAT

    rep = verify_ledger(ledger)
    assert rep.keys == "ledger"
    assert rep.complete
    assert UNPINNED_CAVEAT in rep.warnings
    assert IN_PROCESS_CAVEAT in rep.warnings
    pinned = verify_ledger(ledger, trust=ledger / "trust.json")
    assert pinned.keys == "pinned"
    assert UNPINNED_CAVEAT not in pinned.warnings
    assert IN_PROCESS_CAVEAT in pinned.warnings  # pinning keys does not make the chain real
    code, text = _verify_cli(ledger)
    assert code == 0
    assert "protects nothing against someone who can rewrite" in " ".join(text.split())


def test_reforged_ledger_with_fresh_keys_is_caught_only_by_pinned_keys(
    ledger: Path, tmp_path: Path, tiny: Scenario
) -> None:
    """Someone without the keys writes the same run again with fresh keys and a fresh
    in-process chain and puts it in place of the original: it verifies on its own word, and
    fails against the trust file the parties kept."""
    import shutil

    from ersgrid.ledger.verify import LedgerForged

    kept = tmp_path / "kept-trust.json"
    shutil.copy(ledger / "trust.json", kept)
    forged = tmp_path / "forged"
    write_tiny_ledger(tiny, forged)
    folder = copy_ledger(ledger, tmp_path / "t")
    for name in ("ledger.sqlite", "trust.json"):
        shutil.copy(forged / name, folder / name)
    rep = verify_ledger(folder)  # consistent in itself
    assert rep.keys == "ledger"
    with pytest.raises(LedgerForged, match="not the pinned one"):
        verify_ledger(folder, trust=kept)
    res = runner.invoke(app, ["ledger", "verify", str(folder), "--trust", str(kept)])
    assert res.exit_code == 1
    assert "TAMPERED" in res.output


def test_trust_file_is_beside_the_ledger_and_checked_when_read(
    ledger: Path, tmp_path: Path
) -> None:
    import json

    from ersgrid.errors import LedgerError

    store = LedgerStore(database_url(ledger))
    meta = store.meta()
    store.close()
    trust = Trust.load(ledger / "trust.json")
    assert trust.pinned
    assert trust.parties == meta["parties"]
    assert trust.units == [u["public_key"] for u in meta["units"]]
    assert trust.chain_account == meta["chain"]["account"]
    data = json.loads((ledger / "trust.json").read_text())
    data["parties"]["road_operator"] = "11" * 32
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(LedgerError, match="do not hash to its signers_sha256"):
        Trust.load(bad)
    bad.write_text("{}")
    with pytest.raises(LedgerError, match="not an ersgrid trust file"):
        Trust.load(bad)


def test_contract_build_is_cached_and_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second build comes from the cache without compiling; a damaged cache is rebuilt."""
    import json

    import vyper.compiler

    from ersgrid.errors import LedgerError

    first = compile_anchor_contract(cache_dir=tmp_path)
    (cached,) = tmp_path.glob("anchor-*.json")

    def no_compile(*args: object, **kwargs: object) -> None:
        raise AssertionError("compiled although a verified build is cached")

    monkeypatch.setattr(vyper.compiler, "compile_code", no_compile)
    assert compile_anchor_contract(cache_dir=tmp_path) == first
    data = json.loads(cached.read_text())
    data["bytecode_runtime"] = data["bytecode_runtime"][:-2] + "00"
    cached.write_text(json.dumps(data))
    with pytest.raises(LedgerError, match="compiled although"):
        compile_anchor_contract(cache_dir=tmp_path)  # the damaged build is not used
    monkeypatch.undo()
    assert compile_anchor_contract(cache_dir=tmp_path) == first
    assert json.loads(cached.read_text()) == first


def test_durable_point_follows_each_commit(tmp_path: Path) -> None:
    from ersgrid.ledger.writer import LedgerWriter, PriceTable
    from ersgrid.scenario.settlement import SettlementSpec
    from ledger_helpers import records_array

    writer = LedgerWriter.create(
        tmp_path / "l", [{"id": f"u{i}", "substation": "S"} for i in range(16)],
        timezone="Asia/Tokyo", currency="JPY", rules=SettlementSpec(),
        tariffs=[{"name": "t", "export_price_per_kwh": 8.0, "v2g_payment_per_kwh": 0.0,
                  "network_fee_per_kwh": 0.0}],
        prices=PriceTable(0, 900_000, [20.0]), user_prices=PriceTable(0, 900_000, [50.0]),
        reference_price_per_kwh=30.0,
    )  # fmt: skip
    assert writer.durable().blocks == 0
    rec = records_array(3000)
    blocks = writer.append(rec, max_block_records=1000)
    point = writer.durable()
    assert (point.blocks, point.records, point.tip_hash) == (3, 3000, blocks[-1].hash)
    assert point.settled == 0
    assert point.last_settled_period is None
    writer.settle(rec)
    assert writer.durable().last_settled_period == int(rec["period"][0])
    assert writer.anchor() == 4
    assert writer.durable().anchored == 4
    assert writer.anchor() == 0  # the kept in-process chain: nothing new
    more = records_array(500, seed=1)  # the next hour, not settled yet
    more["period"] += 3600
    more["start_ms"] += 3_600_000
    more["end_ms"] += 3_600_000
    writer.append(more)
    assert writer.anchor() == 1
    writer.close()
    rep = verify_ledger(tmp_path / "l")
    assert (rep.records, rep.blocks, rep.unanchored_blocks, rep.unsettled_periods) == (
        3500, 4, 0, 1,
    )  # fmt: skip
    assert any(w.startswith("incomplete tail: 1 period(s) not settled") for w in rep.warnings)
