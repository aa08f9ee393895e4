//! `login-flood`: many clients keep logging in to one account with wrong passwords while its
//! owner goes on reading `GET /users/me` and sending over a WebSocket, at a steady pace. Password
//! hashing is bounded and holds no database connection, so the flood should slow only logins
//! (issue 14's target: the owner's p99 under 100 ms with 50 flooding clients at BCRYPT_COST=12 on
//! two cores). Run it against a server with the auth rate limits off, or the limits, not the
//! hashing, are what gets measured.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::{
    client::{Api, OnFrame, Socket},
    report::Report,
    scenarios::run_prefix,
    stats::Latency,
};

/// How often the owner reads and sends.
const OWNER_PACE: Duration = Duration::from_millis(20);
/// How long the owner waits for one answer before counting it as an error.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// What the owner saw.
#[derive(Default)]
struct Tally {
    sent: u64,
    acked: u64,
    /// `/users/me` not answering 200, or a send not answered, within [`ANSWER_TIMEOUT`].
    errors: u64,
}

/// Login answers by status.
#[derive(Default)]
struct LoginAnswers {
    unauthorized: AtomicU64,
    unavailable: AtomicU64,
    other: AtomicU64,
}

/// Floods logins from `clients` clients for `duration`; measures what the owner sees meanwhile.
pub async fn login_flood(api: &Api, clients: usize, duration: Duration) -> anyhow::Result<Report> {
    let prefix = run_prefix();
    let owner = api.new_user(&format!("{prefix}_owner")).await?;
    let friend = api.new_user(&format!("{prefix}_friend")).await?;
    api.add_contact(&owner, &friend).await?;
    let (replies, mut replied) = mpsc::unbounded_channel::<()>();
    let on_frame: OnFrame = Arc::new(move |frame: &Value| {
        if frame.get("id").is_some() {
            let _ = replies.send(());
        }
    });
    let socket = Socket::connect(api, &owner, None, on_frame).await?;

    let stop_at = Instant::now() + duration;
    let answers = Arc::new(LoginAnswers::default());
    let flood: Vec<_> = (0..clients)
        .map(|_| {
            tokio::spawn(flood_logins(
                api.clone(),
                owner.username.clone(),
                stop_at,
                answers.clone(),
            ))
        })
        .collect();

    let (me_latency, send_latency) = (Latency::default(), Latency::default());
    let mut tally = Tally::default();
    while Instant::now() < stop_at {
        let round = Instant::now();
        let started = Instant::now();
        match tokio::time::timeout(ANSWER_TIMEOUT, api.me(&owner)).await {
            Ok(Ok(())) => me_latency.record(started.elapsed()),
            _ => tally.errors += 1,
        }
        let started = Instant::now();
        let send = json!({
            "type": "send",
            "id": tally.sent.to_string(),
            "to": { "user_id": friend.id },
            "content": "still here",
            "client_msg_id": format!("{prefix}-{}", tally.sent),
        });
        socket.send(&send).await?;
        tally.sent += 1;
        match tokio::time::timeout(ANSWER_TIMEOUT, replied.recv()).await {
            Ok(Some(())) => {
                send_latency.record(started.elapsed());
                tally.acked += 1;
            }
            _ => tally.errors += 1,
        }
        tokio::time::sleep(OWNER_PACE.saturating_sub(round.elapsed())).await;
    }
    for task in flood {
        let _ = task.await;
    }
    socket.close().await;
    let mut report = Report {
        scenario: "login-flood".into(),
        settings: format!("{clients} clients logging in with wrong passwords"),
        seconds: duration.as_secs_f64(),
        sent: tally.sent,
        acked: tally.acked,
        errors: tally.errors,
        ack_ms: send_latency.summary(),
        ..Report::default()
    };
    report.extra = extra(&report, &me_latency, &answers);
    Ok(report)
}

/// One flooding client: wrong passwords, back to back, until `stop_at`.
async fn flood_logins(api: Api, username: String, stop_at: Instant, answers: Arc<LoginAnswers>) {
    while Instant::now() < stop_at {
        let counter = match api.login_status(&username, "not the password").await {
            Ok(401) => &answers.unauthorized,
            Ok(503) => &answers.unavailable,
            _ => &answers.other,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The owner's `/users/me` latencies and the flood's answers, for the report's last column.
fn extra(report: &Report, me_latency: &Latency, answers: &LoginAnswers) -> Vec<(String, String)> {
    let [p50, p90, p99, max] = me_latency.summary();
    let per_second = |count: &AtomicU64| count.load(Ordering::Relaxed) as f64 / report.seconds;
    vec![
        (
            "GET /users/me ms p50/p90/p99/max".into(),
            format!("{p50:.1} / {p90:.1} / {p99:.1} / {max:.1}"),
        ),
        (
            "logins/s answered 401 / 503 / other".into(),
            format!(
                "{:.0} / {:.0} / {:.0}",
                per_second(&answers.unauthorized),
                per_second(&answers.unavailable),
                per_second(&answers.other)
            ),
        ),
    ]
}
