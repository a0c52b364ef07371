"""Getting a dask client safely (engine/batch/cluster.py) and cluster strings that cannot reach the
shell (engine/batch/config.py): bad addresses fail at once, anything that is not a dask scheduler
fails within the timeout, SLURM's scheduler binds to one address with TLS and no dashboard.
Only loopback addresses are used."""

import operator
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import distributed  # noqa: F401 - imported once here, before the connection tests
import pytest

import engine.batch.cluster as cluster_mod
from engine.batch.cluster import (
    ClusterConnection,
    connect,
    parse_scheduler_address,
    slurm_cluster,
    submit_host_address,
)
from engine.batch.config import ConfigError, parse_config

ROOT = Path(__file__).resolve().parents[2]
SLURM_PORTS = (6817, 6818)


# --- addresses ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "given, normalised",
    [
        ("tcp://127.0.0.1:8786", "tcp://127.0.0.1:8786"),
        ("127.0.0.1:8786", "tcp://127.0.0.1:8786"),
        ("TLS://scheduler.example.org:8786", "tls://scheduler.example.org:8786"),
        ("[::1]:8786", "tcp://[::1]:8786"),
        ("tls://[::1]:1", "tls://[::1]:1"),
        ("node-01:65535", "tcp://node-01:65535"),
    ],
)
def test_valid_scheduler_addresses_are_normalised(given, normalised):
    assert parse_scheduler_address(given) == normalised


@pytest.mark.parametrize(
    "given, says",
    [
        ("localhost", "missing port"),
        ("tcp://127.0.0.1", "missing port"),
        ("127.0.0.1:99999", "out of range"),
        ("127.0.0.1:0", "out of range"),
        ("host:http", "not a number"),
        ("inproc://127.0.0.1/1/2", "unknown protocol"),
        ("ucx://127.0.0.1:8786", "unknown protocol"),
        ("http://127.0.0.1:8787", "web address"),
        ("::1:8786", "brackets"),
        ("[not-ipv6]:8786", "not an IPv6 address"),
        ("tcp://127.0.0.1:8786\n", "control characters"),
        ("tcp://127.0.0.1 :8786", "spaces"),
        ("tcp://127.0.0.1:8786/status", "only host:port"),
        ("tcp://:8786", "missing host"),
        ("0.0.0.0:8786", "all interfaces"),
        ("bad_host!:8786", "not a host name"),
        ("", "empty"),
    ],
)
def test_malformed_scheduler_addresses_fail_at_once_naming_the_option(given, says, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("a malformed address must be refused before any connection")

    monkeypatch.setattr(cluster_mod, "_probe_scheduler", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    with pytest.raises(ConfigError) as err:
        parse_scheduler_address(given)
    message = str(err.value)
    assert message.startswith(f"--scheduler {given!r}: ") and says in message
    assert "\n" not in message
    # connect checks the text before contacting anything
    with pytest.raises(ConfigError, match="^--scheduler"):
        connect(parse_config({}), given, timeout_s=60)


# --- things that are not a dask scheduler -------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Listener:
    """A TCP server on 127.0.0.1 that accepts, sends `greeting` and keeps the connection."""

    def __init__(self, greeting: bytes):
        self.greeting = greeting
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted.append(conn)
            if self.greeting:
                try:
                    conn.sendall(self.greeting)
                except OSError:
                    pass

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=5)
        for conn in self.accepted:
            conn.close()
        self.sock.close()


TIMEOUT_S = 2.0


def _returns(call, limit_s: float = TIMEOUT_S + 60):
    """Run `call` in a thread; what it raised or returned. Fails if it is still running after
    `limit_s` (a hang, not a speed: the bound is generous)."""
    outcome = {}

    def target():
        try:
            outcome["value"] = call()
        except BaseException as err:  # noqa: BLE001 - handed to the test
            outcome["error"] = err

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(limit_s)
    assert not worker.is_alive(), "the connection attempt hung instead of giving up"
    return outcome


def _refused_within_timeout(address: str) -> str:
    outcome = _returns(
        lambda: connect(parse_config({}), address, timeout_s=TIMEOUT_S, say=lambda msg: None)
    )
    err = outcome.get("error")
    assert isinstance(err, ConfigError), outcome
    message = str(err)
    assert message.startswith("--scheduler tcp://127.0.0.1:") and "\n" not in message
    return message


def test_a_closed_port_fails_within_the_timeout():
    message = _refused_within_timeout(f"127.0.0.1:{_free_port()}")
    assert "no dask scheduler answered within 2 s (connection refused)" in message


def test_a_listener_that_speaks_http_is_not_a_scheduler():
    with _Listener(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n") as server:
        message = _refused_within_timeout(f"tcp://127.0.0.1:{server.port}")
    assert "not a dask scheduler" in message


def test_a_listener_that_says_nothing_fails_within_the_timeout():
    with _Listener(b"") as server:
        message = _refused_within_timeout(f"tcp://127.0.0.1:{server.port}")
        assert server.accepted, "the probe never connected"
    assert "did not answer as a dask scheduler within 2 s" in message


def test_a_worker_address_is_not_a_scheduler_and_a_scheduler_connects():
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    ) as cluster:
        said = []
        with connect(
            parse_config({}), cluster.scheduler_address, timeout_s=10, say=said.append
        ) as connection:
            assert connection.kind == "scheduler" and not connection.local
            assert connection.scheduler_address == cluster.scheduler_address
            assert connection.client.submit(operator.add, 1, 2).result(timeout=30) == 3
        assert connection.client.status == "closed"
        assert said and cluster.scheduler_address in said[0]
        connection.close()  # twice is harmless
        worker = next(iter(cluster.scheduler_info["workers"]))
        with pytest.raises(ConfigError, match="that is a dask Worker, not a dask scheduler"):
            connect(parse_config({}), worker, timeout_s=TIMEOUT_S)


def test_tls_scheduler_with_certificates_from_dask_config(tmp_path):
    pytest.importorskip("cryptography")
    import dask
    from distributed import LocalCluster
    from distributed.security import Security

    ours = Security.temporary()
    for name, pem in [
        ("ca.pem", ours.tls_ca_file),
        ("cert.pem", ours.tls_client_cert),
        ("key.pem", ours.tls_client_key),
    ]:
        (tmp_path / name).write_text(pem)
    tls_config = {
        "distributed.comm.tls.ca-file": str(tmp_path / "ca.pem"),
        "distributed.comm.tls.client.cert": str(tmp_path / "cert.pem"),
        "distributed.comm.tls.client.key": str(tmp_path / "key.pem"),
    }
    with LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        host="127.0.0.1",
        security=ours,
        dashboard_address="127.0.0.1:0",
    ) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tls://127.0.0.1:")
        with pytest.raises(ConfigError, match="no TLS certificates configured"):
            connect(parse_config({}), address, timeout_s=TIMEOUT_S)
        with dask.config.set(tls_config):
            with connect(parse_config({}), address, timeout_s=10, say=lambda m: None) as conn:
                assert conn.client.submit(operator.mul, 6, 7).result(timeout=30) == 42
            plain = "tcp://" + address.removeprefix("tls://")
            with pytest.raises(ConfigError, match="not a dask scheduler.*needs tls://"):
                connect(parse_config({}), plain, timeout_s=TIMEOUT_S)
    other = Security.temporary()
    with (
        LocalCluster(
            n_workers=0,
            processes=False,
            host="127.0.0.1",
            security=other,
            dashboard_address="127.0.0.1:0",
        ) as cluster,
        dask.config.set(tls_config),
    ):
        outcome = _returns(
            lambda: connect(parse_config({}), cluster.scheduler_address, timeout_s=TIMEOUT_S)
        )
        assert isinstance(outcome.get("error"), ConfigError), outcome
        assert re.search("TLS handshake failed|no dask scheduler answered", str(outcome["error"]))


