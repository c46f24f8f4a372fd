"""Shared harness of the relay benchmarks: the real `ordersync-relay` binary (release build)
run as processes (relay and sandbox), signed hand-offs, HTTP, metrics, wrk, and memory readings.

Standard library only, so a benchmark needs nothing but Python 3 and the tools that
`scripts/setup.sh bench` installs. Everything listens on loopback (127.0.0.1) only, every wait
has a deadline, and every process a benchmark starts is killed when it ends (see `Processes`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RELAY_BIN = Path(os.environ.get("ORDERSYNC_BENCH_RELAY", ROOT / "target/release/ordersync-relay"))
# The vendor sandbox, built beside the relay (`cargo build -p ordersync-relay -p ordersync-sandbox`).
SANDBOX_BIN = Path(os.environ.get("ORDERSYNC_BENCH_SANDBOX", RELAY_BIN.parent / "ordersync-sandbox"))
CEILING_BIN = Path(
    os.environ.get(
        "ORDERSYNC_BENCH_CEILING",
        ROOT / "target/bench-ceiling/release/ordersync-bench-ceiling",
    )
)
# Outbox files live on the same disk as the project (not a tmpfs), so fsync costs what it costs.
WORK_ROOT = Path(os.environ.get("ORDERSYNC_BENCH_WORK", ROOT / "target/bench-work"))

SIGNING_SECRET = "bench-signing-secret-0123456789abcdef-XYZ"
CIBLER_KEY = "bench-cibler-key-xxxx-xxxx"
CIBLER_CUSTOMER = "cust-bench"
CITRUS_KEY = "bench-citrus-key-5150"
CITRUS_TEAM = "9f48572c-0a5b-4997-9a0e-ed74f4d32dc6"
COOKIE_ID = "CIB1.123456789.1700000000"

DEADLINE = 60.0


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- signed hand-offs ----------------------------------------------------------------------


def _b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


_JWS_HEADER = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())


def sign(claims: dict, secret: str = SIGNING_SECRET) -> str:
    """A compact JWS (HS256), as any JWT library makes it (RFC 7515 / 7519)."""
    payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = _JWS_HEADER + b"." + payload
    mac = hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + _b64url(mac)).decode()


def checkout(order_id: int, items: int = 1) -> dict:
    """A checkout both vendors take (numeric order id, items with a catalog id)."""
    return {
        "orderId": order_id,
        "orderDate": "2026-11-22T10:00:00Z",
        "email": "shopper@example.com",
        "country": "FR",
        "customerGuid": "guid-bench-1",
        "sessionId": "session-bench-1",
        "totalSpent": "42.50",
        "taxes": "7.08",
        "shippingCost": "4.90",
        "giftCode": None,
        "discountAmount": None,
        "items": [
            {
                "gtin": f"30176204{i:05d}",
                "quantity": 2,
                "regularUnitPrice": "18.80",
                "totalOrderItemPriceAfterDiscounts": "37.60",
                "catalogId": "catalog-bench",
            }
            for i in range(items)
        ],
    }


def signed_handoff(order_id: int, ttl_seconds: int = 24 * 3600) -> bytes:
    claims = checkout(order_id)
    claims["exp"] = int(time.time()) + ttl_seconds
    return json.dumps({"token": sign(claims), "cookieId": COOKIE_ID}, separators=(",", ":")).encode()


def unsigned_handoff(order_id: int) -> bytes:
    return json.dumps(
        {"checkout": checkout(order_id), "cookieId": COOKIE_ID}, separators=(",", ":")
    ).encode()


def write_bodies(path: Path, first_id: int, count: int, signed: bool = True) -> Path:
    """One hand-off body per line (wrk's Lua script sends each line once, in turn)."""
    make = signed_handoff if signed else unsigned_handoff
    with open(path, "wb") as out:
        for order_id in range(first_id, first_id + count):
            out.write(make(order_id))
            out.write(b"\n")
    return path


# --- HTTP ------------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int  # 0: no answer (connection refused, reset, timeout)
    body: bytes = b""
    headers: dict = field(default_factory=dict)
    error: str = ""

    def json(self):
        return json.loads(self.body) if self.body else None


def http(method: str, url: str, body: bytes | None = None, content_type: str = "application/json",
         timeout: float = 30.0) -> Reply:
    request = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        request.add_header("content-type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Reply(response.status, response.read(), dict(response.headers))
    except urllib.error.HTTPError as e:
        return Reply(e.code, e.read(), dict(e.headers))
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as e:
        return Reply(0, error=f"{type(e).__name__}: {e}")


def wait_for(what: str, probe, deadline: float = DEADLINE, pause: float = 0.05):
    start = time.monotonic()
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() - start > deadline:
            raise TimeoutError(f"timed out after {deadline:.0f}s waiting for {what}")
        time.sleep(pause)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_metrics(text: str) -> dict[tuple, float]:
    """Prometheus/OpenMetrics text to {(name, (("label", "value"), ...)): value}."""
    values: dict[tuple, float] = {}
    line_re = re.compile(r'^([a-zA-Z_:][\w:]*)(\{([^}]*)\})?\s+(\S+)')
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = line_re.match(line)
        if not m:
            continue
        labels = tuple(sorted(re.findall(r'(\w+)="([^"]*)"', m.group(3) or "")))
        try:
            values[(m.group(1), labels)] = float(m.group(4))
        except ValueError:
            pass
    return values


def metric_sum(metrics: dict[tuple, float], name: str, **labels) -> float:
    wanted = set(labels.items())
    return sum(v for (n, l), v in metrics.items() if n == name and wanted <= set(l))


# --- processes -------------------------------------------------------------------------------


class Process:
    """A child process with its output in a log file; killed (SIGKILL) by `Processes` at exit."""

    def __init__(self, name: str, argv: list[str], env: dict, log_path: Path):
        self.name = name
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.popen = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE, stderr=self._log)
        self.url = None
        self._announced = threading.Event()
        threading.Thread(target=self._drain_stdout, daemon=True).start()

    def _drain_stdout(self):
        for raw in self.popen.stdout:
            self._log.write(raw)
            self._log.flush()
            if self.url is None:
                found = re.search(rb"http://\S+", raw)
                if found:
                    self.url = found.group(0).decode()
                    self._announced.set()

    def wait_announced(self, deadline: float = DEADLINE) -> str:
        if not self._announced.wait(deadline):
            raise TimeoutError(f"{self.name} did not print its address; see {self.log_path}")
        return self.url

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill9(self):
        if self.alive():
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait()

    def terminate(self, deadline: float = 30.0) -> int:
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(deadline)
            except subprocess.TimeoutExpired:
                self.kill9()
        return self.popen.returncode

    def cpu_seconds_by_thread(self) -> dict[str, float]:
        """User + system CPU seconds each thread has used so far, summed by thread name
        (`/proc/PID/task/*/stat`; threads that already ended are not counted)."""
        tick = os.sysconf("SC_CLK_TCK")
        totals: dict[str, float] = {}
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            try:
                stat = (task / "stat").read_text()
            except OSError:
                continue
            name = stat[stat.index("(") + 1:stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2:].split()
            totals[name] = totals.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
        return totals

    def memory_kib(self) -> dict[str, int]:
        """VmRSS (now) and VmHWM (peak resident since start) from /proc, in KiB."""
        readings = {}
        try:
            with open(f"/proc/{self.pid}/status") as status:
                for line in status:
                    key, _, rest = line.partition(":")
                    if key in ("VmRSS", "VmHWM"):
                        readings[key] = int(rest.split()[0])
        except FileNotFoundError:
            pass
        return readings


class Processes:
    """Every process a benchmark starts; all killed on exit, even after an exception."""

    def __init__(self):
        self.started: list[Process] = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for process in reversed(self.started):
            process.kill9()
        return False

    def start(self, name: str, argv: list[str], env: dict, log_path: Path) -> Process:
        process = Process(name, argv, env, log_path)
        self.started.append(process)
        return process


def work_dir(name: str) -> Path:
    """A fresh folder for one benchmark's outbox and logs (under target/, on the real disk)."""
    path = WORK_ROOT / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def drop_bulk(workdir: Path) -> None:
    """Removes a finished run's body files and databases (gigabytes after a 20 s ingest run at
    saturation; a full `run-all.sh` would otherwise fill the disk), keeping its logs."""
    freed = 0
    for path in workdir.iterdir():
        if path.is_file() and (path.suffix == ".txt" or ".db" in path.name or ".store" in path.name):
            freed += path.stat().st_size
            path.unlink()
    log(f"removed {freed / 2**30:.1f} GiB of body files and databases from {workdir}")


def base_env() -> dict:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "RUST_LOG": "warn",
            "ORDERSYNC_LOG_FORMAT": "text"}


