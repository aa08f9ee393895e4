//! The cost targets (issue 20) checked against a run: met or missed, and for a missed one, where to
//! look for what bounds it. Targets are goals, not tests: a missed one does not fail the bench.

use super::{latency, plots, report::Report};

/// Consecutive `latency` runs whose p99 must each be under the bound.
pub const LATENCY_RUNS: usize = 5;

/// One row of the targets table.
struct Row {
    target: &'static str,
    measured: Option<String>,
    met: Option<bool>,
    /// Where to look when the target is missed (a file under docs/, relative to BENCHMARKS.md).
    bound_by: String,
}

/// The targets as a Markdown table; `cores` is this machine's, for the throughput ceiling.
pub fn table(reports: &[Report], cores: usize) -> String {
    let find = |name: &str| reports.iter().find(|report| report.scenario == name);
    let private = find("private");
    let cross = find("cross");
    let group = find("group");
    let paced: Vec<&Report> = latency::of(reports).collect();
    let ceiling = private.and_then(|report| ceiling(report, cores));
    let flamegraph = |name: &str| {
        format!(
            "[flamegraph]({})",
            profile(&format!("flamegraph-{name}.svg"))
        )
    };
    let statements = format!("[statements]({})", profile("pg-statements.md"));

    let mut rows = vec![
        cpu_row(
            "server CPU ≤ 35 µs per 1:1 message, flat out",
            private,
            35.0,
            |c| c.servers,
            flamegraph("private"),
        ),
        cpu_row(
            "Postgres CPU ≤ 30 µs per 1:1 message, flat out",
            private,
            30.0,
            |c| c.postgres,
            statements.clone(),
        ),
        paced_cpu_row(
            "server CPU ≤ 60 µs per message at the `latency` rate",
            &paced,
            |c| c.servers,
            flamegraph("private"),
        ),
        paced_cpu_row(
            "Postgres CPU ≤ 60 µs per message at the `latency` rate",
            &paced,
            |c| c.postgres,
            statements,
        ),
    ];
    let stored = private.and_then(|report| report.per_second(report.acked));
    rows.push(Row {
        target: "≥ 18,000 persisted 1:1 messages/s (`private`)",
        measured: stored.map(|rate| format!("{rate:.0}/s")),
        met: stored.map(|rate| rate >= 18_000.0),
        bound_by: format!(
            "{} [CPU per message]({})",
            ceiling.unwrap_or_default(),
            profile(plots::CPU_SVG)
        ),
    });
    let deliveries = group.and_then(|report| report.per_second(report.delivered));
    rows.push(Row {
        target: "group fan-out ≥ 90,000 deliveries/s",
        measured: deliveries.map(|rate| format!("{rate:.0}/s")),
        met: deliveries.map(|rate| rate >= 90_000.0),
        bound_by: flamegraph("group"),
    });
    let cross_share = cross.zip(private).and_then(|(cross, private)| {
        Some(cross.per_second(cross.acked)? / private.per_second(private.acked)?)
    });
    rows.push(Row {
        target: "`cross` within 10 % of `private`",
        measured: cross_share.map(|share| format!("{:.0} % of `private`", share * 100.0)),
        met: cross_share.map(|share| share >= 0.9),
        bound_by: format!("[CPU per message]({})", profile(plots::CPU_SVG)),
    });
    rows.push(latency_row(&paced));
    let every_run_clean = reports.iter().all(Report::correct);
    rows.push(Row {
        target: "zero loss, duplicates or reordering",
        measured: Some(
            if every_run_clean {
                "none in any scenario"
            } else {
                "see Results"
            }
            .into(),
        ),
        met: Some(every_run_clean),
        bound_by: String::new(),
    });
    render(&rows)
}

/// Where a profile lives, seen from docs/BENCHMARKS.md.
fn profile(file: &str) -> String {
    format!("perf/{file}")
}

/// What the CPU per message allows on `cores` cores: "CPU-bound: 2 cores ÷ 190 µs = 10.5k/s".
fn ceiling(report: &Report, cores: usize) -> Option<String> {
    let micros: f64 = report.cpu?.by_role().iter().map(|(_, micros)| micros).sum();
    (micros > 0.0).then(|| {
        let rate = cores as f64 * 1e6 / micros;
        format!(
            "CPU-bound: {cores} cores ÷ {micros:.0} µs = {:.1}k/s;",
            rate / 1000.0
        )
    })
}

