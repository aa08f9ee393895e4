//! `failover`: an instance dies with `--failover` sockets on it, and they all come back on the
//! other one, as after a crash or a rolling deploy. Each returning client notices its socket
//! closed, waits its share of a one-second jitter (spread evenly, so runs repeat), takes a ticket
//! from the surviving instance and opens a socket there (honouring a 503's `Retry-After`).
//! Meanwhile a bystander pair on the survivor exchanges a message every 10 ms.
//!
//! Measured: the time from the kill until the last returning socket is `ready` again; the
//! bystander's send→deliver before the kill and while the others return; then each returning
//! user is sent one message, which must arrive, as must every bystander message, in order.

use std::{
    process::Command,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering as AtomicOrdering},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use futures_util::future::try_join_all;
use serde_json::{json, Value};

use super::{
    client::{Api, BenchUser, OnFrame, Socket},
    report::Report,
    scenarios::{each_on_its_own_task, run_prefix, users},
    stats::{Clock, Latency, Ordering},
    storm::open_retrying,
};

/// How often the bystander sends.
const BYSTANDER_EVERY: Duration = Duration::from_millis(10);
/// How long the bystander sends before the kill: its calm send→deliver.
const CALM: Duration = Duration::from_secs(1);
/// The returning clients' reconnects are spread over this.
const JITTER: Duration = Duration::from_secs(1);
/// How long the messages after the return may take to arrive.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);
/// Sockets opened at once while setting up.
const SETUP_CONCURRENCY: usize = 64;

/// The bystander's messages, as its receiver sees them: send→deliver before the kill and during
/// the return (by when they were sent), and their order.
struct Bystander {
    clock: Clock,
    /// Stamps (µs on `clock`) of the kill and of the last return; `u64::MAX` until then.
    killed_at: AtomicU64,
    back_at: AtomicU64,
    calm: Latency,
    storm: Latency,
    /// Send→ack of the messages sent during the return.
    storm_ack: Latency,
    delivered: AtomicU64,
    ordering: Ordering,
}

impl Bystander {
    /// Whether a message sent at `stamp` was sent during the return.
    fn during_return(&self, stamp: u64) -> bool {
        stamp >= self.killed_at.load(AtomicOrdering::Relaxed)
            && stamp <= self.back_at.load(AtomicOrdering::Relaxed)
    }

    fn acked(&self, frame: &Value) {
        if frame["type"] != "ack" {
            return;
        }
        let stamp = frame["message"]["content"]
            .as_str()
            .and_then(|c| c.parse::<u64>().ok());
        if let Some(stamp) = stamp.filter(|stamp| self.during_return(*stamp)) {
            self.storm_ack.record(self.clock.since(stamp));
        }
    }

    fn observe(&self, frame: &Value) {
        let message = &frame["message"];
        if frame["type"] != "message" {
            return;
        }
        let Some(stamp) = message["content"]
            .as_str()
            .and_then(|c| c.parse::<u64>().ok())
        else {
            return;
        };
        let waited = self.clock.since(stamp);
        if stamp < self.killed_at.load(AtomicOrdering::Relaxed) {
            self.calm.record(waited);
        } else if self.during_return(stamp) {
            self.storm.record(waited);
        }
        self.ordering.observe(
            "bystander",
            &message["conversation"].to_string(),
            message["seq"].as_i64().unwrap_or(0),
        );
        self.delivered.fetch_add(1, AtomicOrdering::Relaxed);
    }
}

