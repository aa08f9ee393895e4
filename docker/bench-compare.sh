#!/usr/bin/env bash
# `make bench-compare` (also a step of `make bench`): this build side by side with an older one,
# in one run on one machine. CPU time per message moves with whatever else the box is doing, so
# an absolute figure from another day means little; the ratio of two builds measured in turns,
# minutes apart, survives that noise. The older build is BASELINE_REF (default 44533c0, the build
# issue 30 measures against), built in a worktree under .bench-baseline/ with a target folder of
# its own; BASELINE_BIN names a binary built already instead (CURRENT_BIN and CURRENT_LABEL do the
# same for this build).
#
# Each round runs `private` (flat out), `latency` (5000/s) and `group` (flat out) against two
# fresh instances of each build in turn — baseline, current, baseline, current, … — each on a
# fresh database and Redis prefix, with this build's load generator; then as many rounds of a
# reconnect storm (COMPARE_STORM sockets, default 5000; 0 skips them) and of a failover (the first
# instance killed with COMPARE_FAILOVER sockets on it, default 5000, which return to the second
# while a bystander pair chats there; 0 skips them). With COMPARE_CLUSTER=1 (the default), a
# local Redis Cluster of 3 masters and 3 replicas (docker/redis-cluster.sh, ports 7030–7035) then
# carries as many rounds of `latency` and of the failover for each build, for the median the
# cluster adds to send→deliver and the failover as issue 30 sets it. Writes the "Side by side" section of
# docs/BENCHMARKS.md: each build's median CPU µs per message over the rounds, by process, and
# their ratio; the storms' and failovers' medians and ratios. Everything stays on 127.0.0.0/8
# and every step is bounded in time.
#
# COMPARE_SCRATCH_PG=PORT runs every round on a Postgres of its own, started here on PORT with
# Postgres' stock settings (autovacuum on, as in production), instead of the shared one on 5432.
# A shared Postgres with autovacuum off never analyses the tables a run fills, so a build's
# statements may fall to a poor plan part-way through a round; which build that hurts depends on
# its statements, not on its cost per message. Needs root (initdb runs as the postgres user).
set -euo pipefail
cd "$(dirname "$0")/.."

baseline_ref=${BASELINE_REF:-44533c0}
rounds=${COMPARE_ROUNDS:-3}
duration=${COMPARE_DURATION:-10s}
storm=${COMPARE_STORM:-5000}
failover=${COMPARE_FAILOVER:-5000}
cluster=${COMPARE_CLUSTER:-1}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
workdir=$(mktemp -d)

source docker/bench-builds.sh
prepare_builds

pg_port=5432
stop_scratch_pg() { :; }
if [ -n "${COMPARE_SCRATCH_PG:-}" ]; then
  pg_port=$COMPARE_SCRATCH_PG
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  pg_home=$workdir/pg # owned by the postgres user: the data folder and the server log
  chmod 755 "$workdir"
  mkdir "$pg_home" && chown postgres "$pg_home"
  runuser -u postgres -- "$pg_bin/initdb" -D "$pg_home/data" -U postgres -A trust >/dev/null
  runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_home/data" -l "$pg_home/postgres.log" -w start \
    -o "-p $pg_port -k $pg_home -c listen_addresses=127.0.0.1" >/dev/null
  stop_scratch_pg() {
    runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_home/data" -m immediate stop >/dev/null 2>&1 || true
  }
fi
trap 'end_run; stop_scratch_pg; rm -rf "$workdir"' EXIT
# psql (in end_run and meter_processes) reads the port from here.
export PGPORT=$pg_port

source docker/bench-server.sh
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
meter_processes

# run_build BUILD OUT SECONDS ARGS…: both instances of BUILD on a fresh database and Redis
# prefix (and the settings in $server_env), this build's load generator on them with ARGS for at
# most SECONDS; its scenario rows to OUT.
server_env=()
run_build() {
  local build=$1 out=$2 seconds=$3
  shift 3
  bin=$workdir/$build
  run_id=compare_${build}_$(date +%s)_$RANDOM
  database_url=postgres://postgres@127.0.0.1:$pg_port/$run_id
  start_server 18191 1 "${server_env[@]}"
  start_server 18192 2 "${server_env[@]}"
  # A build that loses, duplicates or reorders a message makes the load generator exit non-zero
  # after its table: the row (with its `lost` column) is kept and the comparison goes on, so one
  # build's failure is reported beside the other build's figures instead of ending the run.
  timeout "$seconds" "$workdir/current" bench --url http://127.0.0.1:18191 --url2 http://127.0.0.1:18192 \
    --server-pid "${pids[0]},${pids[1]}" "$@" \
    | grep '^| [a-z]' | grep -v '^| scenario' >"$out" \
    || echo "bench-compare: $build reported a failure; its row says which" >&2
  [ -s "$out" ] || { echo "bench-compare: no figures from $build" >&2; exit 1; }
  end_run
}