def start_sandbox(procs: Processes, workdir: Path, *flags: str, name: str = "sandbox") -> Process:
    argv = [str(SANDBOX_BIN), "--listen", "127.0.0.1:0",
            "--cibler-api-key", CIBLER_KEY, "--cibler-customer-id", CIBLER_CUSTOMER,
            "--citrus-api-key", CITRUS_KEY, *flags]
    process = procs.start(name, argv, base_env(), workdir / f"{name}.log")
    process.wait_announced()
    return process


@dataclass
class RelaySettings:
    """How a relay is started. Timings are the relay's own flags (see crates/relay/README.md)."""
    database: Path
    cibler_url: str
    citrus_url: str
    listen: str = ""
    accept_unsigned: bool = False
    settings: dict = field(default_factory=dict)  # ORDERSYNC_* variables


# Load tests come from one client address: the per-client limit must not be what they measure.
UNLIMITED = {"ORDERSYNC_RATE_LIMIT_PER_MINUTE": "1000000000", "ORDERSYNC_RATE_LIMIT_BURST": "1000000"}


def start_relay(procs: Processes, workdir: Path, relay: RelaySettings, name: str = "relay",
                deadline: float = DEADLINE) -> Process:
    if not relay.listen:
        relay.listen = f"127.0.0.1:{free_port()}"
    env = base_env() | {
        "ORDERSYNC_SIGNING_SECRET": SIGNING_SECRET,
        "ORDERSYNC_CIBLER_BASE_URL": relay.cibler_url,
        "ORDERSYNC_CIBLER_CUSTOMER_ID": CIBLER_CUSTOMER,
        "ORDERSYNC_CIBLER_API_KEY": CIBLER_KEY,
        "ORDERSYNC_CIBLER_SITE_ID": "13",
        "ORDERSYNC_CIBLER_ENVIRONMENT": "Prod",
        "ORDERSYNC_CITRUS_BASE_URL": relay.citrus_url,
        "ORDERSYNC_CITRUS_API_KEY": CITRUS_KEY,
        "ORDERSYNC_CITRUS_TEAM_ID": CITRUS_TEAM,
    } | UNLIMITED | relay.settings
    argv = [str(RELAY_BIN), "serve", "--listen", relay.listen,
            "--database-url", f"sqlite://{relay.database}"]
    if relay.accept_unsigned:
        argv.append("--accept-unsigned")
    process = procs.start(name, argv, env, workdir / f"{name}.log")
    url = f"http://{relay.listen}"
    process.url = url

    def ready():
        if not process.alive():
            raise RuntimeError(f"the relay exited at start; see {process.log_path}")
        return http("GET", f"{url}/healthz", timeout=2).status == 200

    wait_for("the relay to answer /healthz", ready, deadline)
    return process


