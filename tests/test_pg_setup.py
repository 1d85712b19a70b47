"""scripts/pg: the PostgreSQL that ./scripts/test gives the tests.

The machine's server is used when it answers; otherwise a private cluster is made on
loopback (initdb, trust auth, database `test`), on 5432 when free or else a free
port, and stop.sh takes it away again.  The private path is tried here against an
address where nothing answers, while the machine's server keeps running.
"""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest

from helpers import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts" / "pg"
MACHINE = os.environ.get("TOCSIN_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _env(state: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOCSIN_PG", "TOCSIN_TEST_PG"))}
    return {**env, "TOCSIN_PG_DIR": str(state), **extra}


def _run(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPTS / script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _values(output: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in output.splitlines() if "=" in line)


def _answers(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_the_machines_server_is_used_when_it_answers(tmp_path: Path) -> None:
    done = _run("ensure.sh", _env(tmp_path / "pg", TOCSIN_PG_MACHINE_URL=MACHINE))
    assert done.returncode == 0, done.stderr
    assert _values(done.stdout) == {"TOCSIN_TEST_PG_URL": MACHINE, "TOCSIN_PG_STARTED": "0"}
    assert not (tmp_path / "pg").exists()  # nothing was started


def test_a_private_cluster_when_nothing_answers() -> None:
    # Under /tmp itself: as root the server runs as the postgres user, who cannot enter
    # pytest's private tmp_path.
    state = Path("/tmp") / f"tocsin-pg-test-{uuid.uuid4().hex[:12]}"
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/test"
    env = _env(state, TOCSIN_PG_MACHINE_URL=nowhere)
    done = _run("ensure.sh", env)
    try:
        assert done.returncode == 0, done.stderr
        found = _values(done.stdout)
        assert found["TOCSIN_PG_STARTED"] == "1"
        url = found["TOCSIN_TEST_PG_URL"]
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        assert url == f"postgresql://postgres@127.0.0.1:{port}/test"
        assert port != int(MACHINE.rsplit(":", 1)[1].split("/")[0])  # 5432 was taken
        with psycopg.connect(url, autocommit=True) as conn:  # trust: no password
            conn.execute("CREATE TABLE probe (n int)")
            conn.execute("INSERT INTO probe VALUES (1)")
            assert conn.execute("SELECT inet_server_addr()::text").fetchone() == ("127.0.0.1/32",)
        # A database that is missing on a server that answers is created.
        other = url.replace("/test", "/other")
        again = _run("ensure.sh", _env(state, TOCSIN_TEST_PG_URL=other))
        assert again.returncode == 0, again.stderr
        assert _values(again.stdout) == {"TOCSIN_TEST_PG_URL": other, "TOCSIN_PG_STARTED": "0"}
        psycopg.connect(other).close()
    finally:
        stopped = _run("stop.sh", env)
    assert stopped.returncode == 0, stopped.stderr
    assert not _answers(port)
    assert not state.exists()


def test_a_given_url_that_does_not_answer_is_an_error(tmp_path: Path) -> None:
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/test"
    done = _run("ensure.sh", _env(tmp_path / "pg", TOCSIN_TEST_PG_URL=nowhere))
    assert done.returncode == 1
    assert f"TOCSIN_TEST_PG_URL={nowhere} does not answer" in done.stderr
    assert not (tmp_path / "pg").exists()


def test_missing_binaries_without_install_say_what_to_install(tmp_path: Path) -> None:
    env = _env(tmp_path / "pg", TOCSIN_PG_BINDIR=str(tmp_path / "none"), TOCSIN_PG_INSTALL="no")
    done = _run("start.sh", env)
    assert done.returncode == 1
    assert "no PostgreSQL server binaries (initdb) found" in done.stderr
    assert "apt-get install postgresql" in done.stderr


def test_missing_postgresql_is_installed_from_debian() -> None:
    """No server binaries: apt-get installs `postgresql`, then the cluster starts.

    apt-get is a stand-in on the PATH that records its arguments and "installs" by
    linking the machine's binaries where Debian's package puts them; the rest (initdb,
    the server, the database) is real.
    """
    if os.geteuid() != 0:
        pytest.fail("installing packages needs root; run the tests as root")
    real = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))[-1].parent
    base = Path("/tmp") / f"tocsin-pg-test-{uuid.uuid4().hex[:12]}"
    search, fakebin, state = base / "lib", base / "fakebin", base / "state"
    fakebin.mkdir(parents=True)
    search.mkdir()
    apt = fakebin / "apt-get"
    apt.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {base}/apt.log\n'
        'case "$*" in *" install "*postgresql*)\n'
        f"  mkdir -p {search}/15 && ln -s {real} {search}/15/bin ;;\n"
        "esac\n"
    )
    apt.chmod(0o755)
    env = _env(
        state,
        TOCSIN_PG_SEARCH=str(search),
        TOCSIN_PG_CLUSTER_CONF=str(base / "etc" / "createcluster.conf"),
        PATH=f"{fakebin}:{os.environ['PATH']}",
        TOCSIN_PG_MACHINE_URL=f"postgresql://postgres@127.0.0.1:{free_port()}/test",
    )
    try:
        done = _run("ensure.sh", env)
        assert done.returncode == 0, done.stderr
        assert "installing Debian's postgresql" in done.stderr
        # The package is told not to make and start a cluster of its own on 5432.
        conf = (base / "etc" / "createcluster.conf").read_text()
        assert conf == "create_main_cluster = false\n"
        calls = (base / "apt.log").read_text().splitlines()
        assert any(c.endswith("update -qq") for c in calls), calls
        assert any(c.endswith("install -y -qq --no-install-recommends postgresql") for c in calls)
        found = _values(done.stdout)
        assert found["TOCSIN_PG_STARTED"] == "1"
        with psycopg.connect(found["TOCSIN_TEST_PG_URL"]) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("test",)
    finally:
        stopped = _run("stop.sh", env)
        subprocess.run(["rm", "-rf", str(base)], check=False, timeout=60)
    assert stopped.returncode == 0, stopped.stderr