# run_one BUILD ROUND: the three messaging scenarios, to $workdir/BUILD-ROUND.md.
run_one() {
  echo "bench-compare: round $2, $1" >&2
  run_build "$1" "$workdir/$1-$2.md" 300 --scenarios private,latency,group "${meter[@]}" \
    --pairs 100 --duration "$duration" --latency-rate 5000 --groups 100 --group-size 10
}

# run_storm BUILD ROUND: a reconnect storm ($storm sockets close at once while as many others
# open), to $workdir/storm-BUILD-ROUND.md. COMPARE_STORM=0 skips the storms.
run_storm() {
  echo "bench-compare: storm $2, $1" >&2
  run_build "$1" "$workdir/storm-$1-$2.md" 600 --scenarios storm --storm "$storm"
}

# run_failover BUILD ROUND [PREFIX]: the first instance is killed with $failover sockets on it,
# to $workdir/PREFIXfailover-BUILD-ROUND.md. COMPARE_FAILOVER=0 skips them.
run_failover() {
  echo "bench-compare: ${3:-}failover $2, $1" >&2
  run_build "$1" "$workdir/${3:-}failover-$1-$2.md" 600 --scenarios failover --failover "$failover"
}

for round in $(seq 1 "$rounds"); do
  run_one baseline "$round"
  run_one current "$round"
done
if [ "$storm" != 0 ]; then
  for round in $(seq 1 "$rounds"); do
    run_storm baseline "$round"
    run_storm current "$round"
  done
fi
if [ "$failover" != 0 ]; then
  for round in $(seq 1 "$rounds"); do
    run_failover baseline "$round"
    run_failover current "$round"
  done
fi
if [ "$cluster" != 0 ]; then
  export REDIS_CLUSTER_PORT=7030 REDIS_CLUSTER_DIR=$workdir/cluster
  docker/redis-cluster.sh start
  trap 'end_run; docker/redis-cluster.sh stop || true; stop_scratch_pg; rm -rf "$workdir"' EXIT
  server_env=(REDIS_CLUSTER_NODES="$(docker/redis-cluster.sh nodes)")
  for round in $(seq 1 "$rounds"); do
    for build in baseline current; do
      echo "bench-compare: latency on the cluster $round, $build" >&2
      run_build "$build" "$workdir/cluster-$build-$round.md" 120 --scenarios latency \
        --pairs 100 --duration "$duration" --latency-rate 5000
    done
  done
  if [ "$failover" != 0 ]; then
    for round in $(seq 1 "$rounds"); do
      run_failover baseline "$round" cluster-
      run_failover current "$round" cluster-
    done
  fi
  server_env=()
  docker/redis-cluster.sh stop
fi

