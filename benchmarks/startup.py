"""Start-up benchmark: what a command costs before it does anything, and where it goes.

Runs each command as a user types it, --runs times, and prints its best and median wall
time: ``relorch --version``, ``relorch --list`` (target: within 0.3 s), ``relorch
inventory.check`` on the sandbox inventory (target: within 0.5 s) and ``invoke --list``
from this checkout. Then it imports the task collection under ``python -X importtime``
--runs times and prints, by package, the fastest self time seen: what the task list pays
for, Invoke's and the tool's own modules included.

    python benchmarks/startup.py [--runs 10]
"""

from __future__ import annotations

import argparse
import collections
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
INVENTORY = ROOT / "inventory" / "sandbox.yaml"
_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)")


def commands() -> dict[str, list[str]]:
    """What is timed, by the name it is printed under."""
    return {
        "relorch --version": [str(BIN / "relorch"), "--version"],
        "relorch --list": [str(BIN / "relorch"), "--list"],
        "relorch inventory.check": [
            str(BIN / "relorch"), "inventory.check", "--inventory", str(INVENTORY),
        ],
        "invoke --list": [str(BIN / "invoke"), "-r", str(ROOT), "--list"],
    }  # fmt: skip


def wall_times(command: list[str], runs: int) -> list[float]:
    """The wall time of ``command`` in seconds, once per run; it must succeed."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
        times.append(time.perf_counter() - started)
    return times


def import_costs(runs: int) -> dict[str, float]:
    """The fastest self time seen per imported package (ms), importing the task collection."""
    best: dict[str, int] = {}
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import orchestrator.cli"],
            check=True, capture_output=True, text=True, cwd=ROOT,
        )  # fmt: skip
        for match in _IMPORT_LINE.finditer(done.stderr):
            microseconds, module = int(match[1]), match[2]
            best[module] = min(best.get(module, microseconds), microseconds)
    by_package: collections.Counter[str] = collections.Counter()
    for module, microseconds in best.items():
        parts = module.split(".")
        package = ".".join(parts[:2]) if parts[0] == "orchestrator" else parts[0]
        by_package[package] += microseconds
    return {package: total / 1000 for package, total in by_package.most_common()}


def main() -> None:
    """Time the commands, then break the task list's imports down by package."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--top", type=int, default=15, help="packages shown in the breakdown")
    args = parser.parse_args()
    print(f"{'command':26} {'best':>7} {'median':>7}   ({args.runs} runs)")
    for name, command in commands().items():
        times = wall_times(command, args.runs)
        print(f"{name:26} {min(times):6.2f}s {statistics.median(times):6.2f}s")
    costs = import_costs(args.runs)
    own = sum(ms for package, ms in costs.items() if package.startswith("orchestrator"))
    print(f"\nimporting the task collection: {sum(costs.values()):.0f} ms of imports, "
          f"{own:.0f} ms of it the tool's own modules (fastest self time per module)")  # fmt: skip
    for package, ms in list(costs.items())[: args.top]:
        print(f"  {ms:6.1f} ms  {package}")


if __name__ == "__main__":
    main()