def relay_operator(database: Path, *args: str) -> subprocess.CompletedProcess:
    """`ordersync-relay ARGS --database-url ...` (an operator command, e.g. dead-letters)."""
    return subprocess.run([str(RELAY_BIN), *args, "--database-url", f"sqlite://{database}"],
                          env=base_env(), capture_output=True, text=True, check=True)


def relay_metrics(url: str) -> dict[tuple, float]:
    reply = http("GET", f"{url}/metrics", timeout=30)
    if reply.status != 200:
        raise RuntimeError(f"/metrics answered {reply.status} {reply.error}")
    return parse_metrics(reply.body.decode())


def queue_depth(metrics: dict[tuple, float], destination: str | None = None) -> float:
    """Orders still waiting (pending or retrying), for one destination or both."""
    labels = {"destination": destination} if destination else {}
    return sum(metric_sum(metrics, "ordersync_queue_depth", state=s, **labels)
               for s in ("pending", "retrying"))


def closed_port_url() -> str:
    """A loopback URL nothing listens on: a vendor that is down (connection refused)."""
    return f"http://127.0.0.1:{free_port()}"


def start_relay_vendors_down(procs: Processes, workdir: Path) -> Process:
    """The relay as the ingest benchmarks run it: its SQLite outbox in `workdir`, both vendors
    at a closed port, each order's first attempt made and then parked (VENDORS_DOWN_SETTINGS)."""
    down = closed_port_url()
    return start_relay(procs, workdir, RelaySettings(
        database=workdir / "outbox.db", cibler_url=down, citrus_url=down,
        settings=dict(VENDORS_DOWN_SETTINGS)))


