"""The settings of ``mpc`` (:class:`MPCSettings`) and its named presets (:data:`MPC_PRESETS`).

A preset is chosen on the command line as ``--strategy mpc:<preset>`` (also
``mpc-decomposed:<preset>`` and ``mpc-expected:<preset>``); in Python,
``MPC("every-step")`` or ``MPC(dataclasses.replace(MPC_PRESETS["default"], horizon_steps=48))``.
Plain ``mpc`` takes ``default`` on a corridor of up to
:data:`DECOMPOSE_ABOVE_SUBSTATIONS` substations and ``large-corridor`` above.
"""

from __future__ import annotations

from dataclasses import dataclass

from ersgrid.control.guide import check_guide_quantile
from ersgrid.errors import StrategyError

__all__ = ["DECOMPOSE_ABOVE_SUBSTATIONS", "MPC_PRESETS", "MPCSettings", "mpc_preset"]

DECOMPOSE_ABOVE_SUBSTATIONS = 12
"""``mpc`` solves by substation groups above this many substations (shin-tomei's 6 and e20's
3 stay monolithic; xinjiang-g30's 26, where one LP takes over 30 s a step, are split)."""


@dataclass(frozen=True)
class MPCSettings:
    """How ``mpc`` plans: horizon, re-planning, cohorts, decomposition, guide and reserve.

    Attributes
    ----------
    horizon_steps : int [steps]
        Planning horizon (96 = 24 h of 15-min steps); cut at the end of the run.
    block_steps : int [steps]
        Steps between model rebuilds (each rebuild is a cold solve).
    replan_steps : int [steps]
        Steps between re-plans; in between, the last plan's steps are dispatched as planned.
        Hourly by default: over two shin-tomei weeks 0.5 % dearer than a re-plan every step
        in half the time, and on e20's week 0.1 % cheaper (docs/journal.md, Planner).
    soc_bins : int [-]
        Entry state-of-charge bins per class.
    entry_window_steps : int [steps]
        Consecutive entry steps merged into one cohort
        (:func:`~ersgrid.optimize.cohorts.coarsen_entry_steps`).
    time_limit_s : float [s]
        Per solve (per group solve when decomposed); a solve that exceeds it falls back to
        the safe schedule.
    decompose : bool or None
        Solve by substation groups (:class:`~ersgrid.optimize.decompose.DecomposedLP`);
        None: when the corridor has more than :data:`DECOMPOSE_ABOVE_SUBSTATIONS`.
    group_substations : int [-]
        Adjacent substations per group when decomposed.
    group_overlap : int [-]
        Substations each group shares with the next (lets energy move across a boundary in
        one group solve).
    max_sweeps : int [-]
        Most Gauss–Seidel sweeps over the groups per re-plan when decomposed.
    workers : int [-]
        0: the groups' sweeps run Gauss–Seidel in-process; ``n`` ≥ 1: Jacobi sweeps, the
        groups solved at once on a local Dask cluster of ``n`` one-thread workers
        (:class:`~ersgrid.optimize.parallel.DaskGroups`).
    guide_days : float [d]
        Longest guide plan under a demand charge with storage (0: none; never when
        decomposed). Past the learned forecasts' reach (2 days) the guide plans on the
        traffic model's calendar profile carried to its quantile.
    guide_every_steps : int [steps]
        Steps between guide plans.
    guide_block_steps : int [steps]
        Steps between builds of the guide's model. The model reaches as far as the last
        guide of the block needs, and each guide in between re-solves it warm from the
        previous guide's basis with its window moved (the traffic forecast of the build
        kept, as the short plans keep theirs within their block); at most
        ``guide_every_steps``: every guide builds and solves its own model cold.
    guide_soc_bins : int or None [-]
        Entry state-of-charge bins per class of the guide's cohorts (None: ``soc_bins``).
    guide_entry_window_steps : int or None [steps]
        Consecutive entry steps merged into one cohort of the guide (None:
        ``entry_window_steps``). The guide sets the batteries' path and the peak floor, not
        the vehicles' charge: on a shin-tomei week one bin and an hour's entries per cohort
        (an eighth of the guide's cohorts) cut the run's time by 36–48 % and realised
        0.65 % cheaper than the short plans' cohorts (docs/journal.md, Planner).
    guide_quantile : {"p10", "p50", "p90"} or float [-]
        Traffic the guide plans on: a learned quantile, or a weight ``w`` within 0 and 1 for
        P50 + ``w`` (P90 − P50). The peak is set by the heavy days, so the guide plans above
        the median.
    reserve_share : float [-]
        Under a demand charge, share of each battery's usable capacity the short plans keep
        stored at every step, for the EMS to cut peaks of traffic above the forecast.
    follow_guide : bool
        The short plans keep the guide's stored energy at every step, not only at their
        horizon's end.
    replan_tolerance : float [-]
        A due re-plan is skipped, and the plan in force dispatched, while the measurements
        match it: each battery's stored energy within this share of its usable capacity of
        the plan's, the vehicles that entered since the plan within this share of the
        plan's count and of their energy, and no higher demand-charge floor (0: never
        skipped).
    replan_at_least_steps : int [steps]
        With a ``replan_tolerance``, a re-plan is never skipped once the plan in force is
        this old.
    see_network : bool
        On a scenario with a grid section, the short plans keep the network's linearised
        voltages and loadings within their limits (:mod:`ersgrid.control.network`).
    keep_group_solvers : bool
        When decomposed, each group keeps its HiGHS instance between re-plans. Off by
        default: the groups, solved one after another, hold one instance at a time, each
        group's built again warm from its last basis at its next solve
        (:class:`~ersgrid.optimize.solver.HighsSession` ``resident``). On xinjiang-g30's day
        the process then peaked at 1.4 GB instead of 2.8 GB, for 15 % more run time
        (docs/journal.md, Planner).
    compact_lp : bool
        HiGHS holds only the short plans' columns not fixed at zero and the rows they touch
        (:class:`~ersgrid.optimize.solver.HighsSession` ``compact``): the same LP, smaller as
        the window leaves the model's first steps behind (monolithic only). Off by default:
        in the loop it changed the re-plans' CPU by −2 to −16 % on shin-tomei and by −8
        to +10 % on e20, and its plans of the same LP cost realised 0.17 % dearer on
        shin-tomei (docs/journal.md).
    """

    horizon_steps: int = 96
    block_steps: int = 96
    replan_steps: int = 4
    soc_bins: int = 2
    entry_window_steps: int = 1
    time_limit_s: float = 30.0
    decompose: bool | None = None
    group_substations: int = 6
    group_overlap: int = 2
    max_sweeps: int = 4
    workers: int = 0
    guide_days: float = 7.0
    guide_every_steps: int = 24
    guide_block_steps: int = 96
    guide_soc_bins: int | None = 1
    guide_entry_window_steps: int | None = 4
    guide_quantile: str | float = "p90"
    reserve_share: float = 0.25
    follow_guide: bool = True
    replan_tolerance: float = 0.0
    replan_at_least_steps: int = 4
    see_network: bool = True
    keep_group_solvers: bool = False
    compact_lp: bool = False

    def __post_init__(self) -> None:
        at_least_one = ("horizon_steps", "block_steps", "replan_steps", "soc_bins",
                        "entry_window_steps", "group_substations", "max_sweeps",
                        "guide_every_steps", "guide_block_steps",
                        "replan_at_least_steps")  # fmt: skip
        or_none = ("guide_soc_bins", "guide_entry_window_steps")  # None: the short plans'
        for name in at_least_one + or_none:
            value = getattr(self, name)
            if value is None and name in or_none:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                also = ", or none" if name in or_none else ""
                raise StrategyError(
                    f"mpc setting {name} = {value!r}: give a whole number >= 1{also}"
                )
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 0:
            raise StrategyError(
                f"mpc setting workers = {self.workers!r}: give 0 (in-process) or a whole number "
                "of Dask workers"
            )
        if not 0 <= self.group_overlap < self.group_substations:
            raise StrategyError(
                f"mpc setting group_overlap = {self.group_overlap!r}: give 0 to "
                f"group_substations - 1 ({self.group_substations - 1})"
            )
        if not self.time_limit_s > 0.0:
            raise StrategyError(f"mpc setting time_limit_s = {self.time_limit_s!r}: give > 0 s")
        if not self.guide_days >= 0.0:
            raise StrategyError(f"mpc setting guide_days = {self.guide_days!r}: give >= 0 d")
        if not 0.0 <= self.reserve_share < 1.0:
            raise StrategyError(
                f"mpc setting reserve_share = {self.reserve_share!r}: give a share in [0, 1)"
            )
        if not 0.0 <= self.replan_tolerance < 1.0:
            raise StrategyError(
                f"mpc setting replan_tolerance = {self.replan_tolerance!r}: give a share in [0, 1)"
            )
        try:
            check_guide_quantile(self.guide_quantile)
        except ValueError as err:
            raise StrategyError(f"mpc setting {err}") from None

    def decomposed(self, n_substations: int) -> bool:
        """Whether a corridor of ``n_substations`` is solved by substation groups."""
        if self.decompose is None:
            return n_substations > DECOMPOSE_ABOVE_SUBSTATIONS
        return self.decompose


