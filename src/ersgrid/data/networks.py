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
"""Built-in networks by name, with what they are. Also ``simbench:<code>`` for any SimBench
grid shipped with the ``simbench`` package (e.g. ``simbench:1-MV-rural--0-sw``)."""

SIMBENCH_PREFIX = "simbench:"

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
    if name.startswith(SIMBENCH_PREFIX):
        if name not in _BUILT:
            _BUILT[name] = _simbench(name[len(SIMBENCH_PREFIX) :])
        return copy.deepcopy(_BUILT[name])
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


def _simbench(code: str) -> Any:
    """A SimBench grid by its code, from the data the ``simbench`` package ships."""
    try:
        import simbench as sb
    except ModuleNotFoundError:
        raise DataError(
            "SimBench grids need the simbench package: pip install 'ersgrid[grid]'"
        ) from None
    try:
        return sb.get_simbench_net(code)
    except Exception as err:  # simbench raises plain ValueError/KeyError on unknown codes
        raise DataError(
            f"grid.network: SimBench code {code!r} is not known to simbench ({err}); codes look "
            "like 1-MV-rural--0-sw"
        ) from None


def simbench_factors(name: str, element: str, indices: Any, rows: Any) -> Any:
    """SimBench profile of each element (``load`` or ``sgen``) of network ``name`` as a
    multiple of its own ``p_mw``, at the given rows of the 2016 profile year (15-min steps)."""
    import numpy as np
    import simbench as sb

    load_network(name)  # builds and caches the pristine network
    net = _BUILT[name]
    if name not in _PROFILES:
        _PROFILES[name] = sb.get_absolute_values(net, profiles_instead_of_study_cases=True)
    absolute = _PROFILES[name][(element, "p_mw")]
    frame = getattr(net, element)
    nominal = (frame["p_mw"] * frame["scaling"]).loc[indices].to_numpy(dtype=float)
    values = absolute[list(indices)].to_numpy(dtype=float)[rows]
    return np.divide(values, nominal, out=np.zeros_like(values), where=nominal != 0)


_PROFILES: dict[str, Any] = {}
