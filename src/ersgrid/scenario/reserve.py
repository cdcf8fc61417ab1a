"""Scenario sections for system frequency and the frequency-reserve product the road offers."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from ersgrid.scenario.base import SpecModel

__all__ = ["RESERVE_PRESETS", "DisturbanceSpec", "FrequencySpec", "ReserveSpec"]


RESERVE_PRESETS: dict[str, dict[str, Any]] = {
    # Continental Europe FCR, SO GL Annex V: full activation within 30 s at ±200 mHz,
    # deadband plus insensitivity at most 10 mHz, sustained at least 15 min (LER rule).
    "fcr-ce": {
        "full_activation_mhz": 200.0,
        "deadband_mhz": 10.0,
        "activation_time_s": 30.0,
        "sustain_s": 900.0,
        "source": "SO GL Annex V (Continental Europe FCR)",
    },
    # Japan, balancing market primary reserve (一次調整力): response within 10 s, sustained
    # at least 5 min; droop over the ±0.2 Hz operating band [W/V eprx]; deadband [U].
    "jp-primary": {
        "full_activation_mhz": 200.0,
        "deadband_mhz": 10.0,
        "activation_time_s": 10.0,
        "sustain_s": 300.0,
        "source": "EPRX primary reserve (一次調整力) product rules",
    },
    # Nordic FCR-N: linear over ±100 mHz with no deadband; 63 % within 60 s and full
    # activation within 3 min; a continuous product [V/W ENTSO-E Nordic, Fingrid/Svk].
    "fcr-n": {
        "full_activation_mhz": 100.0,
        "deadband_mhz": 0.0,
        "activation_time_s": 180.0,
        "sustain_s": 3600.0,
        "source": "Nordic FCR-N (Svenska kraftnät / Fingrid technical requirements)",
    },
}


class DisturbanceSpec(SpecModel):
    """A sudden power imbalance in the synchronous area (e.g. a generator trip)."""

    name: str = Field(description="Label of the disturbance.")
    time_s: Annotated[float, Field(ge=0.0)] = Field(
        default=10.0, description="Time of the imbalance after the study starts [s]."
    )
    delta_mw: float = Field(
        description="Generation lost [MW]; positive makes frequency fall, negative rise."
    )


class FrequencySpec(SpecModel):
    """Aggregate swing-equation model of the synchronous area the road belongs to."""

    nominal_hz: Literal[50, 60] = Field(default=50, description="Nominal frequency [Hz].")
    system_mw: Annotated[float, Field(gt=0.0)] = Field(
        default=30_000.0, description="Load of the synchronous area, the per-unit base [MW]."
    )
    inertia_s: Annotated[float, Field(gt=0.0, le=20.0)] = Field(
        default=4.0, description="Inertia constant H of the area on its base [s]."
    )
    load_damping_pu: Annotated[float, Field(ge=0.0, le=5.0)] = Field(
        default=1.0, description="Load change per frequency change, per unit (D) [-]."
    )
    governor_droop_pu: Annotated[float, Field(gt=0.0, le=0.2)] = Field(
        default=0.05, description="Droop of the governors that respond (R) [-]."
    )
    governor_share: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        default=0.2, description="Share of the area's base on primary governor response [-]."
    )
    governor_time_s: Annotated[float, Field(gt=0.0, le=60.0)] = Field(
        default=6.0, description="Time constant of governor and turbine response [s]."
    )
    step_s: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        default=0.1, description="Step of the frequency model [s]."
    )
    duration_s: Annotated[float, Field(gt=0.0, le=3600.0)] = Field(
        default=600.0, description="Length of each disturbance study [s]."
    )
    disturbances: list[DisturbanceSpec] = Field(
        default_factory=lambda: [
            DisturbanceSpec(name="large unit trip", delta_mw=1000.0),
            DisturbanceSpec(name="medium unit trip", delta_mw=500.0),
            DisturbanceSpec(name="load rejection", delta_mw=-600.0),
        ],
        description="The built-in test set of disturbances.",
    )
    source: str = Field(default="", description="Where the area's figures come from.")


class ReserveSpec(SpecModel):
    """The symmetric frequency reserve the road offers (droop with deadband)."""

    product: Literal["fcr-ce", "fcr-n", "jp-primary", "custom"] = Field(
        default="fcr-ce", description="Product preset; its rules fill fields not given."
    )
    full_activation_mhz: Annotated[float, Field(gt=0.0, le=1000.0)] = Field(
        default=200.0, description="Frequency deviation of full activation [mHz]."
    )
    deadband_mhz: Annotated[float, Field(ge=0.0, le=100.0)] = Field(
        default=10.0, description="Deadband around nominal with no response [mHz]."
    )
    activation_time_s: Annotated[float, Field(gt=0.0, le=900.0)] = Field(
        default=30.0, description="Time allowed to reach the required response [s]."
    )
    sustain_s: Annotated[float, Field(gt=0.0)] = Field(
        default=900.0, description="Time the response must be sustained [s]."
    )
    offer_share: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        default=0.5, description="Share of the road's symmetric headroom offered as reserve [-]."
    )
    capacity_price_per_mw_h: Annotated[float, Field(ge=0.0)] = Field(
        default=0.0, description="Capacity price of the product [currency/(MW·h)]."
    )
    measurement_delay_s: Annotated[float, Field(ge=0.0, le=5.0)] = Field(
        default=0.2, description="Frequency measurement and signalling delay [s]."
    )
    response_time_constant_s: Annotated[float, Field(gt=0.0, le=30.0)] = Field(
        default=0.5, description="Time constant of the segments' power-electronic response [s]."
    )
    aggregation_factor: Annotated[float, Field(ge=1.0, le=10_000.0)] = Field(
        default=1.0,
        description="Corridors like this one pooled by the aggregator in the study [-].",
    )
    source: str = Field(default="", description="Where the product rules come from.")

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data: Any) -> Any:
        if isinstance(data, dict):
            preset = RESERVE_PRESETS.get(str(data.get("product", "fcr-ce")), {})
            return {**preset, **data}
        return data

    @model_validator(mode="after")
    def _band(self) -> ReserveSpec:
        if self.deadband_mhz >= self.full_activation_mhz:
            raise ValueError("deadband_mhz must be below full_activation_mhz")
        return self
