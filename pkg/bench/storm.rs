//! `storm`: a reconnect storm on one instance. `--storm` sockets are open; all of them close at
//! once and, at the same moment, as many fresh sockets (other users, tickets taken beforehand)
//! open. Measured: how long each fresh socket waits for `ready`, from its first upgrade attempt
//! (retries after a 503 and their `Retry-After` included), and the time until the last is ready.
//! Then each fresh user is sent one message, which must arrive: none may be lost.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering as AtomicOrdering},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::bail;
use futures_util::future::try_join_all;
use serde_json::{json, Value};

use super::{
    client::{refusal, Api, BenchUser, OnFrame, Socket},
    report::Report,
    scenarios::{each_on_its_own_task, run_prefix, users},
    stats::Latency,
};

/// How many times one socket tries again after a 503.
const MAX_RETRIES: usize = 20;
/// How long the messages after the storm may take to arrive.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);
/// Sockets opened at once while setting up (not during the storm, where all go at once).
const SETUP_CONCURRENCY: usize = 64;

pub async fn storm(api: &Api, count: usize) -> anyhow::Result<Report> {
    let prefix = run_prefix();
    let sender = api.new_user(&format!("{prefix}_sender")).await?;
    let leaving = users(api, &format!("{prefix}l"), count).await?;
    let fresh = users(api, &format!("{prefix}f"), count).await?;
    for user in &fresh {
        api.add_contact(user, &sender).await?;
    }
    let quiet: OnFrame = Arc::new(|_: &Value| {});
    let sender_socket = Socket::connect(api, &sender, None, quiet.clone()).await?;
    let mut open = Vec::with_capacity(count);
    for chunk in leaving.chunks(SETUP_CONCURRENCY) {
        let connecting = chunk
            .iter()
            .map(|user| Socket::connect(api, user, None, quiet.clone()));
        open.extend(try_join_all(connecting).await?);
    }
    let mut tickets = Vec::with_capacity(count);
    for chunk in fresh.chunks(SETUP_CONCURRENCY) {
        tickets.extend(try_join_all(chunk.iter().map(|user| api.ticket(user))).await?);
    }

    let received = Arc::new(AtomicU64::new(0));
    let counting = received.clone();
    let on_message: OnFrame = Arc::new(move |frame: &Value| {
        if frame["type"] == "message" {
            counting.fetch_add(1, AtomicOrdering::Relaxed);
        }
    });
    let ready = Arc::new(Latency::default());
    let retries = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let closing = each_on_its_own_task(open.into_iter().map(Socket::close));
    let opening = each_on_its_own_task(fresh.iter().cloned().zip(tickets).map(|(user, ticket)| {
        let (api, on_message) = (api.clone(), on_message.clone());
        let (ready, retries) = (ready.clone(), retries.clone());
        async move { open_retrying(&api, &user, &ticket, on_message, &ready, &retries).await }
    }));
    let ((), opened) = futures_util::future::join(async { drop(closing.await) }, opening).await;
    let all_ready = started.elapsed();
    let fresh_sockets: Vec<Socket> = opened.into_iter().collect::<anyhow::Result<_>>()?;

    // One message to each fresh user, from the sender's socket (open since before the storm).
    let sent_at = Instant::now();
    for user in &fresh {
        sender_socket
            .send(&json!({
                "type": "send",
                "to": { "user_id": user.id },
                "content": "after the storm",
                "client_msg_id": format!("{}-storm", user.id),
            }))
            .await?;
    }
    while received.load(AtomicOrdering::Relaxed) < count as u64
        && sent_at.elapsed() < DELIVERY_TIMEOUT
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for socket in fresh_sockets.into_iter().chain([sender_socket]) {
        socket.close().await;
    }
    let [p50, _, p99, max] = ready.summary();
    Ok(Report {
        scenario: "storm".into(),
        settings: format!("{count} sockets close while {count} others open"),
        seconds: all_ready.as_secs_f64(),
        delivered: received.load(AtomicOrdering::Relaxed),
        expected_deliveries: count as u64,
        extra: vec![
            (
                "fresh socket ready ms p50/p99/max".into(),
                format!("{p50:.1} / {p99:.1} / {max:.1}"),
            ),
            (
                "all ready after".into(),
                format!("{:.0} ms", all_ready.as_secs_f64() * 1000.0),
            ),
            (
                "503 retries".into(),
                retries.load(AtomicOrdering::Relaxed).to_string(),
            ),
        ],
        ..Report::default()
    })
}

/// Opens a socket, honouring `Retry-After` when the upgrade is refused with 503; records the time
/// from the first attempt until `ready`.
pub(super) async fn open_retrying(
    api: &Api,
    user: &BenchUser,
    ticket: &str,
    on_frame: OnFrame,
    ready: &Latency,
    retries: &AtomicU64,
) -> anyhow::Result<Socket> {
    let started = Instant::now();
    for _ in 0..=MAX_RETRIES {
        match Socket::open(api, ticket, None, on_frame.clone()).await {
            Ok(socket) => {
                ready.record(started.elapsed());
                return Ok(socket);
            }
            Err(err) => match refusal(&err) {
                Some((503, retry_after)) => {
                    retries.fetch_add(1, AtomicOrdering::Relaxed);
                    let wait = Duration::from_secs(retry_after.unwrap_or(1));
                    tokio::time::sleep(wait).await;
                }
                _ => return Err(err.context(format!("opening {}'s socket", user.username))),
            },
        }
    }
    bail!("{}'s socket was refused {MAX_RETRIES} times", user.username)
}
