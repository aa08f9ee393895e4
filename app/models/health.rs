//! Bodies of the health and readiness probes.

use poem_openapi::Object;

/// The answer of `/healthz` and of a passing `/readyz`.
#[derive(Debug, Object)]
pub struct HealthStatus {
    /// `ok` for liveness, `ready` for readiness.
    pub status: String,
}
