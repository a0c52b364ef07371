"""Getting a dask distributed client: an existing scheduler (`--scheduler ADDR`), a SLURM
cluster started for the run (`[cluster] kind = "slurm"`), or none (local threads).

Every failure is a one-line ConfigError, and every wait is bounded: an address is checked
before anything connects, and a connection that does not reach a dask scheduler within
`timeout_s` is given up, whatever listens at the other end.
Nothing about patients or stores here.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import re
import shutil
import socket
import sys
import tempfile
import threading
import unicodedata
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import ConfigError, RunConfig

SCHEDULER_PROTOCOLS = ("tcp", "tls")
_ALLOWED = "tcp://host:port, tls://host:port or host:port ([::1]:port for IPv6)"
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})"
    r"(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*\.?$"
)
# temporary TLS files sent to the jobs go here: it must be readable from the compute nodes
_TLS_DIR_PREFIX = ".t1dmc-tls-"
# the worker's copies of the temporary certificate and key, as dask-jobqueue names them
_JOBQUEUE_TLS_FILES = ("_job_ca_file", "_job_cert", "_job_key")


def _refuse(value: str, why: str) -> ConfigError:
    return ConfigError(f"--scheduler {value!r}: {why}; allowed: {_ALLOWED}")


def parse_scheduler_address(address: str) -> str:
    """`address` as distributed writes it (`tcp://host:port`), or a ConfigError saying what is
    wrong with it. Checks the text only: nothing is resolved or contacted."""
    from distributed.comm.addressing import parse_host_port, unparse_host_port

    if not isinstance(address, str) or not address:
        raise _refuse(str(address), "empty address")
    if any(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf") for ch in address):
        raise _refuse(address, "contains spaces or control characters")
    scheme, sep, location = address.partition("://")
    if not sep:
        scheme, location = "tcp", address
    scheme = scheme.lower()
    if scheme in ("http", "https"):
        raise _refuse(
            address,
            "that is a web address (the dashboard's?); the scheduler's usually has port 8786",
        )
    if scheme not in SCHEDULER_PROTOCOLS:
        raise _refuse(address, f"unknown protocol {scheme + '://'!r}")
    if "/" in location or "@" in location or "?" in location or "#" in location:
        raise _refuse(address, "only host:port may follow the protocol")
    try:
        host, port = parse_host_port(location)  # raises on a missing port, unbracketed IPv6
    except ValueError as err:
        why = (
            "missing port"
            if "missing port" in str(err)
            else (
                "port is not a number"
                if "invalid literal" in str(err)
                else "IPv6 addresses need brackets, e.g. [::1]:8786"
            )
        )
        raise _refuse(address, why) from None
    if not 1 <= port <= 65535:
        raise _refuse(address, f"port {port} is out of range 1-65535")
    if not host:
        raise _refuse(address, "missing host")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
        if location.startswith("["):
            raise _refuse(address, f"{host!r} in brackets is not an IPv6 address") from None
        if not _HOSTNAME.match(host):
            raise _refuse(address, f"{host!r} is not a host name or IP address") from None
    if ip is not None and ip.is_unspecified:
        raise _refuse(
            address,
            f"{host} means 'all interfaces' to a server; give the address of the scheduler's host",
        )
    return f"{scheme}://{unparse_host_port(host, port)}"


@dataclass
class ClusterConnection:
    """A dask client and, for SLURM, the cluster it owns; `client` is None for local runs.
    Closing it closes the client, cancels the SLURM jobs and removes temporary TLS files."""

    kind: str  # "local", "scheduler" or "slurm"
    client: Any = None
    cluster: Any = None
    dashboard: bool = False
    tls_dir: Path | None = None
    _closed: bool = field(default=False, repr=False)

    @property
    def local(self) -> bool:
        return self.client is None

    @property
    def scheduler_address(self) -> str | None:
        return None if self.client is None else self.client.scheduler.address

    @property
    def dashboard_link(self) -> str | None:
        """The dashboard's address, or None when there is none (local runs, or SLURM without
        `[cluster] dashboard = true`)."""
        return dashboard_link(self)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self.client is not None:
                self.client.close(timeout=10)
        finally:
            try:
                if self.cluster is not None:
                    self.cluster.close(timeout=30)
            finally:
                _remove_tls_files(self.cluster, self.tls_dir)

    def __enter__(self) -> ClusterConnection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def dashboard_link(connection: ClusterConnection | None) -> str | None:
    if connection is None or connection.client is None:
        return None
    if connection.kind == "slurm" and not connection.dashboard:
        return None
    try:
        return connection.client.dashboard_link or None
    except Exception:  # noqa: BLE001 - a link is a convenience, never a reason to fail
        return None


def connect(
    cfg: RunConfig, scheduler: str | None, timeout_s: float = 30.0, say=print
) -> ClusterConnection:
    """A connection to the dask scheduler at `scheduler`, to a new SLURM cluster
    (cfg.cluster.kind = "slurm"), or a local handle (client None). Raises ConfigError when no
    dask scheduler answers within about `timeout_s`."""
    if scheduler is not None:  # an empty --scheduler is an error, not "local"
        return _connect_to_scheduler(parse_scheduler_address(scheduler), timeout_s, say)
    if cfg.cluster.kind == "slurm":
        return _start_slurm(cfg, timeout_s, say)
    return ClusterConnection(kind="local")


# --- an existing scheduler ---------------------------------------------------------------


def _client_security(address: str):
    """What distributed.Client would use for `address`: the security loader if one is
    configured, else dask's config (distributed.comm.tls.*)."""
    from distributed.security import Security

    try:
        from distributed.client import _maybe_call_security_loader

        security = _maybe_call_security_loader(address)
    except ImportError:
        security = None
    except Exception as err:  # noqa: BLE001 - a user's loader may fail any way it likes
        raise ConfigError(
            f"--scheduler {address}: the configured "
            f"distributed.client.security-loader failed ({_one_line(err)})"
        ) from None
    return security if security is not None else Security()


