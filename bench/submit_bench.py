"""``services.events.submit()`` alone, in process: warm (back to back) and cold (issue 11).

The alarm-path bench's server spends about 1 ms more CPU per lone event in its intake
worker thread than ``submit()`` costs when timed in a loop.  This measures the same
call both ways, in one process with no server, no event loop and no other thread::

    .venv/bin/python bench/submit_bench.py                  # 300 events each way
    .venv/bin/python bench/submit_bench.py --gap 0.05 --runs 3

- ``back to back``: one event after the other, as a loop timing ``submit()`` does;
- ``with gaps``: ``--gap`` seconds of sleep before each event, as the bench's lone
  events arrive (50 ms apart): while the process sleeps, other work on the machine
  takes the CPU's caches, and the next event runs cold.

Each figure is the calling thread's CPU time (user + system, ``time.thread_time``)
per event, the median of ``--runs`` alternating runs.  One site, one group, one user
(the alarm-path bench's): every event gives one single-recipient email, queued in the
outbox (no delivery runs here).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))


def run(services: object, count: int, gap: float, tag: str) -> float:
    """CPU ms per event of ``count`` submits, ``gap`` seconds of sleep before each."""
    from alarm_path_bench import event

    from tocsin.services.inputs import decode_json

    submit = services.events.submit  # type: ignore[attr-defined]
    spent = 0
    for i in range(count):
        body = json.dumps(event(tag, i)).encode()
        if gap:
            time.sleep(gap)
        began = time.thread_time_ns()
        submit(decode_json(body))  # as the route does: decode, check, store, render
        spent += time.thread_time_ns() - began
    return spent / count / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=300, help="events per run")
    parser.add_argument("--gap", type=float, default=0.03, help="seconds before each cold event")
    parser.add_argument("--runs", type=int, default=2, help="runs of each way, alternating")
    args = parser.parse_args()
    from alarm_path_bench import prepare

    from tocsin.services.context import Services

    work = Path(tempfile.mkdtemp(prefix="tocsin-submit-bench-"))
    try:
        prepare(work / "data", "", 2525)  # no mail is sent: the port is never used
        services = Services.open(work / "data")
        try:
            run(services, 30, 0.0, "warm-up")  # imports, templates, caches
            warm, cold = [], []
            for r in range(args.runs):
                warm.append(run(services, args.events, 0.0, f"w{r}"))
                cold.append(run(services, args.events, args.gap, f"c{r}"))
        finally:
            services.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"submit() CPU per single-recipient event, {args.events} events, median of {args.runs}")
    print(f"  back to back:        {statistics.median(warm):.3f} ms  {[round(w, 3) for w in warm]}")
    print(
        f"  with {args.gap * 1e3:.0f} ms gaps:    {statistics.median(cold):.3f} ms  "
        f"{[round(c, 3) for c in cold]}"
    )


if __name__ == "__main__":
    main()
