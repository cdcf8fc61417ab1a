"""How fast the command line answers: ``--help``, ``COMMAND --help`` and ``scenarios``.

Goal: each under 1 s wall on a quiet machine. Each command runs as a fresh process
(``python -m ersgrid.cli ...``) several times; the script prints the median and the spread
(min-max) of the wall time and of the process's CPU time (user + system, from the kernel's
accounting: less sensitive than wall time to other processes sharing the cores), beside
``python -c pass`` as the floor that no command can beat. With ``--peer SRC`` the same
commands are timed, interleaved in the same run, on another checkout's ``src`` folder (e.g.
an older commit checked out with ``git worktree add``), so the two are compared under the
same load. ``--instructions`` adds one count of executed instructions per command under
valgrind's callgrind (slow: tens of times the run time), which does not depend on the load.

    python benchmarks/cli_startup.py [--repeats 7] [--peer /tmp/old/src] [--instructions]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

COMMANDS: dict[str, list[str]] = {
    "python -c pass (floor)": ["-c", "pass"],
    "ersgrid --help": ["-m", "ersgrid.cli", "--help"],
    "ersgrid run --help": ["-m", "ersgrid.cli", "run", "--help"],
    "ersgrid ledger verify --help": ["-m", "ersgrid.cli", "ledger", "verify", "--help"],
    "ersgrid scenarios": ["-m", "ersgrid.cli", "scenarios"],
}


def _env(src: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(src)
    env["COLUMNS"] = "100"
    return env


def _once(args: list[str], src: Path) -> tuple[float, float]:
    """(wall [s], CPU [s]) of one fresh process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, *args], env=_env(src), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"{args} failed ({proc.returncode}): {err[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime


def _instructions(args: list[str], src: Path) -> int | None:
    if shutil.which("valgrind") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        proc = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable,
             *args], env=_env(src), capture_output=True, text=True, check=False,
        )  # fmt: skip
        found = re.search(r"Collected : (\d+)", proc.stderr)
        return int(found.group(1)) if found else None


def _load() -> str:
    try:
        return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "load average unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--peer", type=Path, help="another checkout's src folder to compare")
    parser.add_argument("--instructions", action="store_true", help="count under callgrind")
    args = parser.parse_args()
    sides = {"this": SRC}
    if args.peer is not None:
        sides["peer"] = args.peer.resolve()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, python "
        f"{platform.python_version()}; {args.repeats} repeats per command; {_load()}"
    )
    for name, side_src in sides.items():
        print(f"{name}: {side_src}")
    for argv in COMMANDS.values():  # warm the file cache and the bytecode caches
        for side_src in sides.values():
            _once(argv, side_src)
    samples: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for _ in range(args.repeats):  # interleaved: both sides see the same load
        for label, argv in COMMANDS.items():
            for name, side_src in sides.items():
                samples.setdefault((label, name), []).append(_once(argv, side_src))
    print(f"after: {_load()}")
    head = f"{'command':30} {'side':5} {'wall median [s]':>15} {'(min-max)':>13}"
    print(head + f" {'CPU median [s]':>15} {'(min-max)':>13}" + ("  instructions" * bool(
        args.instructions)))  # fmt: skip
    for (label, name), runs in samples.items():
        wall = [w for w, _ in runs]
        cpu = [c for _, c in runs]
        line = (
            f"{label:30} {name:5} {statistics.median(wall):15.3f} "
            f"{f'({min(wall):.2f}-{max(wall):.2f})':>13} {statistics.median(cpu):15.3f} "
            f"{f'({min(cpu):.2f}-{max(cpu):.2f})':>13}"
        )
        if args.instructions:
            count = _instructions(COMMANDS[label], sides[name])
            line += f"  {count:,}" if count is not None else "  (no valgrind)"
        print(line, flush=True)
    goal = [
        (label, statistics.median(w for w, _ in runs))
        for (label, name), runs in samples.items()
        if name == "this" and label.startswith("ersgrid")
    ]
    worst = max(goal, key=lambda item: item[1])
    print(
        f"slowest of this side: {worst[0]}, median {worst[1]:.3f} s wall "
        f"(goal: under 1 s on a quiet machine)"
    )


if __name__ == "__main__":
    main()
