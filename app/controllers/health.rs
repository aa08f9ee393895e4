//! `/healthz` (the process runs), `/readyz` (Postgres and Redis answer, and the live event feed
//! is up) and `/metrics`
//! (Prometheus), for load balancers, orchestrators and monitoring.

use crate::app::state::AppState;
use poem::web::Data;
use poem_openapi::{
    payload::{Json, PlainText},
    ApiResponse, OpenApi,
};

use super::ApiTags;
use crate::{
    app::models::health::HealthStatus,
    pkg::utils::{errors::ErrorBody, metrics},
    platform::database,
};

/// The probe routes.
#[derive(Default)]
pub struct HealthApi;

#[derive(ApiResponse)]
enum Readiness {
    /// Postgres and Redis both answer.
    #[oai(status = 200)]
    Ready(Json<HealthStatus>),
    /// At least one dependency does not answer; the message names it.
    #[oai(status = 503)]
    NotReady(Json<ErrorBody>),
}

#[OpenApi(tag = "ApiTags::Health")]
impl HealthApi {
    /// 200 while the process runs.
    #[oai(path = "/healthz", method = "get", operation_id = "healthz")]
    async fn healthz(&self) -> Json<HealthStatus> {
        Json(HealthStatus {
            status: "ok".into(),
        })
    }

    /// Prometheus metrics of this instance.
    #[oai(path = "/metrics", method = "get", operation_id = "metrics")]
    async fn metrics(&self, state: Data<&AppState>) -> PlainText<String> {
        state.db.record_usage();
        PlainText(metrics::render())
    }

    /// 200 when Postgres, Redis and the live event feed are up, else 503 naming what failed
    /// (503 as well from SIGTERM on, while the instance drains).
    #[oai(path = "/readyz", method = "get", operation_id = "readyz")]
    async fn readyz(&self, state: Data<&AppState>) -> Readiness {
        let readiness = check_readiness(&state).await;
        let ready = matches!(readiness, Readiness::Ready(_));
        ::metrics::gauge!(metrics::READY).set(if ready { 1.0 } else { 0.0 });
        readiness
    }
}

/// Whether this instance should get traffic, and if not, why.
async fn check_readiness(state: &AppState) -> Readiness {
    // Shutting down: balancers should stop sending work here before anyone is cut off.
    if state.draining.is_cancelled() {
        return Readiness::NotReady(Json(ErrorBody {
            code: "unavailable".into(),
            message: "not ready: shutting down".into(),
        }));
    }
    let (postgres, redis) = tokio::join!(database::ping(&state.db), state.cache.ping());
    let mut failures = Vec::new();
    if let Err(err) = postgres {
        failures.push(format!("postgres: {err:#}"));
    }
    if let Err(err) = redis {
        failures.push(format!("redis: {err}"));
    } else if !state.broker.is_live() {
        // Commands may work while the subscriptions are not back yet: without them this
        // instance's sockets would hear nothing.
        failures.push("redis: the live event feed is down".into());
    }
    if failures.is_empty() {
        return Readiness::Ready(Json(HealthStatus {
            status: "ready".into(),
        }));
    }
    tracing::warn!(?failures, "not ready");
    Readiness::NotReady(Json(ErrorBody {
        code: "unavailable".into(),
        message: format!("not ready: {}", failures.join("; ")),
    }))
}
