//! `latency`: `private` at a fixed total rate, below saturation, so that send→deliver is what a
//! user sees rather than time spent queueing. One run's p99 depends on what else the cores happen
//! to be doing (a checkpoint, a WAL flush, another process), so it is run several times in a row
//! and the spread of p99 over the runs is the figure to read.

use std::time::Duration;

use super::{client::Api, cost::CpuMeter, report::Report, scenarios};

/// Runs `latency` `runs` times in a row, each with fresh users; the reports are named
/// `latency 1`, `latency 2`, … (just `latency` when there is one run).
pub async fn runs(
    api: &Api,
    pairs: usize,
    rate: u32,
    duration: Duration,
    runs: usize,
    meter: &CpuMeter,
) -> anyhow::Result<Vec<Report>> {
    let mut reports = Vec::with_capacity(runs);
    for run in 1..=runs {
        let mut report = scenarios::private(api, None, pairs, rate, duration, meter).await?;
        report.scenario = if runs == 1 {
            "latency".into()
        } else {
            format!("latency {run}")
        };
        reports.push(report);
    }
    Ok(reports)
}

/// The `latency` reports among `reports`.
pub fn of(reports: &[Report]) -> impl Iterator<Item = &Report> {
    reports
        .iter()
        .filter(|report| report.scenario.starts_with("latency"))
}

/// A line on the spread of send→deliver p99 over the `latency` runs (none with fewer than two).
pub fn p99_spread(reports: &[Report]) -> Option<String> {
    let mut p99s: Vec<f64> = of(reports).map(|report| report.deliver_ms[2]).collect();
    if p99s.len() < 2 {
        return None;
    }
    let each: Vec<String> = p99s.iter().map(|ms| format!("{ms:.1}")).collect();
    p99s.sort_by(f64::total_cmp);
    Some(format!(
        "- `latency`, send→deliver p99 over {} runs: lowest {:.1} ms, median {:.1} ms, highest {:.1} ms (in run order: {} ms).\n",
        p99s.len(),
        p99s[0],
        p99s[p99s.len() / 2],
        p99s[p99s.len() - 1],
        each.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spread_reads_every_latency_run_and_nothing_else() {
        let report = |name: &str, p99: f64| Report {
            scenario: name.into(),
            deliver_ms: [1.0, 2.0, p99, p99 + 1.0],
            ..Report::default()
        };
        let one = [report("latency", 9.0), report("private", 99.0)];
        assert_eq!(p99_spread(&one), None, "one run has no spread");
        let runs = [
            report("latency 1", 30.0),
            report("private", 99.0),
            report("latency 2", 10.0),
            report("latency 3", 20.0),
        ];
        let line = p99_spread(&runs).expect("three runs have a spread");
        assert!(line.contains("over 3 runs"), "{line}");
        assert!(
            line.contains("lowest 10.0 ms, median 20.0 ms, highest 30.0 ms"),
            "{line}"
        );
        assert!(line.contains("30.0, 10.0, 20.0"), "{line}");
    }
}
