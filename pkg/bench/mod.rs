//! `simplechat bench`: a load generator that speaks the real protocol (register, login, ticket,
//! WebSocket) against running servers, measures throughput and latency, and checks correctness
//! (no loss, no duplicate, `seq` in order) while it does. `make bench` starts the servers and
//! writes `docs/BENCHMARKS.md`; see `docker/bench.sh`.
//!
//! Targets loopback servers only; every scenario is bounded in count and time.

mod client;
mod cost;
mod failover;
mod idle;
mod latency;
mod login_flood;
mod plots;
mod progress;
mod report;
mod scenarios;
mod search_flood;
mod stats;
mod storm;
mod targets;
mod uploads;

use std::{path::PathBuf, time::Duration};

use anyhow::bail;
use clap::{Args, ValueEnum};

use client::Api;
use cost::CpuMeter;
use report::Report;

/// The scenarios `simplechat bench` can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    Idle,
    Private,
    /// `private` at `--latency-rate`: below saturation, so send→deliver is the latency a user
    /// sees rather than time spent queueing (flat out, latency only measures the queue).
    Latency,
    Group,
    Cross,
    Reconnect,
    /// Wrong logins from `--flood-clients` clients while one user reads and sends; run it against
    /// a server at a production BCRYPT_COST with the auth rate limits off.
    LoginFlood,
    /// `--uploads` files of `--upload-bytes` uploaded at once: MB/s, time per upload, the first
    /// server's memory.
    Upload,
    /// `--parallel-searches` searches for `--search-query` by `--searcher` at once, back to
    /// back, while another user sends every 20 ms: that user's send→ack (docker/fair-share-bench.sh).
    SearchFlood,
    /// A reconnect storm: `--storm` sockets close at once while as many fresh ones open; the
    /// fresh sockets' time to `ready` (p50/p99/max, 503 retries included) and no message lost.
    Storm,
    /// An instance is killed with `--failover` sockets on it (`--url`, its process the first
    /// `--server-pid`); they return to `--url2` while a bystander pair there chats: the time until
    /// all are back, the bystander's send→deliver, nothing lost.
    Failover,
}

/// Options of `simplechat bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The server to load (http://<loopback ip>:<port>).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// A second instance, for `cross` (receivers connect there).
    #[arg(long)]
    pub url2: Option<String>,
    /// Scenarios to run, in order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "private,group"
    )]
    pub scenarios: Vec<Scenario>,
    /// Sender/receiver pairs for `private` and `cross`.
    #[arg(long, default_value_t = 10)]
    pub pairs: usize,
    /// Messages per second in all (0: as fast as acks come back).
    #[arg(long, default_value_t = 0)]
    pub rate: u32,
    /// Messages per second in all for `latency`.
    #[arg(long, default_value_t = 5000)]
    pub latency_rate: u32,
    /// How many times `latency` runs in a row (the spread of its p99 is reported).
    #[arg(long, default_value_t = 1)]
    pub latency_runs: usize,
    /// How long each messaging scenario sends.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Groups for `group`.
    #[arg(long, default_value_t = 4)]
    pub groups: usize,
    /// Members per group.
    #[arg(long, default_value_t = 10)]
    pub group_size: usize,
    /// Connections for `idle`.
    #[arg(long, default_value_t = 200)]
    pub idle: usize,
    /// How long `idle` holds its connections.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub idle_hold: Duration,
    /// The servers' process ids, comma-separated, so the scenarios can read their CPU (and
    /// `idle` the first one's memory) from /proc.
    #[arg(long = "server-pid", value_delimiter = ',')]
    pub server_pids: Vec<u32>,
    /// The Postgres to meter (its main process id; its backends are its children). Without it,
    /// every `postgres` process of the machine counts.
    #[arg(long)]
    pub postgres_pid: Option<u32>,
    /// The Redis to meter. Without it, every `redis-server` process of the machine counts.
    #[arg(long)]
    pub redis_pid: Option<u32>,
    /// Clients for `reconnect`.
    #[arg(long, default_value_t = 20)]
    pub reconnect: usize,
    /// Sockets closing, and as many opening, at once for `storm`.
    #[arg(long, default_value_t = 200)]
    pub storm: usize,
    /// Sockets on the killed instance for `failover`.
    #[arg(long, default_value_t = 200)]
    pub failover: usize,
    /// Clients logging in with wrong passwords for `login-flood`.
    #[arg(long, default_value_t = 50)]
    pub flood_clients: usize,
    /// Concurrent uploads for `upload`.
    #[arg(long, default_value_t = 100)]
    pub uploads: usize,
    /// Bytes per upload for `upload`.
    #[arg(long, default_value_t = 1024 * 1024)]
    pub upload_bytes: usize,
    /// The user who searches in `search-flood` (an existing user with the bench password).
    #[arg(long)]
    pub searcher: Option<String>,
    /// What `search-flood` searches for.
    #[arg(long, default_value = "a")]
    pub search_query: String,
    /// Searches `search-flood` keeps running at once.
    #[arg(long, default_value_t = 20)]
    pub parallel_searches: usize,
    /// Messages each `reconnect` client missed.
    #[arg(long, default_value_t = 10)]
    pub missed: usize,
    /// This box's Redis PUBLISH rate (from redis-benchmark), to report our rates against.
    #[arg(long)]
    pub redis_publish_rate: Option<f64>,
    /// This box's single-row Postgres INSERT rate (from pgbench), to report our rates against.
    #[arg(long)]
    pub postgres_insert_rate: Option<f64>,
    /// Draw the latency percentiles and the CPU per message as SVG into this folder.
    #[arg(long)]
    pub plots: Option<PathBuf>,
    /// Write the cost targets, met or missed, as a Markdown table to this file.
    #[arg(long)]
    pub targets: Option<PathBuf>,
}

