//! What one scenario measured, as the table, the plots and the targets read it.

use super::{cost::CpuPerMessage, stats::Violations};

/// What one scenario measured.
#[derive(Debug, Default)]
pub struct Report {
    pub scenario: String,
    pub settings: String,
    pub seconds: f64,
    pub sent: u64,
    pub acked: u64,
    pub delivered: u64,
    pub expected_deliveries: u64,
    pub errors: u64,
    pub ack_ms: [f64; 4],
    pub deliver_ms: [f64; 4],
    /// Send→deliver at each of `stats::PERCENTILES`, in ms (empty when nothing was delivered).
    pub deliver_curve: Vec<f64>,
    /// CPU per acked message by process, for the messaging scenarios.
    pub cpu: Option<CpuPerMessage>,
    pub violations: Violations,
    /// Scenario-specific figures, already formatted.
    pub extra: Vec<(String, String)>,
}

impl Report {
    pub fn lost(&self) -> u64 {
        self.expected_deliveries.saturating_sub(self.delivered)
    }

    /// True when nothing was lost, duplicated, reordered or refused.
    pub fn correct(&self) -> bool {
        self.lost() == 0
            && self.errors == 0
            && self.violations.duplicates == 0
            && self.violations.gaps == 0
            && self.violations.reordered == 0
    }

    /// `count` per second of the sending window (none for a scenario that did not send).
    pub fn per_second(&self, count: u64) -> Option<f64> {
        (self.seconds > 0.0).then(|| count as f64 / self.seconds)
    }
}