def _connect_to_scheduler(address: str, timeout_s: float, say) -> ClusterConnection:
    from distributed import Client

    security = _client_security(address)
    connection_args = security.get_connection_args("client")
    if address.startswith("tls://") and connection_args.get("ssl_context") is None:
        raise ConfigError(
            f"--scheduler {address}: no TLS certificates configured; set "
            "distributed.comm.tls.ca-file, distributed.comm.tls.client.cert and "
            "distributed.comm.tls.client.key in dask's config (or the "
            "DASK_DISTRIBUTED__COMM__TLS__... environment variables)"
        )
    _probe_scheduler(address, connection_args, timeout_s)
    try:
        client = Client(
            address, security=security, timeout=f"{max(timeout_s, 1.0)}s", set_as_default=False
        )
    except Exception as err:  # noqa: BLE001 - any failure here means the same to the user
        raise ConfigError(
            f"--scheduler {address}: no dask scheduler answered within "
            f"{timeout_s:g} s ({_reason(err)})"
        ) from None
    connection = ClusterConnection(kind="scheduler", client=client)
    try:
        info = client.scheduler_info()
        if info.get("type") != "Scheduler":
            raise ValueError(f"it says it is a {info.get('type')!r}")
    except Exception as err:  # noqa: BLE001
        connection.close()
        raise ConfigError(
            f"--scheduler {address}: what answered is not a dask scheduler ({_reason(err)})"
        ) from None
    say(f"dask scheduler {address}: {len(info.get('workers', {}))} workers")
    return connection


def _probe_scheduler(address: str, connection_args: dict, timeout_s: float) -> None:
    """Ask whatever listens at `address` who it is, in a thread of its own with a deadline:
    distributed's own connect waits without limit for the handshake of a silent listener."""
    stage = {"now": "connect"}
    outcome: dict = {}

    async def identify():
        from distributed.comm import connect as comm_connect

        comm = await comm_connect(address, timeout=timeout_s, **connection_args)
        stage["now"] = "identify"
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read()
        finally:
            comm.abort()

    def run():
        try:
            outcome["answer"] = asyncio.run(asyncio.wait_for(identify(), timeout_s + 1.0))
        except BaseException as err:  # noqa: BLE001 - reported to the caller below
            outcome["error"] = err

    thread = threading.Thread(target=run, name="t1dmc-scheduler-probe", daemon=True)
    thread.start()
    thread.join(timeout_s + 5.0)
    hint = " (a scheduler using TLS needs tls://...)" if address.startswith("tcp://") else ""
    # distributed's connect gives up by itself after timeout_s when no connection is made;
    # the later deadline catches a connection made whose other end never says anything
    if thread.is_alive() or isinstance(outcome.get("error"), (TimeoutError, asyncio.TimeoutError)):
        raise ConfigError(
            f"--scheduler {address}: something listens there but did not answer "
            f"as a dask scheduler within {timeout_s:g} s{hint}"
        )
    if "error" in outcome:
        err = outcome["error"]
        if stage["now"] == "connect" and isinstance(err, OSError) and "Timed out" in str(err):
            why = _reason(err)
            if why == "no answer":  # distributed keeps only its last attempt's error
                why = _tcp_reason(address) or why
            raise ConfigError(
                f"--scheduler {address}: no dask scheduler answered within {timeout_s:g} s ({why})"
            )
        if stage["now"] == "connect" and address.startswith("tls://"):
            raise ConfigError(f"--scheduler {address}: TLS handshake failed ({_reason(err)})")
        raise ConfigError(
            f"--scheduler {address}: something listens there but it does not "
            f"speak dask's protocol, so it is not a dask scheduler{hint}"
        )
    answer = outcome.get("answer")
    kind = answer.get("type") if isinstance(answer, dict) else None
    if kind != "Scheduler":
        said = f"a dask {kind}" if isinstance(kind, str) else "something else"
        raise ConfigError(f"--scheduler {address}: that is {said}, not a dask scheduler")