class MemorySampler:
    """Samples a process's VmRSS every `interval` seconds in a thread; `peak_kib` is the
    largest sample, and the kernel's VmHWM is read at the end as a cross-check."""

    def __init__(self, process: Process, interval: float = 0.2):
        self.process = process
        self.interval = interval
        self.peak_kib = 0
        self.hwm_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.hwm_kib = self.process.memory_kib().get("VmHWM", 0)
        return False

    def _run(self):
        while not self._stop.is_set():
            rss = self.process.memory_kib().get("VmRSS", 0)
            self.peak_kib = max(self.peak_kib, rss)
            self._stop.wait(self.interval)


# Relay settings for runs whose vendors are down on purpose (a loopback port nothing listens
# on): each order gets its first delivery attempt (claimed, tried, rescheduled an hour later,
# the outbox writes a real delivery costs) and is then parked. The circuit stays off, so that
# every order keeps that first attempt: the workload measured since the first run.
VENDORS_DOWN_SETTINGS = {"ORDERSYNC_BACKOFF_BASE": "1h", "ORDERSYNC_BACKOFF_CAP": "1h",
                         "ORDERSYNC_CIRCUIT_THRESHOLD": "0"}


class CpuMeter:
    """CPU a process spent during a `with` block, per thread name; `per_request_us(n)` divides it
    by the requests served. CPU time, unlike throughput, barely depends on what else the
    machine runs, so it compares builds measured on a shared machine."""

    def __init__(self, process: Process):
        self.process = process
        self.by_thread: dict[str, float] = {}

    def __enter__(self):
        self._start = self.process.cpu_seconds_by_thread()
        return self

    def __exit__(self, *exc):
        end = self.process.cpu_seconds_by_thread()
        self.by_thread = {name: round(end[name] - self._start.get(name, 0.0), 3) for name in end}
        return False

    def per_request_us(self, requests: int) -> dict:
        total = sum(self.by_thread.values())
        return {
            "cpu_s": round(total, 3),
            "per_request_us": round(total * 1e6 / max(1, requests), 1),
            "by_thread_us": {name: round(sec * 1e6 / max(1, requests), 1)
                             for name, sec in sorted(self.by_thread.items()) if sec > 0},
        }


# --- wrk --------------------------------------------------------------------------------------

WRK_SCRIPT = ROOT / "bench/wrk/handoff.lua"


def wrk(url: str, bodies: Path | None, duration_s: float, connections: int, threads: int = 2,
        pace_ms: int = 0, timeout_s: int = 10, start_line: int = 0, pacing: str = "fixed") -> dict:
    """Runs wrk against `url` (POST, one body per line of `bodies`, each sent once in turn per
    thread) and returns the JSON summary the Lua script prints: requests, rps, status counts,
    latency percentiles in ms. `pace_ms` > 0 makes each connection wait that long between
    requests (an approximately fixed rate of connections * 1000 / pace_ms per second); with
    `pacing="random"` each pause is exponential of that mean (Poisson arrivals while idle)."""
    argv = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(duration_s))}s",
            "--timeout", f"{timeout_s}s", "-s", str(WRK_SCRIPT), url, "--",
            str(bodies or ""), str(pace_ms), str(threads), str(start_line), pacing]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + 120)
    marker = "WRK_JSON "
    for line in done.stdout.splitlines():
        if line.startswith(marker):
            return json.loads(line[len(marker):])
    raise RuntimeError(f"wrk gave no summary (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")


def machine_facts() -> dict:
    load = os.getloadavg()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "cores": os.cpu_count(),
        "loadavg_at_start": [round(x, 2) for x in load],
        "kernel": os.uname().release,
    }


