"""The base of every scenario section: unknown keys are errors, numbers are finite."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["SpecModel"]


class SpecModel(BaseModel):
    """A section of a scenario.

    Unknown keys are refused (a typo is an error, not a silently ignored setting), assignments
    are validated, and no number may be infinite or NaN: a rating, a volume or a price that
    cannot be simulated is an error naming its field.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)
