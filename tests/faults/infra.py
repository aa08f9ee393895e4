"""Processes the fault suite and the soak check start and control: their own Redis, their own
Postgres cluster, and simplechat instances, all on 127.0.0.1 and spare ports.

Nothing here touches the shared Postgres (5432) or Redis (6379). Every process started is written
to `<tmp>/pids` (pid and what it is), so `tests/faults/run.sh` can stop them by id if this Python
process dies first.
"""

import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(port, timeout=0.5):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def http(method, url, body=None, token=None, headers=None, timeout=5.0):
    """One HTTP request; returns (status, headers, parsed JSON body or raw text or None).
    A refused or timed-out connection gives status 0."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw, status, got = response.read(), response.status, response.headers
    except urllib.error.HTTPError as err:
        raw, status, got = err.read(), err.code, err.headers
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        return 0, {}, str(err)
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode(errors="replace")
    return status, got, parsed


class Pids:
    """Remembers every process started, for run.sh's trap."""

    def __init__(self, tmp):
        self.path = os.path.join(tmp, "pids")

    def add(self, pid, what):
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(f"{pid} {what}\n")


class Redis:
    """redis-server as a child process (no persistence), on a spare port."""

    def __init__(self, tmp, pids, port=None):
        self.port = port or free_port()
        self.dir = os.path.join(tmp, "redis")
        os.makedirs(self.dir, exist_ok=True)
        self.log_path = os.path.join(tmp, "redis.log")
        self.pids = pids
        self.proc = None
        self.url = f"redis://127.0.0.1:{self.port}"

    def start(self, timeout=10.0):
        log_file = open(self.log_path, "a", encoding="utf-8")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--dir", self.dir],
            stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log_file.close()
        self.pids.add(self.proc.pid, "redis")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited at start (see {self.log_path})")
            if self.cli("PING", check=False) == "PONG":
                return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def stop(self):
        """An ordinary shutdown (SIGTERM); with --save '' nothing is kept."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def cli(self, *args, check=True, timeout=20):
        done = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), *args],
                              capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise RuntimeError(f"redis-cli {args[0]}: {done.stderr.strip()}")
        return done.stdout.strip()


class Postgres:
    """A throw-away Postgres cluster (initdb + pg_ctl) in the temporary directory, on a spare port.
    As root, the server runs as the `postgres` OS user (runuser), as initdb requires."""

    def __init__(self, tmp, pids, port=None):
        self.port = port or free_port()
        self.root = os.path.join(tmp, "pg")
        self.data = os.path.join(self.root, "data")
        self.log_path = os.path.join(self.root, "postgres.log")
        self.pids = pids
        self.bindir = self.find_bindir()
        self.as_root = os.geteuid() == 0

    @staticmethod
    def find_bindir():
        explicit = os.environ.get("PG_BINDIR")
        if explicit:
            return explicit
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                       key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
        if found:
            return os.path.dirname(found[-1])
        initdb = shutil.which("initdb")
        if initdb:
            return os.path.dirname(initdb)
        raise RuntimeError("no initdb: install postgresql, or set PG_BINDIR")

    def run(self, tool, *args, timeout=60):
        command = [os.path.join(self.bindir, tool), *args]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd="/")
        if done.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)}: {done.stdout}{done.stderr}".strip())
        return done.stdout

    def init(self):
        os.makedirs(self.root, exist_ok=True)
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")
        self.run("initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "--no-sync",
                 "-E", "UTF8", "--locale=C", timeout=120)

    def start(self):
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
                   "-c fsync=off -c full_page_writes=off -c max_connections=200")
        self.run("pg_ctl", "-D", self.data, "-l", self.log_path, "-w", "-t", "60", "-o", options,
                 "start", timeout=90)
        try:
            with open(os.path.join(self.data, "postmaster.pid"), encoding="utf-8") as f:
                self.pids.add(int(f.readline()), "postgres")
        except (OSError, ValueError):
            pass

    def stop(self, mode="fast"):
        self.run("pg_ctl", "-D", self.data, "-w", "-t", "60", "-m", mode, "stop", timeout=90)

    def url(self, database=""):
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def query(self, database, sql, timeout=30):
        """Rows of a query as lists of strings (psql, tab-separated)."""
        done = subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database,
             "-qAtX", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql],
            capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"psql: {done.stderr.strip()}")
        return [line.split("\t") for line in done.stdout.splitlines() if line]


class Instance:
    """One `simplechat serve` process."""

    def __init__(self, tmp, pids, binary, name, env, port=None):
        self.name = name
        self.port = port or free_port()
        self.binary = binary
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir, exist_ok=True)
        self.log_path = os.path.join(tmp, f"{name}.log")
        self.pids = pids
        self.env = env
        self.proc = None
        self.base = f"http://127.0.0.1:{self.port}"
        self.ws_base = f"ws://127.0.0.1:{self.port}"
        self.started_at = None
        self.exited_at = None
        self.generation = 0

    def start(self):
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": self.dir,
            "NO_COLOR": "1",
            "RUST_LOG": os.environ.get("FAULTS_RUST_LOG", "info"),
            "LISTEN_ADDR": f"127.0.0.1:{self.port}",
            **self.env,
        }
        log_file = open(self.log_path, "a", encoding="utf-8")
        log_file.write(f"===== start {time.strftime('%H:%M:%S')} =====\n")
        log_file.flush()
        # In its own directory, so no .env is read.
        self.proc = subprocess.Popen([self.binary, "serve"], cwd=self.dir, env=env,
                                     stdout=log_file, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        log_file.close()
        self.pids.add(self.proc.pid, self.name)
        self.started_at = time.monotonic()
        self.exited_at = None
        self.generation += 1

    def alive(self):
        if self.proc is None:
            return False
        if self.proc.poll() is None:
            return True
        if self.exited_at is None:
            self.exited_at = time.monotonic()
        return False

    def wait_ready(self, timeout=90.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited during start-up:\n{self.tail()}")
            status, _, _ = http("GET", f"{self.base}/readyz", timeout=2)
            if status == 200:
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready within {timeout:.0f}s:\n{self.tail()}")

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def kill9(self):
        self.signal(signal.SIGKILL)
        self.proc.wait(10)
        self.exited_at = time.monotonic()

    def stop(self, timeout=15.0):
        """SIGTERM, then SIGKILL after `timeout`."""
        if not self.alive():
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.exited_at = time.monotonic()

    def rss_kib(self):
        try:
            with open(f"/proc/{self.proc.pid}/status", encoding="utf-8") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            return None
        return None

    def tail(self, lines=25):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""


# SHUTDOWN_DRAIN of the suite's instances, in seconds.
SHUTDOWN_DRAIN_S = 2


def server_env(postgres, redis, database, prefix, heartbeat="2s"):
    """The configuration every instance of one run shares (MACHINE_ID unset: leased from Redis)."""
    return {
        "APP_ENV": "prod",
        "DATABASE_URL": postgres.url(database),
        "DATABASE_POOL_SIZE": "8",
        "REDIS_URL": redis.url,
        "REDIS_PREFIX": prefix,
        "JWT_SECRET": secrets.token_urlsafe(48),
        "BCRYPT_COST": "4",
        "HEARTBEAT_INTERVAL": heartbeat,
        "ACCESS_TOKEN_TTL": "60m",
        # Every client of the suite signs up and logs in from 127.0.0.1: the abuse limits on the
        # auth routes (one address, many accounts) would refuse most of them.
        "RATE_LIMIT_LOGIN_FAILURES": "0",
        "RATE_LIMIT_LOGIN_PER_MIN": "0",
        "RATE_LIMIT_REGISTER_PER_HOUR": "0",
        "RATE_LIMIT_REFRESH_PER_MIN": "0",
        "RATE_LIMIT_WS_TICKET_PER_MIN": "0",
        # The sigterm case checks the drain: short, so the suite stays quick.
        "SHUTDOWN_DRAIN": f"{SHUTDOWN_DRAIN_S}s",
    }
