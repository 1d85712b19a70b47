"""How long a ``tocsin`` command takes from start to exit: help pages and quick commands.

Each command runs ``--runs`` times as a user runs it (``python -m tocsin``, a fresh
interpreter each time, ``.pyc`` files warm) after one warm-up run; the table shows the
median and the fastest wall time per command, and the interpreter alone for scale::

    .venv/bin/python bench/cli_startup_bench.py              # this checkout
    .venv/bin/python bench/cli_startup_bench.py --src OTHER/src --runs 20

``--src`` puts another checkout's ``src`` first on the path (``PYTHONPATH``), to
compare two versions with the same interpreter and libraries.  The data directory
commands run on one made for the run (``tocsin settings show`` makes it on the
warm-up), and on one with a group and a user.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HELP = [["--help"], ["settings", "--help"], ["settings", "show", "--help"], ["event", "--help"]]
DATA = [["settings", "show"], ["user", "list"], ["group", "list"]]


def timed(args: list[str], env: dict[str, str], cwd: Path) -> float:
    """Wall seconds of one run; a failing run stops the bench."""
    started = time.perf_counter()
    done = subprocess.run(
        args, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr.decode()}")
    return elapsed


def measure(args: list[str], runs: int, env: dict[str, str], cwd: Path) -> tuple[float, float]:
    timed(args, env, cwd)  # warm-up: .pyc files, the page cache, a first data directory
    times = [timed(args, env, cwd) for _ in range(runs)]
    return statistics.median(times), min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--src", type=Path, help="another checkout's src directory")
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tocsin-cli-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    env |= {"COLUMNS": "100", "TOCSIN_DATA": str(work / "data")}
    if options.src is not None:
        env["PYTHONPATH"] = str(options.src.resolve())
    tocsin = [sys.executable, "-m", "tocsin"]
    try:
        rows = [
            ("python -c pass", *measure([sys.executable, "-c", "pass"], options.runs, env, work))
        ]
        for args in HELP + DATA[:1]:
            rows.append(
                (f"tocsin {' '.join(args)}", *measure(tocsin + args, options.runs, env, work))
            )
        timed([*tocsin, "group", "add", "site", "--name", "Site"], env, work)
        add_user = ["user", "add", "ann", "--name", "Ann", "--email", "ann@example.com"]
        timed([*tocsin, *add_user, "--group", "site", "--category", "fire"], env, work)
        for args in DATA[1:]:
            rows.append(
                (f"tocsin {' '.join(args)}", *measure(tocsin + args, options.runs, env, work))
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'command':<32} {'median':>9} {'fastest':>9}   ({options.runs} runs)")
    for name, median, fastest in rows:
        print(f"{name:<32} {median * 1000:7.0f} ms {fastest * 1000:7.0f} ms")


if __name__ == "__main__":
    main()