MPC_PRESETS: dict[str, MPCSettings] = {
    "default": MPCSettings(),
    "large-corridor": MPCSettings(
        horizon_steps=48,
        block_steps=24,
        replan_steps=4,
        soc_bins=1,
        entry_window_steps=4,
        max_sweeps=2,
        decompose=True,
    ),
    "every-step": MPCSettings(replan_steps=1),
    "one-bin": MPCSettings(soc_bins=1),
}
"""Named settings of ``mpc``:

- ``default``: re-plans hourly over 24 h, rebuilt daily, two entry
  state-of-charge bins, a week's guide every 6 h on the P90 traffic (on one bin and cohorts
  of an hour's entries, its model built daily) and a 25 % reserve under a demand charge;
- ``large-corridor``: by substation groups, a 12-h horizon, a model rebuilt every 6 h (a
  72-step model instead of 192), hourly re-plans, one entry state-of-charge bin per class
  (half the cohorts; the plan then sees every vehicle at its class's mean entry energy,
  which understates the need of the emptiest ones), cohorts of an hour's entries (a quarter
  of the cohort columns and rows, each step's charging capacity kept) and at most two sweeps
  per re-plan (each starts from the last plan);
- ``every-step``: ``default`` re-planned every 15-min step: four times the re-plans, for
  runs where the plan counts more than time (on shin-tomei 0.2 % cheaper over a week and
  0.5 % over two, in twice the time; on e20's week 0.1 % dearer: docs/journal.md);
- ``one-bin``: ``default`` on one entry state-of-charge bin per class: half the cohorts and
  about half the re-plans' CPU; the vehicles on the road still enter with their measured
  energy, the forecast ones at their class's mean. As good on shin-tomei (1 and 2 days) and
  within 0.07 % on e20, but 2.2 % dearer with 1.3 % more unmet energy on freight-spot, whose
  trucks' need the mean understates (docs/journal.md).
"""


def mpc_preset(name: str) -> MPCSettings:
    """The preset called ``name``.

    Raises
    ------
    StrategyError
        If there is none; the message lists the presets.
    """
    try:
        return MPC_PRESETS[name]
    except KeyError:
        raise StrategyError(
            f"unknown mpc preset {name!r}; presets: {', '.join(MPC_PRESETS)}"
        ) from None
