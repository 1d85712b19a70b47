"""``tocsin worker`` says it is delivering only once SIGTERM stops it cleanly.

A supervisor or a script that waits for that line may stop the worker at once: the
smoke install does, and the worker's SIGTERM used to arrive before its handlers (exit
143, "killed", instead of 0).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


def test_a_worker_stopped_as_soon_as_it_says_delivering_exits_cleanly(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TOCSIN_COMMAND"}
    env |= {"TOCSIN_DATA": str(tmp_path / "data"), "NO_COLOR": "1", "COLUMNS": "200"}
    for attempt in range(3):  # the old worker died in some of them, not in all
        worker = subprocess.Popen(
            [sys.executable, "-m", "tocsin", "worker"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert worker.stdout is not None
        lines = []
        try:
            for line in worker.stdout:
                lines.append(line)
                if "delivering" in line:
                    worker.send_signal(signal.SIGTERM)  # at once, as a script would
                    break
            lines += worker.stdout.readlines()
            worker.wait(30)
        finally:
            worker.kill()
            worker.stdout.close()
        assert any("delivering" in line for line in lines), lines
        assert worker.returncode == 0, (attempt, worker.returncode, lines)