# The medians, by scenario and process, and the ratios: one Markdown table.
python3 - "$workdir" "$rounds" "$baseline_ref" "$current_label" "$storm" "$failover" "$cluster" >"$workdir/section.md" <<'PY'
import re, statistics, sys
workdir, rounds, base_ref, head = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
procs = ["servers", "Postgres", "Redis", "generator"]
def read(build):
    out = {}
    for r in range(1, rounds + 1):
        for line in open(f"{workdir}/{build}-{r}.md"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            m = re.search(r"\): ([\d.]+) / ([\d.]+) / ([\d.]+) / ([\d.]+)", cells[-1])
            if not m:
                continue
            row = out.setdefault(cells[0], {"cpu": [], "rate": []})
            row["cpu"].append([float(v) for v in m.groups()])
            row["rate"].append(float(cells[3]))
    return {k: {"cpu": [statistics.median(c[i] for c in v["cpu"]) for i in range(4)],
                "rate": statistics.median(v["rate"])} for k, v in out.items()}
base, cur = read("baseline"), read("current")
print(f"Median of {rounds} rounds, each build's two instances on a fresh database, in turns "
      f"(baseline first). CPU µs per message by process: servers / Postgres / Redis / generator.")
print()
print(f"| scenario | {base_ref}: acked/s | {head}: acked/s | {base_ref}: CPU µs/msg | {head}: CPU µs/msg | ratio servers | ratio Postgres | ratio all four |")
print("|---|---|---|---|---|---|---|---|")
for name in cur:
    if name not in base:
        continue
    b, c = base[name], cur[name]
    ratio = lambda i: f"{c['cpu'][i] / b['cpu'][i]:.2f}×" if b["cpu"][i] else "–"
    total = f"{sum(c['cpu']) / sum(b['cpu']):.2f}×"
    fmt = lambda v: " / ".join(f"{x:.0f}" for x in v)
    print(f"| {name} | {b['rate']:.0f} | {c['rate']:.0f} | {fmt(b['cpu'])} | {fmt(c['cpu'])} | {ratio(0)} | {ratio(1)} | {total} |")

storm = int(sys.argv[5])
if storm:
    def storms(build):
        p99s, alls, lost = [], [], 0
        for r in range(1, rounds + 1):
            line = open(f"{workdir}/storm-{build}-{r}.md").read()
            m = re.search(r"p50/p99/max: [\d.]+ / ([\d.]+) / [\d.]+; all ready after: (\d+) ms", line)
            p99s.append(float(m.group(1)))
            alls.append(float(m.group(2)))
            lost += int([c.strip() for c in line.strip().strip("|").split("|")][7])
        return statistics.median(p99s), statistics.median(alls), lost
    (bp, ba, bl), (cp, ca, cl) = storms("baseline"), storms("current")
    print()
    print(f"Reconnect storm, median of {rounds} in turns: {storm} sockets close at once on the two "
          f"instances while {storm} others open (one Redis); the fresh sockets' time to `ready`.")
    print()
    print(f"| build | fresh sockets' ready p99 ms | all ready after ms | messages lost |")
    print("|---|---|---|---|")
    print(f"| {base_ref} | {bp:.0f} | {ba:.0f} | {bl} |")
    print(f"| {head} | {cp:.0f} ({cp / bp:.2f}×) | {ca:.0f} ({ca / ba:.2f}×) | {cl} |")

failover, cluster = int(sys.argv[6]), int(sys.argv[7])
def failover_table(prefix, where):
    def failovers(build):
        backs, calms, storms_, lost = [], [], [], 0
        for r in range(1, rounds + 1):
            line = open(f"{workdir}/{prefix}failover-{build}-{r}.md").read()
            backs.append(float(re.search(r"all back after: (\d+) ms", line).group(1)))
            calms.append(float(re.search(r"before the kill: [\d.]+ / ([\d.]+)", line).group(1)))
            storms_.append(float(re.search(r"while they return: [\d.]+ / ([\d.]+)", line).group(1)))
            lost += int([c.strip() for c in line.strip().strip("|").split("|")][7])
        return (statistics.median(backs), statistics.median(calms), statistics.median(storms_), lost)
    (bb, bc, bs, bl), (cb, cc, cs, cl) = failovers("baseline"), failovers("current")
    print()
    print(f"Failover {where}, median of {rounds} in turns: the first instance is killed with "
          f"{failover} sockets on it; they return to the second, each after its share of a 1 s "
          f"jitter, while a bystander pair there exchanges a message every 10 ms.")
    print()
    print("| build | all back after ms | bystander send→deliver p99 ms, before the kill | while they return | messages lost |")
    print("|---|---|---|---|---|")
    print(f"| {base_ref} | {bb:.0f} | {bc:.1f} | {bs:.1f} | {bl} |")
    print(f"| {head} | {cb:.0f} ({cb / bb:.2f}×) | {cc:.1f} | {cs:.1f} ({cs / bs:.2f}×) | {cl} |")
if failover:
    failover_table("", "on one Redis")
if cluster:
    def p50s(name):
        values = []
        for r in range(1, rounds + 1):
            for line in open(f"{workdir}/{name}-{r}.md"):
                cells = [c.strip() for c in line.strip().strip("|").split("|")]
                if cells[0].startswith("latency"):
                    values.append(float(cells[6].split("/")[0]))
        return statistics.median(values)
    print()
    print(f"`latency` (100 pairs at 5000/s) on one Redis and on a Redis Cluster of 3 masters and 3 "
          f"replicas, median of {rounds} rounds: send→deliver p50, and what the cluster adds.")
    print()
    print("| build | one Redis p50 ms | cluster p50 ms | the cluster adds |")
    print("|---|---|---|---|")
    for build, label in (("baseline", base_ref), ("current", head)):
        single, spread = p50s(build), p50s(f"cluster-{build}")
        print(f"| {label} | {single:.1f} | {spread:.1f} | {spread - single:+.1f} ms |")
    if failover:
        failover_table("cluster-", "on the Redis Cluster")
PY
cat "$workdir/section.md"

# Replace the section in docs/BENCHMARKS.md; "Scaled out" stays last (docker/bench-scale.sh).
touch docs/BENCHMARKS.md
{
  awk '/^## Side by side/ { skip = 1; next } /^## Scaled out/ { exit } /^## / { skip = 0 } !skip' docs/BENCHMARKS.md
  echo "## Side by side with $baseline_ref"
  echo
  echo "Written by \`make bench-compare\` (docker/bench-compare.sh) on $(date -u +%Y-%m-%d), $(nproc) cores: this build"
  echo "($current_label) and $baseline_ref, with this build's load generator and \`make bench\`'s"
  echo "server settings, $duration per scenario: 100 pairs, \`latency\` at 5000/s, 100 groups of 10."
  echo "Postgres: $(if [ -n "${COMPARE_SCRATCH_PG:-}" ]; then echo "one of the run's own, stock settings"; else echo "the shared one"; fi) (autovacuum $(psql -h 127.0.0.1 -U postgres -Atc 'show autovacuum'))."
  echo
  cat "$workdir/section.md"
  echo
  sed -n '/^## Scaled out/,$p' docs/BENCHMARKS.md
} >"$workdir/BENCHMARKS.md"
mv "$workdir/BENCHMARKS.md" docs/BENCHMARKS.md
echo "wrote the 'Side by side' section of docs/BENCHMARKS.md" >&2
