"""A one-node SLURM cluster on this machine, for the SLURM profile's test.

Everything lives in one temporary folder: a private munge daemon (its own key and socket), a
minimal ``slurm.conf`` (the node ``localhost`` with the machine's real CPUs and memory as
``slurmd -C`` reports them, one partition, no accounting, ``proctrack/linuxproc``,
``task/none``, spool and state folders here, ``SlurmUser=root``), and ``slurmctld`` + ``slurmd``
on free ports of 127.0.0.1. Clients find it through ``SLURM_CONF`` (:attr:`SlurmCluster.env`);
nothing under /etc is touched and no system daemon is used. Needs root and Debian's
``slurm-wlm`` and ``munge`` (``apt-get install slurm-wlm munge``).

    python tests/slurm/cluster.py start DIR     # start, print the environment to use, wait for idle
    python tests/slurm/cluster.py stop DIR      # stop the daemons of DIR

Without accounting ``sacct`` has nothing to say, so job states come from ``squeue``:
``MinJobAge`` keeps finished jobs visible for 10 minutes.

Inside a job, snakemake's slurm-jobstep plugin starts each rule with ``srun`` in an environment
from which it removed every ``SLURM_*`` variable, ``SLURM_CONF`` included; a real cluster's
config is at /etc/slurm (or served configless), this one's is not, so :attr:`SlurmCluster.env`
puts first on ``PATH`` a two-line ``srun`` that sets ``SLURM_CONF`` again and runs the real one.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

#: the partition jobs go to; not the default one, so a job that does not name it is refused
PARTITION = "rampflow"
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "sinfo", "scontrol", "srun", "munge")


def unavailable_reason() -> str | None:
    """Why a private SLURM cannot start here (None when it can)."""
    if sys.platform != "linux":
        return "SLURM test cluster needs Linux"
    if os.geteuid() != 0:
        return "SLURM test cluster needs root (slurmd runs jobs as their user; SlurmUser=root)"
    missing = [p for p in DAEMONS + CLIENTS if shutil.which(p) is None]
    if missing:
        return f"SLURM not installed (missing {', '.join(missing)}): apt-get install slurm-wlm munge"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node_line() -> str:
    """``NodeName=localhost ...`` with this machine's hardware as ``slurmd -C`` reports it."""
    out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, timeout=30, check=True).stdout
    first = next(line for line in out.splitlines() if line.startswith("NodeName="))
    keep = [f for f in first.split()[1:] if f.split("=")[0] in
            ("CPUs", "Boards", "SocketsPerBoard", "CoresPerSocket", "ThreadsPerCore", "RealMemory")]
    return " ".join(["NodeName=localhost", "NodeAddr=127.0.0.1", *keep, "State=UNKNOWN"])


def slurm_conf(root: Path, node: str, ctld_port: int, slurmd_port: int) -> str:
    """A minimal slurm.conf for one node on localhost, every file under ``root``."""
    host = socket.gethostname().split(".")[0]
    return "\n".join([
        "ClusterName=rampflowtest",
        f"SlurmctldHost={host}(127.0.0.1)",
        f"SlurmctldPort={ctld_port}",
        f"SlurmdPort={slurmd_port}",
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={root}/munge/munge.socket",
        f"StateSaveLocation={root}/state",
        f"SlurmdSpoolDir={root}/spool",
        f"SlurmctldPidFile={root}/slurmctld.pid",
        f"SlurmdPidFile={root}/slurmd.pid",
        f"SlurmctldLogFile={root}/log/slurmctld.log",
        f"SlurmdLogFile={root}/log/slurmd.log",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "SchedulerType=sched/builtin",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_CPU_Memory",
        "AccountingStorageType=accounting_storage/none",
        "JobAcctGatherType=jobacct_gather/none",
        "JobCompType=jobcomp/none",
        "MpiDefault=none",
        "ReturnToService=2",
        "MinJobAge=600",
        node,
        f"PartitionName={PARTITION} Nodes=localhost Default=NO MaxTime=120 State=UP",
        "",
    ])