/// Runs the scenario: `doomed` is the instance killed (its process is `doomed_pid`), `survivor`
/// the one everybody returns to.
pub async fn failover(
    doomed: &Api,
    doomed_pid: u32,
    survivor: &Api,
    count: usize,
) -> anyhow::Result<Report> {
    let prefix = run_prefix();
    let sender = survivor.new_user(&format!("{prefix}_sender")).await?;
    let watcher = survivor.new_user(&format!("{prefix}_watcher")).await?;
    survivor.add_contact(&watcher, &sender).await?;
    let returning = users(doomed, &format!("{prefix}r"), count).await?;
    for user in &returning {
        doomed.add_contact(user, &sender).await?;
    }

    let received = Arc::new(AtomicU64::new(0));
    let counting = received.clone();
    let on_message: OnFrame = Arc::new(move |frame: &Value| {
        if frame["type"] == "message" {
            counting.fetch_add(1, AtomicOrdering::Relaxed);
        }
    });
    let mut away = Vec::with_capacity(count);
    for chunk in returning.chunks(SETUP_CONCURRENCY) {
        let connecting = chunk
            .iter()
            .map(|user| Socket::connect(doomed, user, None, on_message.clone()));
        away.extend(try_join_all(connecting).await?);
    }

    let bystander = Arc::new(Bystander {
        clock: Clock::start(),
        killed_at: AtomicU64::new(u64::MAX),
        back_at: AtomicU64::new(u64::MAX),
        calm: Latency::default(),
        storm: Latency::default(),
        storm_ack: Latency::default(),
        delivered: AtomicU64::new(0),
        ordering: Ordering::default(),
    });
    let sending = Arc::new(AtomicBool::new(true));
    let (connected, chatting) = tokio::sync::oneshot::channel();
    let chatter = std::thread::spawn({
        let (base_url, sender, watcher) = (survivor.base_url.clone(), sender.clone(), watcher);
        let (bystander, sending) = (bystander.clone(), sending.clone());
        let prefix = prefix.clone();
        move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(chat(
                    Api::new(&base_url),
                    sender,
                    watcher,
                    bystander,
                    sending,
                    connected,
                    prefix,
                ))
        }
    });
    let Ok(chatting) = chatting.await else {
        let stopped = tokio::task::spawn_blocking(move || chatter.join()).await?;
        return Err(match stopped {
            Ok(Err(err)) => err.context("the bystander could not connect"),
            _ => anyhow::anyhow!("the bystander stopped before it connected"),
        });
    };
    // The sender's second device, for the messages after the return.
    let quiet: OnFrame = Arc::new(|_: &Value| {});
    let sender_socket = Socket::connect(survivor, &sender, None, quiet).await?;
    tokio::time::sleep(CALM).await;

    let ready = Arc::new(Latency::default());
    let retries = Arc::new(AtomicU64::new(0));
    let killed = Instant::now();
    bystander
        .killed_at
        .store(bystander.clock.stamp(), AtomicOrdering::Relaxed);
    let status = Command::new("kill")
        .args(["-KILL", &doomed_pid.to_string()])
        .status()
        .context("running kill")?;
    if !status.success() {
        bail!("could not kill the instance (pid {doomed_pid})");
    }
    let back = each_on_its_own_task(away.into_iter().zip(returning.clone()).enumerate().map(
        |(index, (mut socket, user))| {
            let (survivor, on_message) = (survivor.clone(), on_message.clone());
            let (ready, retries) = (ready.clone(), retries.clone());
            async move {
                socket.closed().await;
                tokio::time::sleep(JITTER.mul_f64(index as f64 / count.max(1) as f64)).await;
                let ticket = survivor.ticket(&user).await?;
                let reopened = open_retrying(
                    &survivor,
                    &user,
                    &ticket,
                    on_message,
                    &Latency::default(),
                    &retries,
                )
                .await;
                ready.record(killed.elapsed());
                reopened
            }
        },
    ))
    .await;
    let all_back = killed.elapsed();
    bystander
        .back_at
        .store(bystander.clock.stamp(), AtomicOrdering::Relaxed);
    sending.store(false, AtomicOrdering::Relaxed);
    let chatted = chatting.elapsed();
    let back: Vec<Socket> = back.into_iter().collect::<anyhow::Result<_>>()?;

    // One message to each returning user, on their new socket.
    let sent_at = Instant::now();
    for user in &returning {
        sender_socket
            .send(&json!({
                "type": "send",
                "to": { "user_id": user.id },
                "content": "after the failover",
                "client_msg_id": format!("{}-failover", user.id),
            }))
            .await?;
    }
    while received.load(AtomicOrdering::Relaxed) < count as u64
        && sent_at.elapsed() < DELIVERY_TIMEOUT
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for socket in back.into_iter().chain([sender_socket]) {
        socket.close().await;
    }
    let bystander_sent = tokio::task::spawn_blocking(move || chatter.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the bystander's thread panicked"))??;

    let [calm_p50, _, calm_p99, _] = bystander.calm.summary();
    let [storm_p50, _, storm_p99, storm_max] = bystander.storm.summary();
    let [ready_p50, _, ready_p99, ready_max] = ready.summary();
    Ok(Report {
        scenario: "failover".into(),
        settings: format!("{count} sockets on a killed instance return to the other"),
        // The rates are the bystander's, over the time it chatted.
        seconds: chatted.as_secs_f64(),
        sent: bystander_sent,
        delivered: received.load(AtomicOrdering::Relaxed)
            + bystander.delivered.load(AtomicOrdering::Relaxed),
        expected_deliveries: count as u64 + bystander_sent,
        ack_ms: bystander.storm_ack.summary(),
        deliver_ms: bystander.storm.summary(),
        violations: bystander.ordering.violations(),
        extra: vec![
            (
                "all back after".into(),
                format!("{:.0} ms", all_back.as_secs_f64() * 1000.0),
            ),
            (
                "returning socket ready after the kill ms p50/p99/max".into(),
                format!("{ready_p50:.1} / {ready_p99:.1} / {ready_max:.1}"),
            ),
            (
                "bystander send→deliver ms p50/p99 before the kill".into(),
                format!("{calm_p50:.1} / {calm_p99:.1}"),
            ),
            (
                "bystander send→deliver ms p50/p99/max while they return".into(),
                format!("{storm_p50:.1} / {storm_p99:.1} / {storm_max:.1}"),
            ),
            (
                "503 retries".into(),
                retries.load(AtomicOrdering::Relaxed).to_string(),
            ),
        ],
        ..Report::default()
    })
}