def test_a_local_run_has_no_client():
    with connect(parse_config({}), None) as connection:
        assert connection.local and connection.client is None and connection.kind == "local"
        assert connection.dashboard_link is None and connection.scheduler_address is None


def test_tls_without_cryptography_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "cryptography", None)
    cfg = parse_config({"cluster": {"kind": "slurm", "tls": True}})
    with pytest.raises(ConfigError, match=r"cryptography.*pip install 't1dmc\[cluster\]'"):
        connect(cfg, None)


def test_the_default_scheduler_host_is_one_address_not_all_interfaces():
    import ipaddress

    host = submit_host_address()
    assert not ipaddress.ip_address(host).is_unspecified


# --- config strings that reach the job script ---------------------------------------------


@pytest.mark.parametrize(
    "field, value",
    [
        ("queue", "debug\n#SBATCH --uid=0"),
        ("queue", "debug\rx"),
        ("account", "proj\x00"),
        ("interface", "lo\nrm -rf ~"),
        ("local_directory", "/scratch\necho pwned"),
        ("memory", "4GB\n"),
        ("walltime", "01:00:00\ntouch x"),
        ("queue", "debug\u2028x"),
    ],
)
def test_control_characters_in_cluster_strings_are_refused(field, value):
    with pytest.raises(ConfigError) as err:
        parse_config({"cluster": {field: value}})
    assert f"cluster.{field} = {value!r}: must not contain control characters" in str(err.value)
    assert "lines of the sbatch script" in str(err.value)


