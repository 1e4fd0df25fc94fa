"""Helpers of the ops tests: scratch databases in the local cluster, throwaway clusters."""

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from contextlib import closing
from pathlib import Path

import psycopg2
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def server():
    """Return (host, port, user) of the database server the tests use, as the owner role
    (it may create databases; the app role the suite runs as may not)."""
    db = settings.DATABASE_OWNER
    return db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432), db["USER"]


def url(name, host=None, port=None, user=None, scheme="postgis"):
    h, p, u = server()
    return f"{scheme}://{user or u}@{host or h}:{port or p}/{name}"


def connect(name, **kw):
    h, p, u = server()
    conn = psycopg2.connect(
        host=kw.get("host", h), port=kw.get("port", p), user=kw.get("user", u), dbname=name
    )
    conn.autocommit = True
    return conn


def scratch_name(prefix):
    return f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"


def create_db(name, **kw):
    with closing(connect("postgres", **kw)) as conn, conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')


def drop_db(name, **kw):
    with closing(connect("postgres", **kw)) as conn, conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port():
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bindir():
    for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (d / "initdb").exists():
            return d
    raise RuntimeError("PostgreSQL server binaries not found")


def as_owner(cmd):
    """Run PostgreSQL server programs as 'postgres' when we are root (it refuses root)."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


class Cluster:
    """A throwaway PostgreSQL cluster in a temp dir on a free loopback port.

    Like scripts/pg.sh, but never the shared one: tests may stop and restart it at will.
    """

    def __init__(self, *, port=None, data=None, options=""):
        self.bin = bindir()
        self.tmp = Path(tempfile.mkdtemp(prefix="gridmap-ops-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.tmp, "postgres")
        self.data = Path(data) if data else self.tmp / "data"
        self.port = port or free_port()
        self.log = self.tmp / "server.log"
        self.options = options
        self.user = "gridmap"

    def init(self):
        subprocess.run(
            as_owner(
                [
                    str(self.bin / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    self.user,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
        )
        return self

    def start(self, timeout=60):
        opts = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
            f"-c fsync=off -c max_connections=100 -c shared_buffers=64MB {self.options}"
        )
        subprocess.run(
            as_owner(
                [
                    str(self.bin / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.log),
                    "-w",
                    "-t",
                    str(timeout),
                    "-o",
                    opts,
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
        )
        return self

    def stop(self, mode="fast"):
        subprocess.run(
            as_owner([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"]),
            capture_output=True,
        )

    def running(self):
        result = subprocess.run(
            as_owner([str(self.bin / "pg_ctl"), "-D", str(self.data), "status"]),
            capture_output=True,
        )
        return result.returncode == 0

    def url(self, name, scheme="postgis"):
        return f"{scheme}://{self.user}@127.0.0.1:{self.port}/{name}"

    def connect(self, name="postgres"):
        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user=self.user, dbname=name)
        conn.autocommit = True
        return conn

    def wait_ready(self, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.connect().close()
                return
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def destroy(self):
        if self.running():
            self.stop("immediate")
        shutil.rmtree(self.tmp, ignore_errors=True)