/// Runs the chosen scenarios, prints a Markdown table and a closing `bench: N passed, M failed`
/// line; fails when any scenario saw a correctness problem.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    for url in std::iter::once(&args.url).chain(args.url2.as_ref()) {
        let host = url.trim_start_matches("http://");
        if !host.starts_with("127.") && !host.starts_with("localhost") && !host.starts_with("[::1]")
        {
            bail!("bench targets loopback servers only, not {url}");
        }
    }
    let api = Api::new(&args.url);
    let meter = CpuMeter::new(args.server_pids.clone(), args.postgres_pid, args.redis_pid);
    let mut reports = Vec::new();
    for scenario in &args.scenarios {
        eprintln!("bench: running {scenario:?}");
        if *scenario == Scenario::Latency {
            let (rate, runs) = (args.latency_rate, args.latency_runs.max(1));
            let paced = latency::runs(&api, args.pairs, rate, args.duration, runs, &meter);
            reports.extend(paced.await?);
            continue;
        }
        let report = match scenario {
            Scenario::Private => {
                scenarios::private(&api, None, args.pairs, args.rate, args.duration, &meter).await?
            }
            Scenario::Cross => {
                let Some(url2) = &args.url2 else {
                    bail!("cross needs --url2");
                };
                let far = Api::new(url2);
                scenarios::private(
                    &api,
                    Some(&far),
                    args.pairs,
                    args.rate,
                    args.duration,
                    &meter,
                )
                .await?
            }
            Scenario::Group => {
                scenarios::group(
                    &api,
                    args.groups,
                    args.group_size,
                    args.rate,
                    args.duration,
                    &meter,
                )
                .await?
            }
            Scenario::Idle => {
                idle::idle(
                    &api,
                    args.idle,
                    args.idle_hold,
                    args.server_pids.first().copied(),
                )
                .await?
            }
            Scenario::Reconnect => scenarios::reconnect(&api, args.reconnect, args.missed).await?,
            Scenario::LoginFlood => {
                login_flood::login_flood(&api, args.flood_clients, args.duration).await?
            }
            Scenario::Upload => {
                let pid = args.server_pids.first().copied();
                uploads::uploads(&api, args.uploads, args.upload_bytes, pid).await?
            }
            Scenario::SearchFlood => {
                let Some(searcher) = &args.searcher else {
                    bail!("search-flood needs --searcher");
                };
                search_flood::search_flood(
                    &api,
                    searcher,
                    &args.search_query,
                    args.parallel_searches,
                    args.duration,
                    &meter,
                )
                .await?
            }
            Scenario::Storm => storm::storm(&api, args.storm).await?,
            Scenario::Failover => {
                let (Some(url2), Some(&pid)) = (&args.url2, args.server_pids.first()) else {
                    bail!("failover needs --url2 and --server-pid (the first is killed)");
                };
                failover::failover(&api, pid, &Api::new(url2), args.failover).await?
            }
            Scenario::Latency => unreachable!("run above, as many times as asked"),
        };
        reports.push(report);
    }
    println!("{}", markdown(&reports));
    println!("{}", ratios(&reports, &args));
    write_figures(&reports, &args)?;
    let failed = reports.iter().filter(|report| !report.correct()).count();
    println!("bench: {} passed, {failed} failed", reports.len() - failed);
    if failed > 0 {
        bail!("{failed} scenario(s) lost, duplicated or reordered messages");
    }
    Ok(())
}