@pytest.mark.parametrize(
    "item, says",
    [
        ("--qos=short\n#SBATCH --uid=0", "must not contain control characters"),
        ("#SBATCH --qos=short", "must be an sbatch option without '#SBATCH '"),
        ("qos=short", "must be an sbatch option starting with '-'"),
    ],
)
def test_job_extra_directives_must_be_sbatch_options(item, says):
    with pytest.raises(ConfigError) as err:
        parse_config({"cluster": {"job_extra_directives": ["--qos=short", item]}})
    assert f"cluster.job_extra_directives.1 = {item!r}: {says}" in str(err.value)


@pytest.mark.parametrize(
    "field, value, says",
    [
        ("queue", "debug -o /etc/x", "one word"),
        ("account", "", "one word"),
        ("local_directory", "/scratch/$(whoami)", "shell characters"),
        ("local_directory", "/scratch; rm -rf ~", "shell characters"),
    ],
)
def test_strings_written_unquoted_are_one_word(field, value, says):
    with pytest.raises(ConfigError, match=f"cluster.{field} = .*{says}"):
        parse_config({"cluster": {field: value}})


def test_a_normal_cluster_section_passes():
    cfg = parse_config(
        {
            "cluster": {
                "kind": "slurm",
                "queue": "debug,short",
                "account": "proj-01",
                "interface": "ib0",
                "memory": "4 GB",
                "walltime": "1-02:00:00",
                "local_directory": "${TMPDIR}/t1dmc",
                "job_extra_directives": ["--qos=short", "--constraint=cpu&avx2"],
                "tls": True,
            }
        }
    )
    c = cfg.cluster
    assert c.tls and not c.dashboard and c.job_extra_directives[1] == "--constraint=cpu&avx2"


# --- SLURM: the job script, the scheduler's binding, the dashboard -------------------------

SCRIPT_CLUSTER = {
    "kind": "slurm",
    "queue": "debug",
    "account": "proj1",
    "cores": 1,
    "processes": 1,
    "memory": "1GB",
    "walltime": "00:05:00",
    "jobs": 1,
    "interface": "lo",
    "local_directory": "$TMPDIR/t1dmc",
}


def test_the_job_script_has_no_line_from_config_strings():
    pytest.importorskip("dask_jobqueue")
    extra = ["--qos=short", "--output=/tmp/t1dmc-%j.out"]
    cfg = parse_config({"cluster": dict(SCRIPT_CLUSTER, job_extra_directives=extra)})
    cluster = slurm_cluster(cfg)  # no job is submitted: SLURM is not needed
    try:
        script = cluster.job_script()
        assert cluster.scheduler.address.startswith("tcp://127.0.0.1:")
    finally:
        cluster.close()
    lines = [line for line in script.splitlines() if line.strip()]
    assert lines[0].startswith("#!")
    directives = [line for line in lines if line.startswith("#SBATCH")]
    assert "#SBATCH -p debug" in directives and "#SBATCH -A proj1" in directives
    assert directives[-2:] == [f"#SBATCH {e}" for e in extra]
    prologue = [line for line in lines if line.startswith("export ")]
    assert [p.split("=")[0] for p in prologue] == [
        "export NUMBA_CACHE_DIR",
        "export NUMBA_NUM_THREADS",
    ]
    command = [line for line in lines if line.startswith(sys.executable)]
    assert len(command) == 1
    assert len(lines) == 1 + len(directives) + len(prologue) + 1, script
    assert "--interface lo" in command[0] and "--local-directory $TMPDIR/t1dmc" in command[0]
    assert "--no-dashboard" in command[0]


def _http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status
    except urllib.error.HTTPError as err:
        return err.code


def test_the_dashboard_is_opt_in_and_binds_to_the_scheduler_host():
    pytest.importorskip("dask_jobqueue")
    for dashboard in (False, True):
        cfg = parse_config({"cluster": dict(SCRIPT_CLUSTER, dashboard=dashboard)})
        cluster = slurm_cluster(cfg)
        try:
            http = cluster.scheduler.http_server
            assert http.address == "127.0.0.1"
            pages = _http_status(f"http://127.0.0.1:{http.port}/info/main/workers.html")
            assert pages == (200 if dashboard else 404)
            assert ("--no-dashboard" in cluster.job_script()) is not dashboard
        finally:
            cluster.close()


def _ports_busy(ports) -> bool:
    for port in ports:
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
    return False


