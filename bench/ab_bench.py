"""This checkout against an earlier revision, both loaded in one process, in turns (issue 11).

On this machine kind the same code runs 20-40 % slower in one minute than in the
next (other virtual machines on the host), so two benchmark runs, one after the other,
cannot tell a 5 % change from the noise.  This loads the earlier revision's
``tocsin`` and this checkout's side by side in one process, and alternates between
them round by round: whatever the machine does, it does to both.  The table gives
each side's figures and the median of the per-round ratios (with its quartiles)::

    .venv/bin/python bench/ab_bench.py --base HEAD~3     # against three commits back
    .venv/bin/python bench/ab_bench.py --base 88568e6 --rounds 80

Measures, all in process (no server, no delivery):

- ``submit()`` of a request of ``--batch`` single-recipient events (as the burst's
  POSTs): the calling thread's CPU time and the wall time, per event;
- ``submit()`` of one event (as the lone shape's POSTs), the same two figures;
- rendering one alarm email (``EmailRenderer.alarm``): the fastest of 3 × 300 calls.

The base revision's ``src`` comes from ``git archive`` into a temporary directory;
each side gets a data directory of its own, set up as ``alarm_path_bench.py`` sets up
its server (one site, one group, one user).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import alarm_path_bench as apb  # noqa: E402  (bench/ is not a package)
from revisions import source_of  # noqa: E402

sys.path.remove(str(REPO / "src"))  # alarm_path_bench puts this checkout first: not here

Measure = Callable[[int], tuple[float, float]]
"""One round of a measure: (CPU µs, wall µs) per event, or per email for a render."""


class Side:
    """One revision's ``tocsin``, loaded and set up; its measures as closures."""

    def __init__(self, name: str, src: Path, work: Path, batch: int) -> None:
        self.name = name
        for module in [m for m in sys.modules if m == "tocsin" or m.startswith("tocsin.")]:
            del sys.modules[module]  # the other side's modules stay alive through its objects
        sys.path.insert(0, str(src))
        try:
            from tocsin.alarm_email import EmailRenderer
            from tocsin.services.context import Services
            from tocsin.services.inputs import decode_json

            data = work / name
            apb.prepare(data, "", 2525)  # no mail is sent: the port is never used
            self.services = Services.open(data)
            self.loaded_from = Path(sys.modules["tocsin"].__file__ or "").parent
        finally:
            sys.path.remove(str(src))
        submit = self.services.events.submit
        captured: dict[str, Any] = {}
        render = EmailRenderer.alarm

        def spy(renderer: Any, event: Any, user: Any, **kw: Any) -> Any:
            captured.setdefault("call", (renderer, event, user, kw))
            return render(renderer, event, user, **kw)

        EmailRenderer.alarm = spy  # type: ignore[method-assign]
        try:
            submit(decode_json(json.dumps(apb.event(f"{name}-setup", 0)).encode()))
        finally:
            EmailRenderer.alarm = render  # type: ignore[method-assign]
        renderer, event, user, kw = captured["call"]

        def requests(size: int) -> Measure:
            def measure(round_: int) -> tuple[float, float]:
                events = [apb.event(f"{name}-{size}-{round_}", i) for i in range(size)]
                body = json.dumps({"events": events} if size > 1 else events[0]).encode()
                cpu, wall = time.thread_time_ns(), time.perf_counter_ns()
                submit(decode_json(body))  # as the route does: decode, check, store, render
                cpu, wall = time.thread_time_ns() - cpu, time.perf_counter_ns() - wall
                return cpu / size / 1e3, wall / size / 1e3

            return measure

        def rendering(_round: int) -> tuple[float, float]:
            best = min(
                timeit.repeat(lambda: render(renderer, event, user, **kw), number=300, repeat=3)
            )
            return best / 300 * 1e6, best / 300 * 1e6

        self.measures: dict[str, Measure] = {
            f"submit(), requests of {batch} events": requests(batch),
            "submit(), one event": requests(1),
            "render one alarm email (fastest of 3 × 300)": rendering,
        }


def quartiles(values: list[float]) -> tuple[float, float, float]:
    q1, q2, q3 = statistics.quantiles(values, n=4)
    return q1, q2, q3


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", required=True, help="the git revision to compare against")
    parser.add_argument("--rounds", type=int, default=40, help="rounds of each measure (≥ 4)")
    parser.add_argument("--batch", type=int, default=100, help="events per request")
    args = parser.parse_args()
    if args.rounds < 4 or not 1 < args.batch <= 1000:
        raise SystemExit("--rounds must be at least 4, --batch between 2 and 1000")
    work = Path(tempfile.mkdtemp(prefix="tocsin-ab-bench-"))
    try:
        base = Side("base", source_of(args.base, work), work, args.batch)
        this = Side("this", REPO / "src", work, args.batch)
        print(f"base {args.base}: {base.loaded_from}\nthis checkout: {this.loaded_from}")
        print(f"{args.rounds} rounds of each measure, the two sides in turns\n")
        rows = []
        for name in base.measures:
            for r in range(3):  # warm up both: imports, templates, caches
                base.measures[name](-1 - r)
                this.measures[name](-1 - r)
            got: dict[str, list[tuple[float, float]]] = {"base": [], "this": []}
            for r in range(args.rounds):
                first, second = (base, this) if r % 2 == 0 else (this, base)
                got[first.name].append(first.measures[name](r))
                got[second.name].append(second.measures[name](r))
            for kind, index in (("CPU", 0), ("wall", 1)):
                if name.startswith("render") and kind == "wall":
                    continue  # the same figure
                b = [x[index] for x in got["base"]]
                t = [x[index] for x in got["this"]]
                ratio = quartiles([y / x for x, y in zip(b, t, strict=True)])
                rows.append(
                    (f"{name}, {kind} µs", statistics.median(b), statistics.median(t), ratio)
                )
        print("| measure | base (median) | this (median) | this / base: per round (quartiles) |")
        print("|---|--:|--:|--:|")
        for label, b_med, t_med, (q1, q2, q3) in rows:
            print(f"| {label} | {b_med:.1f} | {t_med:.1f} | {q2:.2f} ({q1:.2f}–{q3:.2f}) |")
        base.services.close()
        this.services.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
