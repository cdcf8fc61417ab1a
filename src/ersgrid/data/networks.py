"""pandapower networks: the built-ins and networks read from a pandapower JSON file."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from ersgrid.errors import DataError

__all__ = ["BUILTIN_NETWORKS", "load_network"]

BUILTIN_NETWORKS: dict[str, str] = {
    "cigre_mv": "CIGRE MV benchmark (Task Force C6.04.02), 20 kV, two feeders, no DER",
    "cigre_mv_der": "CIGRE MV benchmark with its 8 PV units and 1.5 MW wind unit",
}
"""Built-in networks by name, with what they are."""

_BUILT: dict[str, Any] = {}


def load_network(name: str) -> Any:
    """A fresh pandapower network: a built-in by name or a pandapower JSON file by path.

    Raises
    ------
    DataError
        If the file cannot be read or is not a pandapower network.
    """
    try:
        import pandapower as pp
        import pandapower.networks as pn
    except ModuleNotFoundError:
        raise DataError("the grid model needs pandapower: pip install 'ersgrid[grid]'") from None
    if name in BUILTIN_NETWORKS:
        # Building a benchmark takes pandapower ~1 s; keep one and hand out copies.
        if name not in _BUILT:
            der = "pv_wind" if name == "cigre_mv_der" else False
            _BUILT[name] = pn.create_cigre_network_mv(with_der=der)
        return copy.deepcopy(_BUILT[name])
    path = Path(name)
    if not path.is_file():
        raise DataError(
            f"grid.network: {name!r} is neither a built-in ({', '.join(BUILTIN_NETWORKS)}) nor "
            "an existing pandapower JSON file"
        )
    try:
        return pp.from_json(str(path))
    except Exception as err:  # pandapower raises many kinds on a bad file
        raise DataError(f"{path}: not a pandapower JSON network ({err})") from None