/// The results as a Markdown table, one row per scenario.
fn markdown(reports: &[Report]) -> String {
    let mut out = String::from(
        "| scenario | settings | sent/s | acked/s | delivered/s | send→ack ms p50/p90/p99/max | send→deliver ms p50/p90/p99/max | lost | dup | reordered | errors | other |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in reports {
        let per_second = |count: u64| {
            if r.seconds > 0.0 {
                format!("{:.0}", count as f64 / r.seconds)
            } else {
                "–".into()
            }
        };
        let latency = |ms: [f64; 4]| {
            if ms[3] == 0.0 {
                "–".into()
            } else {
                format!("{:.1} / {:.1} / {:.1} / {:.1}", ms[0], ms[1], ms[2], ms[3])
            }
        };
        let other: Vec<String> = r.extra.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.scenario,
            r.settings,
            per_second(r.sent),
            per_second(r.acked),
            per_second(r.delivered),
            latency(r.ack_ms),
            latency(r.deliver_ms),
            r.lost(),
            r.violations.duplicates,
            r.violations.reordered + r.violations.gaps,
            r.errors,
            other.join("; "),
        ));
    }
    out
}

/// The plots and the targets table, where asked for.
fn write_figures(reports: &[Report], args: &BenchArgs) -> anyhow::Result<()> {
    if let Some(dir) = &args.plots {
        plots::write(reports, dir)?;
    }
    if let Some(file) = &args.targets {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        std::fs::write(file, targets::table(reports, cores))?;
    }
    Ok(())
}

/// Our rates as fractions of what this box's Redis and Postgres do on their own.
fn ratios(reports: &[Report], args: &BenchArgs) -> String {
    let mut out = String::new();
    let rate = |name: &str, pick: fn(&Report) -> u64| {
        reports
            .iter()
            .find(|report| report.scenario == name && report.seconds > 0.0)
            .map(|report| pick(report) as f64 / report.seconds)
    };
    if let Some(insert_rate) = args.postgres_insert_rate {
        out.push_str(&format!(
            "- Postgres alone: {insert_rate:.0} single-row INSERTs/s (pgbench).\n"
        ));
        for name in ["private", "cross", "group"] {
            if let Some(stored) = rate(name, |report| report.acked) {
                out.push_str(&format!(
                    "- `{name}`: {stored:.0} persisted messages/s = {:.2} × Postgres' INSERT rate.\n",
                    stored / insert_rate
                ));
            }
        }
    }
    out.extend(latency::p99_spread(reports));
    if let Some(publish_rate) = args.redis_publish_rate {
        out.push_str(&format!(
            "- Redis alone: {publish_rate:.0} PUBLISH/s (redis-benchmark).\n"
        ));
        for name in ["private", "cross", "group"] {
            if let Some(delivered) = rate(name, |report| report.delivered) {
                out.push_str(&format!(
                    "- `{name}`: {delivered:.0} deliveries/s = {:.2} × Redis' PUBLISH rate.\n",
                    delivered / publish_rate
                ));
            }
        }
    }
    out
}
