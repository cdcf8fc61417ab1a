"""``ersgrid reserve`` and ``ersgrid outage``: the road as a grid resource."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ersgrid.cli.console import fit_tables, format_value, print_json, print_tables, say
from ersgrid.errors import ErsgridError

if TYPE_CHECKING:
    from ersgrid.scenario.schema import Scenario

__all__ = ["outage", "reserve", "with_product"]

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the results as JSON on stdout, and nothing else.")
]


def _finite(value: object) -> object:
    """JSON has no NaN or infinity: write null for them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def reserve(
    scenario: Annotated[str, typer.Argument(help="Built-in scenario name or a YAML file.")],
    strategy: Annotated[str, typer.Option(help="Strategy whose headroom is offered.")] = "mpc",
    hold: Annotated[
        float,
        typer.Option(
            help="Share of the road's demand held back as headroom (0: none).", min=0.0, max=0.9
        ),
    ] = 0.2,
    days: Annotated[float, typer.Option(help="Simulated days.")] = 1.0,
    product: Annotated[
        str | None, typer.Option(help="fcr-ce, fcr-n or jp-primary (default: the scenario's).")
    ] = None,
    frequency_csv: Annotated[
        Path | None,
        typer.Option(
            help="Recorded frequency (columns time_s or timestamp, frequency_hz) to test the "
            "reserve against, beside the scenario's disturbances."
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Folder for reserve.html and reserve.json.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Offer the road's headroom as frequency reserve and test it in every disturbance."""
    from ersgrid.control.registry import make_strategy
    from ersgrid.grid.frequency import read_frequency_csv
    from ersgrid.report.support import reserve_figures, write_support_page
    from ersgrid.run.reserve import FrequencyRecording, HoldHeadroom, reserve_study
    from ersgrid.run.runner import run
    from ersgrid.scenario.loader import load_scenario

    recording = None
    if frequency_csv is not None:  # read before the run: a bad file fails fast
        t, f = read_frequency_csv(frequency_csv)
        recording = FrequencyRecording(f"recorded: {frequency_csv.name}", t, f)
    sc = load_scenario(scenario)
    if product:
        sc = with_product(sc, product)
    policy = make_strategy(strategy)
    if hold > 0:
        policy = HoldHeadroom(policy, hold)
    result = run(sc, policy, days=days)
    study = reserve_study(result, recording)
    spec = sc.reserve
    cur = sc.currency
    folder = out or Path("results") / f"{sc.name}-reserve"
    folder.mkdir(parents=True, exist_ok=True)
    payload: dict[str, Any] = {
        "product": spec.product,
        "revenue": study.revenue,
        "v2g_kwh": study.v2g_kwh,
        "degradation_cost": study.degradation_cost,
        "all_compliant": study.all_compliant,
        "offered": study.offered,
        "reserve_kw_mean": float(study.reserve_kw.mean()),
        "events": [
            {
                "case": c,
                "status": e.status,
                **{k: _finite(v) for k, v in dataclasses.asdict(e).items()},
            }
            for c, e, _, _ in study.events
        ],
    }
    (folder / "reserve.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    write_support_page(
        folder / "reserve.html",
        f"Frequency reserve — {sc.name} / {strategy}",
        reserve_figures(result, study),
    )
    if as_json:
        written = [str(folder / "reserve.json"), str(folder / "reserve.html")]
        print_json({**payload, "currency": cur, "written": written})
        return
    labels = ["disturbance", "reserve [MW]", "nadir with [Hz]", "nadir without [Hz]",
              "activation [s]", "limit [s]", "delivered/required [MWh]", "status"]  # fmt: skip
    columns = {
        f"{n}. {case}": [
            e.name, format_value(e.reserve_mw, step=0.01), format_value(e.nadir_hz, step=1e-4),
            format_value(e.nadir_without_hz, step=1e-4),
            format_value(e.activation_lag_s, step=0.1), format_value(e.activation_time_s, step=0.1),
            f"{format_value(e.delivered_mwh, step=1e-3)}/{format_value(e.required_mwh, step=1e-3)}",
            e.status,
        ]
        for n, (case, e, _, _) in enumerate(study.events, start=1)
    }  # fmt: skip
    title = (
        f"{sc.name} / {strategy}: {spec.product} reserve "
        f"({sc.frequency.nominal_hz} Hz, ×{spec.aggregation_factor:g} corridors)"
    )
    print_tables(fit_tables(title, "event", labels, columns))
    say(
        f"reserve offered: mean {format_value(float(study.reserve_kw.mean()), step=1)} kW, "
        f"min {format_value(float(study.reserve_kw.min()), step=1)} kW; capacity revenue "
        f"{format_value(study.revenue, step=1)} {cur}; V2G in the events "
        f"{format_value(study.v2g_kwh, step=0.1)} kWh, wear "
        f"{format_value(study.degradation_cost, step=1)} {cur}"
    )
    say(f"written: {folder}/reserve.html, reserve.json")


def with_product(sc: Scenario, product: str) -> Scenario:
    """The scenario with another reserve product: its preset rules replace the old product's,
    the scenario's other reserve settings (offer share, price, aggregation) stay."""
    from pydantic import ValidationError

    from ersgrid.scenario.reserve import RESERVE_PRESETS, ReserveSpec

    preset = RESERVE_PRESETS.get(product, {})
    keep = {k: v for k, v in sc.reserve.model_dump().items() if k not in preset}
    try:
        spec = ReserveSpec.model_validate({**keep, "product": product})
    except ValidationError as err:
        raise ErsgridError(
            f"--product {product!r}: {err.errors()[0]['msg']}; use fcr-ce, fcr-n or jp-primary"
        ) from None
    return sc.model_copy(update={"reserve": spec})


def outage(
    scenario: Annotated[str, typer.Argument(help="Built-in scenario name or a YAML file.")],
    substation: Annotated[str, typer.Option(help="Id of the substation that loses the grid.")],
    start: Annotated[str, typer.Option(help="Local start, YYYY-MM-DDTHH:MM.")],
    hours: Annotated[float, typer.Option(help="Length of the outage [h].", min=0.25)] = 4.0,
    strategy: Annotated[str, typer.Option(help="Strategy outside the island.")] = "uncontrolled",
    days: Annotated[float, typer.Option(help="Simulated days.")] = 1.0,
    out: Annotated[
        Path | None, typer.Option(help="Folder for outage.json and outage.html.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Cut the grid at a substation and see how long V2G and storage keep critical loads."""
    from ersgrid.report.support import outage_figures, write_support_page
    from ersgrid.run.resilience import Outage, run_outage
    from ersgrid.scenario.loader import load_scenario

    try:
        when = dt.datetime.fromisoformat(start)
    except ValueError:
        raise ErsgridError(f"--start {start!r}: expected YYYY-MM-DDTHH:MM") from None
    sc = load_scenario(scenario)
    event = Outage(substation, when, hours)
    result, rep, fleet = run_outage(sc, event, strategy, days)
    folder = out or Path("results") / f"{sc.name}-outage"
    folder.mkdir(parents=True, exist_ok=True)
    data = {
        k: (float(v) if isinstance(v, float) else v) for k, v in dataclasses.asdict(rep).items()
    }
    (folder / "outage.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    write_support_page(
        folder / "outage.html",
        f"Outage at {substation} — {sc.name}",
        outage_figures(result, event, fleet),
    )
    if as_json:
        print_json({**data, "written": [str(folder / "outage.json"), str(folder / "outage.html")]})
        return
    quantities = {k: v for k, v in data.items() if isinstance(v, float)}
    print_tables(
        fit_tables(
            f"Outage at {substation} from {rep.start} for {rep.hours:g} h",
            "quantity",
            list(quantities),
            {"value": [format_value(v, k) for k, v in quantities.items()]},
        )
    )
    say(f"written: {folder}/outage.html, outage.json")
