"""A throwaway PostgreSQL cluster for tests and demos, from Debian's packages.

``make test`` installs the server package when it is missing; this module
only finds the binaries, runs ``initdb`` in a folder of ours and starts the
server on a loopback port (as the ``postgres`` user when we are root, since
PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


class LocalPostgresError(RuntimeError):
    """The local PostgreSQL could not be found, initialised or started."""


def pg_bindir() -> Path:
    if found := os.environ.get("HANDOFF_PG_BINDIR"):
        return Path(found)
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_major, reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise LocalPostgresError(
        "PostgreSQL server binaries not found; run `make test` (it installs Debian's "
        "postgresql package) or set HANDOFF_PG_BINDIR"
    )


def _major(path: str) -> int:
    try:
        return int(Path(path).parts[-3])
    except (ValueError, IndexError):
        return 0


@dataclass
class LocalPostgres:
    home: Path
    port: int
    user: str = "handoff"
    database: str = "handoff"
    # False (tests, demos): no fsync, asynchronous commits, fast. True: what a crash test
    # needs, a commit that survives `pg_ctl stop -m immediate` (as in production).
    durable: bool = False

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def start(self, timeout: float = 30.0) -> str:
        bindir = pg_bindir()
        data = self.home / "data"
        self.home.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.home, "postgres", "postgres")
        if not (data / "PG_VERSION").exists():
            self._run(
                [str(bindir / "initdb"), "-D", str(data), "-U", self.user, "-A", "trust",
                 "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
            )  # fmt: skip
        fast = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
        opts = (
            f"-h 127.0.0.1 -p {self.port} -k {self.home} "
            f"{'' if self.durable else fast}-c max_connections=200"
        )
        self._run(
            [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(self.home / "postgres.log"),
             "-o", opts, "-w", "-t", str(int(timeout)), "start"],
        )  # fmt: skip
        self._wait(bindir, timeout)
        return self.url

    def stop(self, mode: str = "fast") -> None:
        """``fast``: a clean shutdown; ``immediate``: as a crash (recovery on the next start)."""
        data = self.home / "data"
        if (data / "postmaster.pid").exists():
            self._run([str(pg_bindir() / "pg_ctl"), "-D", str(data), "-m", mode, "-w", "stop"])

    def _wait(self, bindir: Path, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            probe = subprocess.run(
                [str(bindir / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user,
                 "-d", "postgres", "-tAc",
                 f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'"],  # noqa: S608 our own name
                capture_output=True, text=True,
            )  # fmt: skip
            if probe.returncode == 0:
                if probe.stdout.strip() != "1":
                    self._run(
                        [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                         "-U", self.user, "-E", "UTF8", self.database]
                    )  # fmt: skip
                return
            time.sleep(0.3)
        raise LocalPostgresError(f"PostgreSQL on port {self.port} did not answer in {timeout}s")

    def _run(self, cmd: list[str]) -> None:
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, cwd="/")
        if result.returncode != 0:
            raise LocalPostgresError(f"{' '.join(cmd)} failed:\n{result.stdout}{result.stderr}")
