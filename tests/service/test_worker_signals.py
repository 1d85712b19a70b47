"""``tocsin worker`` says it is delivering only once SIGTERM stops it cleanly.

A supervisor or a script that waits for that line may stop the worker at once: the
smoke install does, and the worker's SIGTERM used to arrive before its handlers (exit
143, "killed", instead of 0).
"""

from __future__ import annotations

import signal
from pathlib import Path

from service_support import service_env, start_worker


def test_a_worker_stopped_as_soon_as_it_says_delivering_exits_cleanly(tmp_path: Path) -> None:
    env = service_env(tmp_path / "data")
    for attempt in range(3):  # the old worker died in some of them, not in all
        worker = start_worker(env)
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
