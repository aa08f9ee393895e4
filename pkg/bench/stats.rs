//! What a bench run measures: latency histograms, counters, and the correctness checks (no loss,
//! no duplicate, `seq` in order) per receiver and conversation.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;

/// Latencies in microseconds, up to a minute.
pub struct Latency(Mutex<Histogram<u64>>);

impl Default for Latency {
    fn default() -> Self {
        Self(Mutex::new(
            Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds"),
        ))
    }
}

impl Latency {
    pub fn record(&self, elapsed: Duration) {
        let micros = (elapsed.as_micros() as u64).clamp(1, 60_000_000);
        if let Ok(mut histogram) = self.0.lock() {
            let _ = histogram.record(micros);
        }
    }

    /// p50, p90, p99 and max, in milliseconds.
    pub fn summary(&self) -> [f64; 4] {
        let Ok(histogram) = self.0.lock() else {
            return [0.0; 4];
        };
        let ms = |micros: u64| micros as f64 / 1000.0;
        [
            ms(histogram.value_at_quantile(0.50)),
            ms(histogram.value_at_quantile(0.90)),
            ms(histogram.value_at_quantile(0.99)),
            ms(histogram.max()),
        ]
    }

    /// The latency at each of [`PERCENTILES`], in milliseconds (empty when nothing was recorded).
    pub fn percentiles(&self) -> Vec<f64> {
        match self.0.lock() {
            Ok(histogram) if !histogram.is_empty() => PERCENTILES
                .iter()
                .map(|(_, quantile)| histogram.value_at_quantile(*quantile) as f64 / 1000.0)
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// The points of a latency percentile plot: a label and its quantile.
pub const PERCENTILES: [(&str, f64); 7] = [
    ("p50", 0.50),
    ("p75", 0.75),
    ("p90", 0.90),
    ("p95", 0.95),
    ("p99", 0.99),
    ("p99.5", 0.995),
    ("p99.9", 0.999),
];

/// Per (receiver, conversation): the last seq seen and what went wrong.
#[derive(Default)]
pub struct Ordering {
    last_seq: Mutex<HashMap<(String, String), i64>>,
    pub violations: Mutex<Violations>,
}

/// Correctness problems seen by receivers.
#[derive(Debug, Default, Clone, Copy)]
pub struct Violations {
    /// A seq seen twice by one receiver.
    pub duplicates: u64,
    /// A seq that skipped ahead (a later arrival of the missing one is then a reorder).
    pub gaps: u64,
    /// A seq lower than one already seen.
    pub reordered: u64,
}

impl Ordering {
    /// Records that `receiver` got `seq` of `conversation`.
    pub fn observe(&self, receiver: &str, conversation: &str, seq: i64) {
        let Ok(mut last) = self.last_seq.lock() else {
            return;
        };
        let previous = last
            .entry((receiver.to_owned(), conversation.to_owned()))
            .or_insert(0);
        let Ok(mut violations) = self.violations.lock() else {
            return;
        };
        if seq == *previous + 1 {
            *previous = seq;
        } else if seq > *previous + 1 {
            violations.gaps += 1;
            *previous = seq;
        } else if seq == *previous {
            violations.duplicates += 1;
        } else {
            violations.reordered += 1;
        }
    }

    pub fn violations(&self) -> Violations {
        self.violations.lock().map(|v| *v).unwrap_or_default()
    }
}

/// A stopwatch shared by all tasks; message contents carry send times against it.
#[derive(Clone, Copy)]
pub struct Clock(Instant);

impl Clock {
    pub fn start() -> Self {
        Self(Instant::now())
    }

    /// Now, as microseconds since the start (what a message's content carries).
    pub fn stamp(&self) -> u64 {
        self.0.elapsed().as_micros() as u64
    }

    /// Time since a stamp.
    pub fn since(&self, stamp: u64) -> Duration {
        Duration::from_micros(self.stamp().saturating_sub(stamp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordering_tells_duplicates_gaps_and_reorders_apart() {
        let ordering = Ordering::default();
        for seq in [1, 2, 2, 4, 3] {
            ordering.observe("r", "c", seq);
        }
        let v = ordering.violations();
        assert_eq!((v.duplicates, v.gaps, v.reordered), (1, 1, 1));
    }

    #[test]
    fn percentiles_rise_and_are_empty_without_data() {
        let latency = Latency::default();
        assert!(latency.percentiles().is_empty());
        for ms in 1..=1000 {
            latency.record(Duration::from_millis(ms));
        }
        let curve = latency.percentiles();
        assert_eq!(curve.len(), PERCENTILES.len());
        assert!(curve.windows(2).all(|pair| pair[0] <= pair[1]));
        assert!(
            (curve[0] - 500.0).abs() < 1.0,
            "p50 of 1..=1000 ms: {}",
            curve[0]
        );
        assert!(
            (curve[6] - 999.0).abs() < 1.0,
            "p99.9 of 1..=1000 ms: {}",
            curve[6]
        );
    }
}
