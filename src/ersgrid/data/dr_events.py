"""Read demand-response events from CSV.

Columns (header required): ``event_id, start, end`` and one of ``import_cap_kw`` or
``shed_kw``; optional ``substations`` (ids separated by ``;``) and ``opt_in`` (true/false).
Times are ISO 8601, local to the scenario unless they carry an offset.
"""

from __future__ import annotations

import csv
from pathlib import Path

from pydantic import ValidationError

from ersgrid.errors import DataError
from ersgrid.scenario.demand_response import DREventSpec

__all__ = ["read_dr_events"]

_REQUIRED = ("event_id", "start", "end")
_KNOWN = (*_REQUIRED, "import_cap_kw", "shed_kw", "substations", "opt_in", "source")


def read_dr_events(path: str | Path) -> list[DREventSpec]:
    """Parse a demand-response CSV file.

    Raises
    ------
    DataError
        Naming the file, line and column of the first problem.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read demand-response events: {err}") from None
    reader = csv.DictReader(text.splitlines())
    header = reader.fieldnames or []
    missing = [c for c in _REQUIRED if c not in header]
    if missing:
        raise DataError(f"{path}: line 1: missing column(s) {missing}; columns are {list(_KNOWN)}")
    unknown = [c for c in header if c not in _KNOWN]
    if unknown:
        raise DataError(f"{path}: line 1: unknown column(s) {unknown}; columns are {list(_KNOWN)}")
    events = []
    for line, row in enumerate(reader, start=2):
        data: dict[str, object] = {k: v.strip() for k, v in row.items() if k and v and v.strip()}
        if None in row:
            raise DataError(f"{path}: line {line}: more fields than columns in the header")
        if "substations" in data:
            data["substations"] = [s.strip() for s in str(data["substations"]).split(";")]
        if "opt_in" in data:
            flag = str(data["opt_in"]).lower()
            if flag not in ("true", "false", "1", "0", "yes", "no"):
                column = header.index("opt_in") + 1
                raise DataError(
                    f"{path}: line {line}, column {column} (opt_in): expected true or false, "
                    f"got {data['opt_in']!r}"
                )
            data["opt_in"] = flag in ("true", "1", "yes")
        try:
            events.append(DREventSpec.model_validate(data))
        except ValidationError as err:
            first = err.errors()[0]
            field = str(first["loc"][0]) if first["loc"] else ""
            where = f", column {header.index(field) + 1} ({field})" if field in header else ""
            message = first["msg"].removeprefix("Value error, ")
            raise DataError(f"{path}: line {line}{where}: {message}") from None
    return events
