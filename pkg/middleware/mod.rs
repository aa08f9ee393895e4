//! What runs around every handler: request ids and logging, body limits,
//! cross-origin rules, the mapping of the framework's own rejections into the contract's error
//! shape, `Allow` on 405, who the client is, and each user's fair share of the REST API.

pub mod allow;
pub mod client_addr;
pub mod cors;
pub mod errors;
pub mod fair_share;
pub mod http_metrics;
pub mod limits;
pub mod request_id;