class SlurmCluster:
    """A private munged + slurmctld + slurmd under ``root``; :meth:`start`, :meth:`stop`."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()
        self.conf = self.root / "slurm.conf"
        self.partition = PARTITION

    @property
    def env(self) -> dict:
        """The environment of SLURM clients (sbatch, squeue, snakemake's plugin) for this cluster."""
        env = dict(os.environ)
        env["SLURM_CONF"] = str(self.conf)
        env["PATH"] = f"{self.root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        return env

    def _run(self, *cmd, check=True, timeout=60) -> subprocess.CompletedProcess:
        return subprocess.run(list(cmd), capture_output=True, text=True, env=self.env, timeout=timeout, check=check)

    def _munge_args(self) -> list[str]:
        m = self.root / "munge"
        return [f"--socket={m}/munge.socket", f"--key-file={m}/munge.key", f"--pid-file={m}/munged.pid",
                f"--log-file={m}/munged.log", f"--seed-file={m}/munged.seed"]

    def start(self, timeout: float = 60.0) -> SlurmCluster:
        """Write the config, start the three daemons and wait until the node is idle;
        raises RuntimeError with the daemons' logs when it does not come up."""
        for sub in ("munge", "state", "spool", "log", "bin"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        srun = self.root / "bin" / "srun"
        srun.write_text(f'#!/bin/sh\nSLURM_CONF={self.conf} exec {shutil.which("srun")} "$@"\n')
        srun.chmod(0o755)
        os.chmod(self.root / "munge", 0o700)
        key = self.root / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        os.chmod(key, 0o600)
        self.conf.write_text(slurm_conf(self.root, node_line(), _free_port(), _free_port()))
        try:
            # --force: the socket's folder is under /tmp, which munged finds too open otherwise
            self._run("munged", "--force", *self._munge_args())
            self._run("slurmctld", "-i")
            self._run("slurmd", "-N", "localhost")
        except subprocess.CalledProcessError as exc:
            self.stop()
            raise RuntimeError(f"{exc.cmd[0]} did not start: {exc.stderr.strip()}") from None
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            proc = self._run("sinfo", "-h", "-p", self.partition, "-o", "%t", check=False)
            state = proc.stdout.strip()
            if state == "idle":
                return self
            time.sleep(0.5)
        logs = "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in sorted((self.root / "log").glob("*.log")))
        self.stop()
        raise RuntimeError(f"SLURM node not idle after {timeout:.0f} s (sinfo state {state!r})\n{logs}")

    def _pids(self) -> list[int]:
        pids = []
        for f in ("slurmd.pid", "slurmctld.pid", "munge/munged.pid"):
            p = self.root / f
            if p.is_file():
                text = p.read_text().strip()
                if text.isdigit():
                    pids.append(int(text))
        return pids

    def stop(self, timeout: float = 30.0) -> None:
        """Cancel this cluster's jobs and stop its daemons (those whose pid files are under
        ``root``); returns once they have exited."""
        pids = self._pids()
        if self.conf.is_file():
            self._run("scancel", "--partition", self.partition, check=False, timeout=30)
            self._run("scontrol", "shutdown", check=False, timeout=30)
        munged = self.root / "munge" / "munged.pid"
        for pid in pids:  # slurmctld and slurmd stop on shutdown; munged on SIGTERM
            if munged.is_file() and munged.read_text().strip() == str(pid):
                _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for pid in pids:
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if _alive(pid):
                _signal(pid, signal.SIGTERM)
                time.sleep(1)
                _signal(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of this process counts as gone
    try:
        return Path(f"/proc/{pid}/status").read_text().find("State:\tZ") < 0
    except OSError:
        return False


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        print(__doc__)
        return 2
    cluster = SlurmCluster(argv[1])
    if argv[0] == "stop":
        cluster.stop()
        return 0
    reason = unavailable_reason()
    if reason:
        print(reason, file=sys.stderr)
        return 1
    cluster.start()
    print(f"export SLURM_CONF={cluster.conf}")
    print(f"export PATH={cluster.root / 'bin'}:$PATH")
    print(f"export RAMPFLOW_SLURM_PARTITION={cluster.partition}")
    print("export RAMPFLOW_SLURM_ACCOUNT=")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
