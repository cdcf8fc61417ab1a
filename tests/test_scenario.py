"""Scenario schema and loader: built-ins load, bad scenarios are named clearly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from ersgrid import ScenarioError, builtin_names, load_scenario
from ersgrid.scenario import build_layout, dump_scenario, parse_scenario
from ersgrid.scenario.docs import schema_markdown


def test_builtins_present_and_valid() -> None:
    names = builtin_names()
    assert {"shin-tomei", "e20", "tiny"} <= set(names)
    for name in names:
        sc = load_scenario(name)
        assert sc.name == name
        assert sc.description


def test_shin_tomei_matches_its_brief() -> None:
    sc = load_scenario("shin-tomei")
    assert sc.currency == "JPY"
    assert sc.timezone == "Asia/Tokyo"
    assert len(sc.substations) >= 3
    assert 20 <= sc.road.electrified_km / 2 <= 99  # tens of km per direction
    night = next(w for w in sc.tariff.windows if w.name == "night")
    assert (night.start.hour, night.end.hour) == (23, 7)
    assert 30 <= sc.tariff.base_price_per_kwh <= 34
    assert 19 <= night.price_per_kwh <= 23
    assert sc.co2.intensity_kg_per_kwh == pytest.approx(0.44, abs=0.02)
    assert sc.vehicles["truck"].share >= 0.25


def test_e20_is_european() -> None:
    sc = load_scenario("e20")
    assert (sc.currency, sc.timezone) == ("EUR", "Europe/Stockholm")
    assert sc.vehicles["truck"].share >= 0.2


def test_resolved_yaml_round_trips(tiny_data: dict[str, Any]) -> None:
    sc = parse_scenario(tiny_data)
    again = parse_scenario(yaml.safe_load(dump_scenario(sc)))
    assert again == sc


def _error_of(data: dict[str, Any]) -> str:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data, "case")
    return str(info.value)


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("substations", 0, "rating_kw"), -5, "substations.0.rating_kw"),
        (("traffic", "daily_volume"), "lots", "traffic.daily_volume"),
        (("road", "sections", 0, "coverage"), 1.5, "road.sections.0.coverage"),
        (("road", "sections", 0, "length_km"), 40.0, "beyond the road"),
        (("road", "sections", 0, "substation"), "SS-Nowhere", "unknown substation"),
        (("vehicles", "car", "exit_target_soc"), 0.99, "exit_target_soc cannot exceed soc_max"),
        (("timezone",), "Mars/Olympus", "unknown time zone"),
        (("tariff", "windows", 0, "start"), "23:10", "quarter hour"),
    ],
)
def test_bad_values_name_field_and_rule(
    tiny_data: dict[str, Any], path: tuple[Any, ...], value: Any, expected: str
) -> None:
    node: Any = tiny_data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert expected in _error_of(tiny_data)


def test_unknown_key_is_an_error(tiny_data: dict[str, Any]) -> None:
    tiny_data["road"]["sections"][0]["covrage"] = 0.5
    message = _error_of(tiny_data)
    assert "road.sections.0.covrage" in message
    assert "unknown key" in message


def test_overlapping_sections_rejected(tiny_data: dict[str, Any]) -> None:
    second = dict(tiny_data["road"]["sections"][0], name="second", start_km=5.0, length_km=2.0)
    tiny_data["road"]["sections"].append(second)
    assert "overlap" in _error_of(tiny_data)


def test_unknown_builtin_lists_the_known() -> None:
    with pytest.raises(ScenarioError, match="shin-tomei"):
        load_scenario("shin-tomie")


def test_yaml_syntax_error_has_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nroad: [unclosed\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="line"):
        load_scenario(bad)


def test_overrides_follow_field_paths() -> None:
    sc = load_scenario("tiny", {"traffic.daily_volume": 999, "road.sections.0.length_km": 2})
    assert sc.traffic.daily_volume == 999
    assert sc.road.sections[0].length_km == 2
    with pytest.raises(ScenarioError, match="no field"):
        load_scenario("tiny", {"road.nothing.here": 1})


def test_layout_splits_sections_and_assigns_nearest_substation() -> None:
    sc = load_scenario("shin-tomei")
    lay = build_layout(sc)
    per_dir = sum(round(s.length_km * 1000 / s.segment_length_m) for s in sc.road.sections)
    assert lay.n_segments == 2 * per_dir
    assert np.all(lay.seg_end_km > lay.seg_start_km)
    mid = 0.5 * (lay.seg_start_km + lay.seg_end_km)
    nearest = np.argmin(np.abs(mid[:, None] - lay.sub_position_km[None, :]), axis=1)
    assert np.array_equal(nearest, lay.seg_substation)
    # the lookup table finds each segment at its middle, in its own travel coordinates
    centre = (0.5 * (lay.seg_start_m + lay.seg_end_m)).astype(int)
    assert np.array_equal(lay.lut[lay.seg_direction, centre], np.arange(lay.n_segments))


def test_schema_doc_lists_every_top_level_field() -> None:
    from ersgrid.scenario.schema import Scenario

    text = schema_markdown()
    for name in Scenario.model_fields:
        assert f"| `{name}` |" in text
