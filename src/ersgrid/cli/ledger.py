"""``ersgrid ledger``: verify a ledger, make and check inclusion proofs, read statements."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from ersgrid.cli.console import (
    alarm,
    fit_tables,
    format_value,
    ok,
    print_json,
    print_tables,
    status,
)
from ersgrid.errors import LedgerTampered

__all__ = ["ledger_app"]

ledger_app = typer.Typer(
    help="Signed metering ledger: verify it, prove a vehicle's records, read statements.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)

EXIT_TAMPERED = 1
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the result as JSON on stdout, and nothing else.")
]

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL if not DIR/ledger.sqlite (e.g. postgresql://…)."),
]
ChainOption = Annotated[
    str | None,
    typer.Option(
        "--chain-url",
        help="Ethereum JSON-RPC node holding the anchors (default: the ledger's own chain).",
    ),
]
TrustOption = Annotated[
    Path | None,
    typer.Option(
        "--trust",
        help="Trust file with the pinned public keys (your copy of the trust.json written "
        "beside the ledger when it was created); without it the ledger's own keys are used.",
    ),
]


def _notes(warnings: tuple[str, ...] | list[str]) -> None:
    for text in warnings:
        status(f"note: {text}")


def _tampered(err: LedgerTampered, as_json: bool = False) -> typer.Exit:
    """Say what does not match (JSON on stdout with ``--json``); the exit to raise (code 1)."""
    if as_json:
        print_json({"ok": False, "tampered": str(err)})
    alarm("TAMPERED", str(err))
    return typer.Exit(EXIT_TAMPERED)


@ledger_app.command()
def verify(
    folder: Annotated[Path, typer.Argument(help="Results folder holding the ledger.")],
    db: DbOption = None,
    chain_url: ChainOption = None,
    trust: TrustOption = None,
    as_json: JsonOption = False,
) -> None:
    """Recompute every signature, Merkle root, hash link, settlement and anchor, and check
    that the chain holds nothing beyond the ledger's tip.

    Exit 0 if all match (notes say what could not be vouched for); 1 naming the first bad
    record, block or period, a rolled-back tail or keys other than the pinned ones; 2 on other
    errors.
    """
    from ersgrid.ledger.verify import verify_ledger

    try:
        rep = verify_ledger(folder, db, chain_url, trust)
    except LedgerTampered as err:
        raise _tampered(err, as_json) from None
    if as_json:
        print_json({"ok": True, **dataclasses.asdict(rep)})
        return
    keys = f"keys pinned by {trust}" if rep.keys == "pinned" else "the ledger's own keys"
    ok(
        f"{rep.records:,} records in {rep.blocks} blocks, {rep.periods} "
        f"settled periods, {rep.anchors_checked} anchors checked on {rep.chain}; "
        f"{keys} ({rep.wall_time_s:.1f} s)"
    )
    _notes(rep.warnings)


@ledger_app.command()
def proof(
    folder: Annotated[Path, typer.Argument(help="Results folder holding the ledger and keys/.")],
    vehicle: Annotated[int, typer.Option("--vehicle", help="Vehicle id of the run.")],
    period: Annotated[
        str, typer.Option("--period", help="Local period start: 2035-04-02T09 (hour) or a date.")
    ],
    db: DbOption = None,
    out: Annotated[Path | None, typer.Option(help="Write the proof here (default stdout).")] = None,
) -> None:
    """Inclusion proof of one vehicle's records and statement in one period (JSON)."""
    from ersgrid.ledger.proofs import make_proof

    data = make_proof(folder, vehicle, period, db)
    text = json.dumps(data, indent=1) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        status(f"proof of {len(data['records'])} records written to {out}")


@ledger_app.command("check-proof")
def check_proof_cmd(
    file: Annotated[Path, typer.Argument(help="Proof file from `ersgrid ledger proof`.")],
    chain_url: ChainOption = None,
    trust: TrustOption = None,
) -> None:
    """Check a proof without the ledger; with --chain-url also its anchors on chain, with
    --trust against the pinned keys."""
    from ersgrid.errors import LedgerError
    from ersgrid.ledger.proofs import check_proof

    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise LedgerError(f"cannot read proof {str(file)!r}: {err}") from None
    try:
        res = check_proof(data, chain_url, trust)
    except LedgerTampered as err:
        raise _tampered(err) from None
    anchors = (
        f"{res['anchors_checked']} anchors match on chain"
        if chain_url
        else "anchors not checked (give --chain-url)"
    )
    ok(
        f"{res['records']} records, {res['battery_kwh']:.3f} kWh charged, "
        f"statement total {res['total']:,.2f}; {anchors}"
    )
    if trust is None:
        _notes(["the keys were taken from the proof itself: give --trust to check them"])


@ledger_app.command()
def statements(
    folder: Annotated[Path, typer.Argument(help="Results folder holding the ledger.")],
    period: Annotated[
        str | None, typer.Option(help="One period (local start); all periods summed if omitted.")
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Totals per party (owners summed), energy and money, per the signed statements."""
    from ersgrid.ledger.proofs import parse_period
    from ersgrid.ledger.storage import LedgerStore, database_url

    store = LedgerStore(database_url(folder, db))
    try:
        meta = store.meta()
        wanted = None if period is None else parse_period(period, meta["timezone"],
                                                          meta["period"])  # fmt: skip
        totals: dict[str, list[float]] = {}
        n_periods = 0
        for p, *_ in store.settlement_rows():
            if wanted is not None and p != wanted:
                continue
            n_periods += 1
            for party, body, _ in store.statement_rows(p):
                st = json.loads(body)
                key = "vehicle owners" if party.startswith("vehicle:") else st["name"]
                row = totals.setdefault(key, [0.0, 0])
                row[0] += st["total_micro"] / 1e6
                row[1] += 1
    finally:
        store.close()
    currency = meta["currency"]
    net_sum = sum(v[0] for v in totals.values())
    if as_json:
        print_json(
            {
                "name": meta.get("name", ""), "currency": currency, "periods": n_periods,
                "parties": [
                    {"party": key, "statements": int(count), "net": money}
                    for key, (money, count) in totals.items()
                ],
                "sum": net_sum,
            }
        )  # fmt: skip
        return
    parties = [*totals, "sum"]
    columns = {
        "statements": [f"{int(count):,}" for _, count in totals.values()] + [""],
        # money to the cent; the sum to the micro-unit the statements are signed in
        f"net [{currency}]": [format_value(money, step=0.01) for money, _ in totals.values()]
        + [f"{net_sum:,.6f}"],
    }
    title = f"{meta.get('name', '')}: {n_periods} period(s), {currency}"
    print_tables(fit_tables(title, "party", parties, columns))


@ledger_app.command()
def anchor(
    folder: Annotated[Path, typer.Argument(help="Results folder holding the ledger and keys/.")],
    chain_url: ChainOption = None,
    evm_version: Annotated[
        str, typer.Option(help="EVM version the contract is compiled for (new deployments).")
    ] = "paris",
    db: DbOption = None,
) -> None:
    """Anchor what is not anchored yet; with a new --chain-url, move anchoring to that node.

    Moving deploys the anchor contract there (an empty anchoring account is funded from the
    node's unlocked account on development nodes) and anchors every block and settlement.
    """
    from ersgrid.ledger.writer import LedgerWriter

    writer = LedgerWriter(folder, db)
    try:
        n = writer.anchor(chain_url, evm_version)
        chain = writer.meta()["chain"]
    finally:
        writer.close()
    ok(
        f"{n} roots anchored; contract {chain['contract']} on {chain['kind']} chain "
        f"{chain['chain_id']}"
    )