/// The bystander, on a thread and runtime of its own: on the load generator's main runtime its
/// frames would wait behind the thousands of returning sockets' tasks, and its figures would
/// measure the generator rather than the server. Connects the watcher and the sender, says when
/// it started, sends a message every [`BYSTANDER_EVERY`] while `sending`, each carrying its send
/// time, then waits (bounded) for all of them to arrive; how many it sent.
async fn chat(
    api: Api,
    sender: BenchUser,
    watcher: BenchUser,
    bystander: Arc<Bystander>,
    sending: Arc<AtomicBool>,
    connected: tokio::sync::oneshot::Sender<Instant>,
    prefix: String,
) -> anyhow::Result<u64> {
    let observing = bystander.clone();
    let watching: OnFrame = Arc::new(move |frame: &Value| observing.observe(frame));
    let watcher_socket = Socket::connect(&api, &watcher, None, watching).await?;
    let acking = bystander.clone();
    let on_ack: OnFrame = Arc::new(move |frame: &Value| acking.acked(frame));
    let socket = Socket::connect(&api, &sender, None, on_ack).await?;
    let _ = connected.send(Instant::now());
    let mut ticks = tokio::time::interval(BYSTANDER_EVERY);
    let mut sent = 0u64;
    while sending.load(AtomicOrdering::Relaxed) {
        ticks.tick().await;
        socket
            .send(&json!({
                "type": "send",
                "to": { "user_id": watcher.id },
                "content": bystander.clock.stamp().to_string(),
                "client_msg_id": format!("{prefix}-b{sent}"),
            }))
            .await?;
        sent += 1;
    }
    let waiting = Instant::now();
    while bystander.delivered.load(AtomicOrdering::Relaxed) < sent
        && waiting.elapsed() < DELIVERY_TIMEOUT
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    socket.close().await;
    watcher_socket.close().await;
    Ok(sent)
}
