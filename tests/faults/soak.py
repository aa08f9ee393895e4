#!/usr/bin/env python3
"""The soak check (issue 13, item 8): steady load for several minutes; the servers' memory must stay
flat. Not run in CI (too long); `make soak` runs it through tests/faults/run.sh.

    soak.py --bin target/debug/simplechat --tmp /tmp/some-dir [--minutes 3] [--rate 1000]

Starts its own Redis and Postgres (spare loopback ports), two instances, and the project's own load
generator (`simplechat bench --scenarios cross`: senders on the first instance, receivers on the
second, every message checked for loss, duplicates and order). While it runs, each instance's RSS
is read from /proc every few seconds; after a warm-up, a least-squares line through the samples
gives the slope, reported in KiB per minute and in bytes per message sent. /metrics is NOT scraped
(unless --scrape), because an unscraped Prometheus recorder is exactly what used to grow.
Exit status 1 when the slope of either instance exceeds --max-bytes-per-msg, or the load generator
reports a problem.
"""

import argparse
import os
import subprocess
import sys
import threading
import time

from infra import Instance, Pids, Postgres, Redis, http, log, server_env


def slope(points):
    """Least-squares slope of (x, y) points."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    sxy = sum((x - mx) * (y - my) for x, y in points)
    return sxy / sxx if sxx else 0.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", required=True)
    parser.add_argument("--tmp", required=True)
    parser.add_argument("--minutes", type=float, default=float(os.environ.get("SOAK_MINUTES", 3)))
    parser.add_argument("--rate", type=int, default=int(os.environ.get("SOAK_RATE", 1000)),
                        help="messages per second in all")
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--sample-every", type=float, default=5.0, help="seconds between RSS samples")
    parser.add_argument("--warm-up", type=float, default=None,
                        help="seconds of samples left out of the slope (default: the first 20%%, at least 20 s)")
    parser.add_argument("--max-bytes-per-msg", type=float,
                        default=float(os.environ.get("SOAK_MAX_BYTES_PER_MSG", 4.0)))
    parser.add_argument("--scrape", action="store_true", help="GET /metrics every 5 s (for comparison)")
    args = parser.parse_args()

    pids = Pids(args.tmp)
    redis = Redis(args.tmp, pids)
    pg = Postgres(args.tmp, pids)
    instances = []
    bench = None
    try:
        log(f"starting Redis on 127.0.0.1:{redis.port} and Postgres on 127.0.0.1:{pg.port}")
        redis.start()
        pg.init()
        pg.start()
        # The load generator's receivers never ping (its scenarios last seconds), so a long
        # heartbeat keeps them from being closed with 4000 after two intervals.
        env = server_env(pg, redis, "soak", "soak:", heartbeat="1h")
        # As docker/bench.sh: no per-connection send limit, deeper outbound queues, quiet logs.
        env.update(WS_SEND_RATE="1000000", WS_OUTBOUND_QUEUE="4096", DATABASE_POOL_SIZE="16")
        os.environ.setdefault("FAULTS_RUST_LOG", "warn")
        for name in ("A", "B"):
            inst = Instance(args.tmp, pids, args.bin, name, env)
            inst.start()
            inst.wait_ready()
            instances.append(inst)
            log(f"{name} ready on 127.0.0.1:{inst.port} (pid {inst.proc.pid})")
        seconds = args.minutes * 60
        bench_log = os.path.join(args.tmp, "bench.log")
        command = [args.bin, "bench", "--url", instances[0].base, "--url2", instances[1].base,
                   "--scenarios", "cross", "--pairs", str(args.pairs), "--rate", str(args.rate),
                   "--duration", f"{int(seconds)}s"]
        log(f"load: {args.rate} msgs/s for {args.minutes:g} min ({args.pairs} pairs, senders on A, "
            f"receivers on B); RSS sampled every {args.sample_every:g}s")
        with open(bench_log, "w", encoding="utf-8") as out:
            bench = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        pids.add(bench.pid, "bench")
        stop = threading.Event()
        if args.scrape:
            def scrape():
                while not stop.wait(5):
                    for inst in instances:
                        http("GET", f"{inst.base}/metrics", timeout=5)
            threading.Thread(target=scrape, daemon=True).start()
        t0 = time.monotonic()
        samples = {inst.name: [] for inst in instances}
        deadline = t0 + seconds + 120
        while bench.poll() is None and time.monotonic() < deadline:
            t = time.monotonic() - t0
            line = []
            for inst in instances:
                rss = inst.rss_kib()
                if rss is not None:
                    samples[inst.name].append((t, rss))
                    line.append(f"{inst.name} {rss / 1024:.1f} MiB")
            log(f"  t={t:5.0f}s  RSS " + ", ".join(line))
            time.sleep(args.sample_every)
        stop.set()
        if bench.poll() is None:
            bench.kill()
            log("FAILED: the load generator did not finish in time")
            return 1
        with open(bench_log, encoding="utf-8", errors="replace") as f:
            report = f.read()
        print(report[-3000:], flush=True)
        # Bytes per message use the rate the load generator reached (acked/s), not the asked one.
        rate = float(args.rate)
        for row in report.splitlines():
            cells = [c.strip() for c in row.strip().strip("|").split("|")]
            if cells and cells[0] == "cross" and len(cells) > 3:
                try:
                    rate = float(cells[3])
                except ValueError:
                    pass
        warm_up = args.warm_up if args.warm_up is not None else max(20.0, 0.2 * seconds)
        ok = bench.returncode == 0
        if not ok:
            log(f"FAILED: the load generator exited with {bench.returncode}")
        print("", flush=True)
        for inst in instances:
            points = [(t, kib) for t, kib in samples[inst.name] if warm_up <= t <= seconds]
            if len(points) < 3:
                log(f"FAILED: too few samples for {inst.name} after the warm-up")
                ok = False
                continue
            per_s = slope(points) * 1024  # bytes per second
            per_msg = per_s / rate if rate > 0 else float("inf")
            first, last = points[0][1] / 1024, points[-1][1] / 1024
            good = per_msg <= args.max_bytes_per_msg
            ok = ok and good
            print(f"SOAK {inst.name}: rate={rate:.0f}/s (asked {args.rate}) minutes={args.minutes:g} "
                  f"rss_start={first:.1f}MiB rss_end={last:.1f}MiB "
                  f"slope={per_s * 60 / 1024:.1f}KiB/min bytes_per_msg={per_msg:.2f} "
                  f"(limit {args.max_bytes_per_msg:g}) {'PASS' if good else 'FAIL'}", flush=True)
        return 0 if ok else 1
    finally:
        if bench is not None and bench.poll() is None:
            bench.kill()
        for inst in instances:
            inst.stop()
        redis.stop()
        try:
            pg.stop("immediate")
        except Exception as err:
            log(f"stopping Postgres: {err}")


if __name__ == "__main__":
    sys.exit(main())