def _tcp_reason(address: str, wait_s: float = 1.5) -> str | None:
    """Why a plain TCP connection to `address` fails, found within `wait_s` (name lookups
    have no timeout of their own, hence the thread)."""
    from distributed.comm.addressing import parse_host_port

    host, port = parse_host_port(address.partition("://")[2])
    found: dict = {}

    def attempt():
        try:
            socket.create_connection((host, port), timeout=wait_s).close()
        except ConnectionRefusedError:
            found["why"] = "connection refused"
        except socket.gaierror:
            found["why"] = "host name not found"
        except OSError as err:
            if err.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
                found["why"] = "host unreachable"

    thread = threading.Thread(target=attempt, name="t1dmc-tcp-check", daemon=True)
    thread.start()
    thread.join(wait_s + 0.5)
    return found.get("why")


def _reason(err: BaseException) -> str:
    """A short, one-line cause out of distributed's chained exceptions."""
    chain, seen = [], set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        chain.append(err)
        err = err.__cause__ or err.__context__
    text = " ".join(f"{type(e).__name__}: {e}" for e in chain).lower()
    if "refused" in text:
        return "connection refused"
    if (
        "name or service not known" in text
        or "nodename nor servname" in text
        or "gaierror" in text
        or "name resolution" in text
    ):
        return "host name not found"
    if "unreachable" in text:
        return "host unreachable"
    if "cannot convert to ssl" in text:
        return "the other end does not speak TLS"
    if "ssl" in text or "certificate" in text:
        return "TLS: " + _one_line(
            next(
                (
                    e
                    for e in chain
                    if "ssl" in type(e).__name__.lower() or "certificate" in str(e).lower()
                ),
                chain[-1],
            )
        )
    if isinstance(chain[0], (TimeoutError, asyncio.TimeoutError)) or "timed out" in text:
        return "no answer"
    return _one_line(chain[-1])


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 160 else text[:157] + "..."


# --- SLURM ---------------------------------------------------------------------------------


def submit_host_address() -> str:
    """The address the scheduler binds to when `cluster.interface` is not set: this host's
    local address on its route out (what distributed itself advertises to workers), not the
    address of its hostname (Debian maps that to 127.0.1.1) and never all interfaces."""
    from distributed.utils import get_ip

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no route out: it falls back to the hostname, quietly
        ip = get_ip()
    if ip in ("", "0.0.0.0", "::"):
        ip = "127.0.0.1"
    return ip


def _interface_address(interface: str) -> str:
    from distributed.utils import get_ip_interface

    try:
        return get_ip_interface(interface)
    except ValueError:
        import psutil

        have = ", ".join(sorted(psutil.net_if_addrs()))
        raise ConfigError(
            f"cluster.interface = {interface!r}: not a network interface with "
            f"an IPv4 address on this host (it has: {have})"
        ) from None


def _temporary_security():
    from distributed.security import Security

    try:
        import cryptography  # noqa: F401 - Security.temporary needs it
    except ImportError:
        raise ConfigError(
            "cluster.tls = true needs the cryptography package: pip install 't1dmc[cluster]'"
        ) from None
    return Security.temporary()


def _private_tls_dir() -> Path:
    """A fresh 0700 folder on a file system the jobs can read: dask-jobqueue's
    shared-temp-directory if configured, else the home folder (shared on clusters)."""
    import dask

    base = dask.config.get("jobqueue.slurm.shared-temp-directory", None) or "~"
    base = Path(os.path.expandvars(os.path.expanduser(base)))
    try:
        path = Path(tempfile.mkdtemp(prefix=_TLS_DIR_PREFIX, dir=base)).resolve()
    except OSError as err:
        raise ConfigError(
            f"cluster.tls = true: cannot create a private folder for the "
            f"certificates in {str(base)!r} ({err.strerror}); set dask's "
            "jobqueue.slurm.shared-temp-directory to a shared folder"
        ) from None
    # the paths go unquoted onto the worker's command line
    if any(ch.isspace() or ch in ";&|<>()`'\"\\*?$" for ch in str(path)):
        if _is_own_tls_dir(path):
            shutil.rmtree(path, ignore_errors=True)
        raise ConfigError(
            f"cluster.tls = true: the certificate folder {str(path)!r} has "
            "spaces or shell characters; set dask's "
            "jobqueue.slurm.shared-temp-directory to a plain path"
        )
    return path