@pytest.fixture(scope="module")
def local_slurm(tmp_path_factory):
    """A real single-node SLURM (scripts/slurm_local.sh), as in test_execution.py. Only one
    can run on a machine (ports 6817/6818): wait a while for another session's to stop."""
    in_ci = bool(os.environ.get("CI"))
    if shutil.which("slurmctld") is None:
        if in_ci:
            pytest.fail(
                "SLURM is not installed: .ci/run installs it (scripts/slurm_local.sh install)"
            )
        pytest.skip("SLURM not installed here: run scripts/slurm_local.sh install (as root)")
    for _ in range(240):  # polls of 0.5 s: up to about 2 minutes
        if not _ports_busy(SLURM_PORTS):
            break
        time.sleep(0.5)
    else:
        reason = "ports 6817/6818 stayed busy for 2 minutes: another SLURM (test session?) runs"
        if in_ci:
            pytest.fail(reason)
        pytest.skip(reason)
    d = tmp_path_factory.mktemp("slurm")
    script = ROOT / "scripts" / "slurm_local.sh"
    subprocess.run(["bash", str(script), "up", str(d)], check=True, timeout=120)
    os.environ["SLURM_CONF"] = str(d / "slurm.conf")
    yield d
    subprocess.run(["bash", str(script), "down", str(d)], check=False, timeout=120)
    os.environ.pop("SLURM_CONF", None)


def _listeners_of_this_process():
    import psutil

    process = psutil.Process()
    connections = getattr(process, "net_connections", None) or process.connections  # psutil < 6
    return [c for c in connections(kind="inet") if c.status == psutil.CONN_LISTEN]


def test_slurm_with_tls_binds_one_address_and_leaves_nothing_behind(tmp_path, local_slurm):
    pytest.importorskip("dask_jobqueue")
    pytest.importorskip("cryptography")
    import dask

    shared = tmp_path / "shared"
    shared.mkdir()
    cfg = parse_config(
        {
            "cluster": dict(
                SCRIPT_CLUSTER,
                account=None,
                tls=True,
                job_extra_directives=[f"--output={tmp_path}/slurm-%j.out"],
            )
        }
    )
    said = []
    with dask.config.set({"jobqueue.slurm.shared-temp-directory": str(shared)}):
        connection = connect(cfg, None, timeout_s=30, say=said.append)
    try:
        assert isinstance(connection, ClusterConnection) and connection.kind == "slurm"
        address = connection.scheduler_address
        assert address.startswith("tls://127.0.0.1:"), address
        assert connection.cluster.scheduler_address == address
        # the worker's copies of the temporary certificate and key: private, named in the script
        tls_dir = connection.tls_dir
        assert tls_dir is not None and tls_dir.parent == shared.resolve()
        assert stat.S_IMODE(tls_dir.stat().st_mode) == 0o700
        files = sorted(tls_dir.iterdir())
        assert len(files) == 3
        assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
        script = connection.cluster.job_script()
        assert "BEGIN" not in script and f"--tls-key {tls_dir}/" in script
        assert "--protocol tls://" in script

        connection.client.wait_for_workers(1, timeout=120)
        workers = connection.client.scheduler_info()["workers"]
        assert all(w.startswith("tls://127.0.0.1:") for w in workers)
        assert connection.client.submit(operator.add, 2, 3).result(timeout=60) == 5

        port = int(address.rsplit(":", 1)[1])
        http_port = connection.cluster.scheduler.http_server.port
        listeners = _listeners_of_this_process()
        ours = [c for c in listeners if c.laddr.port in (port, http_port)]
        assert {c.laddr.port for c in ours} == {port, http_port}
        assert all(c.laddr.ip == "127.0.0.1" for c in ours), ours
        assert not [c for c in listeners if c.laddr.ip in ("0.0.0.0", "::", "")], listeners
        assert connection.dashboard_link is None
        assert _http_status(f"http://127.0.0.1:{http_port}/info/main/workers.html") == 404
    finally:
        connection.close()
    assert not tls_dir.exists(), "temporary certificates left behind"
    assert not list(shared.iterdir())
    for _ in range(100):  # polls of 0.2 s: a cancelled job may linger as COMPLETING briefly
        jobs = subprocess.run(["squeue", "-h"], capture_output=True, text=True, timeout=20)
        if not jobs.stdout.strip():
            break
        time.sleep(0.2)
    assert jobs.stdout.strip() == "", f"jobs left behind: {jobs.stdout}"


def test_tls_cleanup_removes_only_the_engine_s_own_folder(tmp_path):
    """_remove_tls_files removes the folder _tls_dir made (its prefix, a real folder), never a
    user's folder or a link to one."""

    users = tmp_path / "my-certificates"
    users.mkdir()
    (users / "key.pem").write_text("mine")
    link = tmp_path / f"{cluster_mod._TLS_DIR_PREFIX}link"
    link.symlink_to(users, target_is_directory=True)
    own = tmp_path / f"{cluster_mod._TLS_DIR_PREFIX}abc"
    own.mkdir()
    (own / "ca.pem").write_text("engine's")
    for path in (users, link, own):
        cluster_mod._remove_tls_files(object(), path)
    assert (users / "key.pem").read_text() == "mine" and link.is_symlink()
    assert not own.exists()