def save_result(name: str, result: dict) -> Path:
    """Writes `target/bench-results/<name>.json` (bench/run-all.sh collects them)."""
    out_dir = Path(os.environ.get("ORDERSYNC_BENCH_RESULTS", ROOT / "target/bench-results"))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    log(f"wrote {path}")
    return path


def fsync_floor(directory: Path, count: int = 300) -> dict:
    """The disk's cost of one durable commit: `count` 4 KiB writes into a preallocated file
    (as SQLite reuses its WAL), each followed by fdatasync, in `directory`. A writer that
    syncs once per checkout, one at a time, cannot commit more checkouts per second than
    `serial_fsyncs_per_s`; doing better needs several commits per sync (group commit)."""
    path = directory / "fsync-probe"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC)
    timings = []
    try:
        os.write(fd, b"\0" * (4 << 20))
        os.fsync(fd)
        for n in range(count):
            os.pwrite(fd, b"x" * 4096, (n % 1024) * 4096)
            start = time.perf_counter()
            os.fdatasync(fd)
            timings.append(time.perf_counter() - start)
    finally:
        os.close(fd)
        path.unlink()
    timings.sort()
    mean = sum(timings) / len(timings)
    return {
        "fdatasync_ms_p50": round(timings[len(timings) // 2] * 1e3, 3),
        "fdatasync_ms_p99": round(timings[int(len(timings) * 0.99) - 1] * 1e3, 3),
        "fdatasync_ms_mean": round(mean * 1e3, 3),
        "serial_fsyncs_per_s": round(1 / mean, 1),
    }


def sandbox_journal(url: str) -> list[dict]:
    """Every request the sandbox recorded (`GET /__sandbox/requests`), in order of arrival."""
    reply = http("GET", f"{url}/__sandbox/requests", timeout=600)
    if reply.status != 200:
        raise RuntimeError(f"/__sandbox/requests answered {reply.status} {reply.error}")
    return json.loads(reply.body)


def set_faults(url: str, settings: dict) -> None:
    reply = http("PUT", f"{url}/__sandbox/faults", json.dumps(settings).encode())
    if reply.status != 200:
        raise RuntimeError(f"PUT /__sandbox/faults answered {reply.status}: {reply.body!r}")


def deliveries_in_journal(journal: list[dict]) -> dict[str, dict[str, int]]:
    """Order id -> number of times each vendor answered 2xx for it: CibleR per request
    (`orderInformation.orderId`), CitrusAd per order of each accepted batch (`id`)."""
    counts = {"cibler": {}, "citrusad": {}}
    for entry in journal:
        status = entry.get("status") or 0
        if not 200 <= status < 300 or entry.get("method") != "POST":
            continue
        body = entry.get("body") or {}
        if entry["path"].startswith("/api/campaignBehaviors/order/"):
            order_id = str(body["orderInformation"]["orderId"])
            counts["cibler"][order_id] = counts["cibler"].get(order_id, 0) + 1
        elif entry["path"] == "/v1/orders":
            for order in body.get("orders", []):
                order_id = str(order["id"])
                counts["citrusad"][order_id] = counts["citrusad"].get(order_id, 0) + 1
    return counts


def journal_violations(journal: list[dict]) -> list[str]:
    return [f"{e['path']}: {v}" for e in journal for v in e.get("violations") or []]


def wait_drained(relay_url: str, deadline: float, poll: float = 1.0,
                 on_sample=None) -> dict[str, float]:
    """Polls /metrics until no order waits (pending or retrying) at either destination.
    Returns, per destination, the seconds it took to reach zero."""
    start = time.monotonic()
    drained: dict[str, float] = {}
    while True:
        metrics = relay_metrics(relay_url)
        elapsed = time.monotonic() - start
        if on_sample:
            on_sample(elapsed, metrics)
        for destination in ("cibler", "citrusad"):
            if destination not in drained and queue_depth(metrics, destination) == 0:
                drained[destination] = round(elapsed, 2)
        if len(drained) == 2:
            return drained
        if elapsed > deadline:
            raise TimeoutError(f"queue not drained after {deadline}s: "
                               f"cibler {queue_depth(metrics, 'cibler')}, "
                               f"citrusad {queue_depth(metrics, 'citrusad')}")
        time.sleep(poll)


def copy_order_up_to(database: Path, total_orders: int, template_where: str = "1",
                     checkout_overrides: dict | None = None,
                     delivery_overrides: dict | None = None) -> float:
    """Tops the SQLite outbox up to `total_orders` orders by copying an order the relay stored
    (its `ordersync_checkouts` row, the first matching `template_where`, and its
    `ordersync_deliveries` rows; crates/relay/src/outbox/sqlite/schema.rs) under new order ids
    (its canonical checkout carrying the new id), with `checkout_overrides` and
    `delivery_overrides` (column: value) applied. One transaction. Returns seconds."""
    import sqlite3
    started = time.monotonic()
    db = sqlite3.connect(database, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        (have,) = db.execute("SELECT COUNT(*) FROM ordersync_checkouts WHERE pruned_at IS NULL").fetchone()
        checkout_columns = [row[1] for row in db.execute("PRAGMA table_info(ordersync_checkouts)")]
        found = db.execute(f"SELECT * FROM ordersync_checkouts AS c WHERE pruned_at IS NULL AND ({template_where}) "
                           "LIMIT 1").fetchone()
        if found is None:
            raise RuntimeError(f"no stored order where {template_where}")
        checkout = dict(zip(checkout_columns, found)) | (checkout_overrides or {})
        delivery_columns = [row[1] for row in db.execute("PRAGMA table_info(ordersync_deliveries)")
                            if row[1] != "id"]
        deliveries = [dict(zip(delivery_columns, row)) | (delivery_overrides or {}) for row in db.execute(
            f"SELECT {', '.join(delivery_columns)} FROM ordersync_deliveries WHERE order_id = ?",
            (checkout["order_id"],))]
        marker = f'"orderId":"{checkout["order_id"]}"'
        if marker not in checkout["checkout_json"]:
            raise RuntimeError(f"the stored checkout does not carry {marker}: {checkout['checkout_json'][:120]}")
        insert_checkout = (f"INSERT INTO ordersync_checkouts ({', '.join(checkout_columns)}) "
                           f"VALUES ({', '.join('?' * len(checkout_columns))})")
        insert_delivery = (f"INSERT INTO ordersync_deliveries ({', '.join(delivery_columns)}) "
                           f"VALUES ({', '.join('?' * len(delivery_columns))})")
        first = 900_000_000
        copies = total_orders - have
        db.execute("BEGIN")
        for n in range(copies):
            order_id = str(first + n)
            row = dict(checkout, order_id=order_id,
                       checkout_json=checkout["checkout_json"].replace(marker, f'"orderId":"{order_id}"'))
            db.execute(insert_checkout, [row[c] for c in checkout_columns])
            for delivery in deliveries:
                db.execute(insert_delivery, [dict(delivery, order_id=order_id)[c] for c in delivery_columns])
        db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    return time.monotonic() - started


def stored_orders(metrics: dict[tuple, float]) -> float:
    """Checkouts in the outbox: every stored checkout has one CibleR row, whatever its state.
    (Counted from the outbox, not from `ordersync_checkouts_accepted_total`, which misses a
    checkout whose client hung up before the answer even though it was stored.)"""
    return metric_sum(metrics, "ordersync_queue_depth", destination="cibler")


def fill_by_wrk(relay_url: str, bodies: Path, target_stored: int, deadline: float,
                connections: int = 16) -> float:
    """Posts the bodies (each a distinct order) with wrk in short runs, each continuing where
    the last stopped, until the outbox holds `target_stored` checkouts or `deadline` seconds
    pass. Returns the number stored."""
    start = time.monotonic()
    with open(bodies, "rb") as lines:
        body_count = sum(1 for _ in lines)
    sent = 0
    while True:
        stored = stored_orders(relay_metrics(relay_url))
        if stored >= target_stored or time.monotonic() - start > deadline:
            return stored
        left = target_stored - stored
        if sent >= body_count:
            # Every body went out, yet some were not stored: those a run's end cut in flight
            # (wrk drops them unanswered). Send them all again; the stored ones are repeats.
            sent = 0
        # Each run starts `connections` lines back: the requests in flight when the previous
        # run ended were dropped unanswered, and their lines are not in its count.
        run = wrk(f"{relay_url}/v1/checkouts", bodies, min(10, max(1, left / 500)), connections,
                  start_line=max(sent - connections, 0))
        sent = max(sent - connections, 0) + run["requests"]
