"""Importers: JEPX spot CSV, plain price CSV, DWD TRY weather — good files and malformed ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ersgrid.data.prices import align_prices, read_jepx_spot, read_price_csv
from ersgrid.data.weather import read_dwd_try
from ersgrid.errors import DataError

AREAS = ["北海道", "東北", "東京", "中部", "北陸", "関西", "中国", "四国", "九州"]
HEADER = ",".join(
    ["受渡日", "時刻コード", "売り入札量(kWh)", "買い入札量(kWh)", "約定総量(kWh)",
     "システムプライス(円/kWh)", *[f"エリアプライス{a}(円/kWh)" for a in AREAS],
     "スポット・時間帯平均価格(円/kWh)"]
)  # fmt: skip


def _jepx_rows(day: str, codes: range) -> list[str]:
    rows = []
    for code in codes:
        system = 10.0 + code / 10
        areas = [system + 0.5 * i for i in range(len(AREAS))]
        cells = [day, str(code), "1000", "1000", "900", f"{system:.2f}"]
        rows.append(",".join(cells + [f"{a:.2f}" for a in areas] + ["11.00"]))
    return rows


def _write(tmp_path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path = tmp_path / "spot_summary_2035.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


@pytest.mark.parametrize("encoding", ["utf-8", "cp932"])
def test_jepx_reads_system_and_area_prices(tmp_path: Path, encoding: str) -> None:
    path = _write(tmp_path, [HEADER, *_jepx_rows("2035/04/02", range(1, 49))], encoding)
    system = read_jepx_spot(path)
    tokyo = read_jepx_spot(path, "tokyo")
    assert len(system) == 48
    assert system.index[0] == pd.Timestamp("2035-04-02 00:00", tz="Asia/Tokyo")
    assert system.index[47] == pd.Timestamp("2035-04-02 23:30", tz="Asia/Tokyo")
    assert system.iloc[0] == pytest.approx(10.1)
    assert tokyo.iloc[0] == pytest.approx(10.1 + 0.5 * 2)  # third area column
    index = pd.date_range("2035-04-02", periods=96, freq="15min", tz="Asia/Tokyo")
    quarter = align_prices(system, index, str(path))
    assert quarter.iloc[0] == quarter.iloc[1] == pytest.approx(10.1)
    assert quarter.iloc[2] == pytest.approx(10.2)
    assert quarter.iloc[95] == pytest.approx(14.8)


@pytest.mark.parametrize(
    ("row_change", "needle"),
    [
        ((3, 5, "abc"), "line 4, column 'システムプライス(円/kWh)': 'abc' is not a number"),
        ((2, 1, "49"), "line 3, column '時刻コード': '49' is not a time code 1..48"),
        ((5, 0, "2035/13/40"), "line 6, column '受渡日': '2035/13/40'"),
        ((4, 5, "-3"), "line 5, column 'システムプライス(円/kWh)': negative price"),
    ],
)
def test_jepx_names_line_and_column_of_bad_value(
    tmp_path: Path, row_change: tuple[int, int, str], needle: str
) -> None:
    rows = _jepx_rows("2035/04/02", range(1, 49))
    i, col, text = row_change
    cells = rows[i - 1].split(",")
    cells[col] = text
    rows[i - 1] = ",".join(cells)
    path = _write(tmp_path, [HEADER, *rows])
    with pytest.raises(DataError, match=None) as err:
        read_jepx_spot(path)
    assert needle in str(err.value)


def test_jepx_rejects_missing_column_duplicates_and_short_rows(tmp_path: Path) -> None:
    path = _write(
        tmp_path, [HEADER.replace("時刻コード", "時刻"), *_jepx_rows("2035/04/02", range(1, 3))]
    )
    with pytest.raises(DataError, match="line 1: no column starting with '時刻コード'"):
        read_jepx_spot(path)
    rows = _jepx_rows("2035/04/02", range(1, 3)) + _jepx_rows("2035/04/02", range(2, 3))
    with pytest.raises(DataError, match="line 4: 2035-04-02 time code 2 appears twice"):
        read_jepx_spot(_write(tmp_path, [HEADER, *rows]))
    with pytest.raises(DataError, match="line 2: 3 columns"):
        read_jepx_spot(_write(tmp_path, [HEADER, "2035/04/02,1,5"]))
    with pytest.raises(DataError, match="unknown JEPX area 'osaka'"):
        read_jepx_spot(_write(tmp_path, [HEADER]), "osaka")


def test_prices_that_do_not_cover_the_run_are_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, [HEADER, *_jepx_rows("2035/04/02", range(1, 49))])
    index = pd.date_range("2035-04-03", periods=4, freq="15min", tz="Asia/Tokyo")
    with pytest.raises(DataError, match="the run needs"):
        align_prices(read_jepx_spot(path), index, str(path))


def test_price_csv_good_and_bad(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("time,price_per_kwh\n2035-04-02T00:00,20.5\n2035-04-02T00:30+09:00,21\n")
    series = read_price_csv(path, "Asia/Tokyo")
    assert list(series) == [20.5, 21.0]
    assert series.index[1] == pd.Timestamp("2035-04-02 00:30", tz="Asia/Tokyo")
    cases = {
        "time,price_per_kwh\n2035-04-02T00:00,x\n": "line 2, column 'price_per_kwh': 'x'",
        "time,price_per_kwh\n2035-04-02T00:00,1\nnot a time,2\n": "line 3, column 'time'",
        "time,price_per_kwh\n2035-04-02T01:00,1\n2035-04-02T00:00,2\n": "line 3, column 'time'",
        "when,price\n": "line 1: header must be 'time,price_per_kwh'",
        "time,price_per_kwh\n2035-04-02T00:00\n": "line 2: expected 2 columns",
    }
    for text, needle in cases.items():
        path.write_text(text)
        with pytest.raises(DataError) as err:
            read_price_csv(path, "Asia/Tokyo")
        assert needle in str(err.value), text


def _try_file() -> Path:
    import demandlib

    return Path(demandlib.__file__).parent / "vdi" / "resources_weather" / "TRY2010_02_Jahr.dat"


def test_dwd_try_reads_a_whole_year() -> None:
    frame = read_dwd_try(_try_file())
    assert len(frame) == 8760
    # Rostock: annual mean air temperature ~9 °C, mean GHI ~110 W/m² (~1,000 kWh/m² a year).
    assert 7.0 < frame["temp_air_c"].mean() < 11.0
    assert 900 < frame["ghi_w_m2"].sum() / 1000 < 1200
    assert np.all(frame["ghi_w_m2"] >= 0)
    assert 95_000 < frame["pressure_pa"].mean() < 105_000


def test_dwd_try_names_line_and_column_of_bad_value(tmp_path: Path) -> None:
    lines = _try_file().read_text(encoding="latin-1").splitlines()
    star = lines.index("***")
    fields = lines[star + 10].split()
    fields[8] = "warm"  # column t
    lines[star + 10] = " ".join(fields)
    bad = tmp_path / "TRY.dat"
    bad.write_text("\n".join(lines), encoding="latin-1")
    with pytest.raises(DataError, match=rf"line {star + 11}, column t: 'warm' is not a number"):
        read_dwd_try(bad)
    bad.write_text("\n".join(lines[: star + 1] + lines[star + 20 : star + 118]), encoding="latin-1")
    with pytest.raises(DataError, match="8760 hourly rows, found 98"):
        read_dwd_try(bad)


def test_scenario_prices_and_co2_from_each_source(tmp_path: Path, tiny_data: dict) -> None:
    from ersgrid.scenario import parse_scenario
    from ersgrid.world import build_world

    path = _write(tmp_path, [HEADER, *_jepx_rows("2035/04/02", range(1, 49))])
    tiny_data["prices"] = {"source": "jepx", "path": str(path), "area": "chubu",
                           "adder_per_kwh": 9.5}  # fmt: skip
    hourly = [0.5] * 7 + [0.3] * 10 + [0.5] * 7
    tiny_data["co2"] |= {"mode": "time_of_day", "hourly_kg_per_kwh": hourly}
    scenario = parse_scenario(tiny_data, "tiny-jepx")
    index = pd.date_range("2035-04-02", periods=96, freq="15min", tz="Asia/Tokyo")
    world = build_world(scenario, index)
    price = world.price_per_kwh
    assert price[3] == pytest.approx(10.2 + 0.5 * 3 + 9.5)  # code 2, chubu = 4th area
    co2 = world.co2_kg_per_kwh
    assert co2[4 * 6] == 0.5
    assert co2[4 * 7] == 0.3
    tiny_data["co2"]["mode"] = "mix"
    with pytest.raises(Exception, match="merit-order model"):
        parse_scenario(tiny_data, "bad")


def test_shin_tomei_co2_from_the_merit_order_mix() -> None:
    from ersgrid.scenario.loader import load_scenario
    from ersgrid.world import build_world

    scenario = load_scenario("shin-tomei")
    index = pd.date_range("2035-04-02", periods=96 * 7, freq="15min", tz="Asia/Tokyo")
    co2 = build_world(scenario, index).co2_kg_per_kwh
    assert 0.3 < co2.mean() < 0.55  # calibrated near the FY2022 factor 0.437 kg/kWh
    noon = index.hour == 12
    night = index.hour == 3
    assert co2[noon].mean() < co2[night].mean()  # PV displaces coal/LNG at midday