fn cpu_row(
    target: &'static str,
    report: Option<&Report>,
    limit: f64,
    pick: fn(&super::cost::CpuPerMessage) -> f64,
    bound_by: String,
) -> Row {
    let micros = report.and_then(|report| report.cpu).map(|cpu| pick(&cpu));
    Row {
        target,
        measured: micros.map(|micros| format!("{micros:.0} µs")),
        met: micros.map(|micros| micros <= limit),
        bound_by,
    }
}

/// The highest figure over the `latency` runs must be ≤ 60 µs.
fn paced_cpu_row(
    target: &'static str,
    paced: &[&Report],
    pick: fn(&super::cost::CpuPerMessage) -> f64,
    bound_by: String,
) -> Row {
    let each: Vec<f64> = paced
        .iter()
        .filter_map(|r| r.cpu)
        .map(|cpu| pick(&cpu))
        .collect();
    let highest = each.iter().copied().reduce(f64::max);
    Row {
        target,
        measured: highest.map(|micros| format!("{micros:.0} µs (highest of {} runs)", each.len())),
        met: highest.map(|micros| micros <= 60.0),
        bound_by,
    }
}

fn latency_row(paced: &[&Report]) -> Row {
    let p99s: Vec<String> = paced
        .iter()
        .map(|r| format!("{:.1}", r.deliver_ms[2]))
        .collect();
    let all_under = paced.iter().all(|report| report.deliver_ms[2] < 15.0);
    Row {
        target: "`latency` send→deliver p99 < 15 ms in each of 5 consecutive runs",
        measured: (!paced.is_empty()).then(|| format!("{} ms", p99s.join(", "))),
        met: (!paced.is_empty()).then_some(all_under && paced.len() >= LATENCY_RUNS),
        bound_by: format!("[percentiles]({})", profile(plots::LATENCY_SVG)),
    }
}

fn render(rows: &[Row]) -> String {
    let mut out = String::from("| target | measured | | what bounds it |\n|---|---|---|---|\n");
    for row in rows {
        let (verdict, bound_by) = match row.met {
            Some(true) => ("met", ""),
            Some(false) => ("**missed**", row.bound_by.as_str()),
            None => ("not run", ""),
        };
        let measured = row.measured.as_deref().unwrap_or("–");
        out.push_str(&format!(
            "| {} | {measured} | {verdict} | {bound_by} |\n",
            row.target
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkg::bench::cost::CpuPerMessage;

    fn report(name: &str, acked: u64, p99: f64, servers: f64) -> Report {
        Report {
            scenario: name.into(),
            seconds: 1.0,
            acked,
            delivered: acked,
            expected_deliveries: acked,
            deliver_ms: [1.0, 2.0, p99, p99],
            cpu: Some(CpuPerMessage {
                servers,
                postgres: 20.0,
                redis: 5.0,
                generator: 25.0,
            }),
            ..Report::default()
        }
    }

    #[test]
    fn targets_are_met_or_missed_with_the_profile_to_read() {
        let mut reports = vec![
            report("private", 20_000, 90.0, 50.0),
            report("cross", 19_000, 90.0, 30.0),
        ];
        reports.extend(
            (1..=5).map(|run| report(&format!("latency {run}"), 5000, 9.0 + run as f64, 40.0)),
        );
        let table = table(&reports, 2);
        let line = |start: &str| {
            table
                .lines()
                .find(|l| l.starts_with(start))
                .unwrap_or_default()
                .to_owned()
        };
        assert!(line("| server CPU ≤ 35")
            .contains("| 50 µs | **missed** | [flamegraph](perf/flamegraph-private.svg)"));
        assert!(line("| Postgres CPU ≤ 30").contains("| 20 µs | met |"));
        assert!(line("| server CPU ≤ 60").contains("40 µs (highest of 5 runs) | met"));
        assert!(line("| ≥ 18,000").contains("| 20000/s | met |"));
        assert!(line("| group fan-out").contains("| – | not run |"));
        assert!(line("| `cross` within").contains("95 % of `private` | met"));
        assert!(line("| `latency` send").contains("| 10.0, 11.0, 12.0, 13.0, 14.0 ms | met |"));
        assert!(line("| zero loss").contains("met"));
        let slow = [report("private", 9000, 90.0, 80.0)];
        assert!(table_line(&slow, "| ≥ 18,000")
            .contains("**missed** | CPU-bound: 2 cores ÷ 130 µs = 15.4k/s;"));
    }

    fn table_line(reports: &[Report], start: &str) -> String {
        table(reports, 2)
            .lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_default()
            .to_owned()
    }
}