def _remove_tls_files(cluster, tls_dir: Path | None) -> None:
    for name in _JOBQUEUE_TLS_FILES:
        handle = getattr(cluster, name, None)
        if handle is not None:
            try:
                handle.close()  # a NamedTemporaryFile: closing deletes it
            except OSError:
                pass
    # only the folder _tls_dir made (its prefix, a real folder, not a link), nothing else
    if tls_dir is not None and _is_own_tls_dir(Path(tls_dir)):
        shutil.rmtree(tls_dir, ignore_errors=True)


def _is_own_tls_dir(path: Path) -> bool:
    return path.name.startswith(_TLS_DIR_PREFIX) and path.is_dir() and not path.is_symlink()


def slurm_cluster(cfg: RunConfig, security=None, tls_dir: Path | None = None):
    """A SLURMCluster for cfg.cluster with no jobs yet: its scheduler bound to one address
    (cluster.interface's, else submit_host_address()), its dashboard off unless asked for."""
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError:
        raise ConfigError(
            "cluster.kind = 'slurm' needs dask-jobqueue: pip install 't1dmc[cluster]'"
        ) from None
    import dask

    c = cfg.cluster
    host = _interface_address(c.interface) if c.interface else submit_host_address()
    # a (host, port) pair: a bare ":port" would make distributed listen on all interfaces
    scheduler_options: dict = {
        "dashboard": c.dashboard,
        "dashboard_address": [(host, 8787 if c.dashboard else 0)],
    }
    if c.interface:
        scheduler_options["interface"] = c.interface
    else:
        scheduler_options["host"] = host
    # off means nothing served: the scheduler's HTTP server always starts, and its info and
    # json pages would show the cluster to anyone who can reach it
    routes = dask.config.get("distributed.scheduler.http.routes") if c.dashboard else []
    worker_args = list(dask.config.get("jobqueue.slurm.worker-extra-args", None) or [])
    if not c.dashboard:
        worker_args.append("--no-dashboard")
    prologue = [
        # one numba cache per job: concurrent compilation into one cache can crash (numba #4807)
        'export NUMBA_CACHE_DIR="${TMPDIR:-/tmp}/t1dmc-numba-${SLURM_JOB_ID:-0}"',
        "export NUMBA_NUM_THREADS=1",  # distributed does not set it (dask/distributed #9075)
    ]
    extra = {"security": security, "shared_temp_directory": str(tls_dir)} if security else {}
    try:
        with dask.config.set({"distributed.scheduler.http.routes": routes}):
            return SLURMCluster(
                queue=c.queue,
                account=c.account,
                cores=c.cores,
                processes=c.processes,
                memory=c.memory,
                walltime=c.walltime,
                interface=c.interface,
                job_extra_directives=c.job_extra_directives,
                local_directory=c.local_directory,
                job_script_prologue=prologue,
                worker_extra_args=worker_args,
                python=sys.executable,
                scheduler_options=scheduler_options,
                **extra,
            )
    except ConfigError:
        raise
    except Exception as err:  # noqa: BLE001 - e.g. the port is taken, the address is not ours
        raise ConfigError(
            f"cluster.kind = 'slurm': the scheduler could not start on {host} ({_one_line(err)})"
        ) from None


def _start_slurm(cfg: RunConfig, timeout_s: float, say) -> ClusterConnection:
    from distributed import Client

    c = cfg.cluster
    security = _temporary_security() if c.tls else None
    tls_dir = _private_tls_dir() if c.tls else None
    connection = ClusterConnection(kind="slurm", dashboard=c.dashboard, tls_dir=tls_dir)
    try:
        connection.cluster = slurm_cluster(cfg, security, tls_dir)
        host = connection.cluster.scheduler.address
        if "://127." in host and not c.interface:
            say(
                f"dask scheduler {host}: this host has no route out, so SLURM jobs on other "
                "nodes cannot reach it; set cluster.interface"
            )
        try:
            connection.client = Client(
                connection.cluster, timeout=f"{max(timeout_s, 1.0)}s", set_as_default=False
            )
        except Exception as err:  # noqa: BLE001
            raise ConfigError(
                f"cluster.kind = 'slurm': no answer from its own scheduler "
                f"{host} within {timeout_s:g} s ({_reason(err)})"
            ) from None
        if c.adaptive:
            connection.cluster.adapt(minimum_jobs=0, maximum_jobs=c.jobs)
        else:
            connection.cluster.scale(jobs=c.jobs)
    except BaseException:
        connection.close()
        raise
    say(
        f"dask scheduler {connection.scheduler_address}: {c.jobs} SLURM job(s) requested"
        + (f"; dashboard {connection.dashboard_link}" if connection.dashboard_link else "")
    )
    return connection
