//! The bench scenarios. Each is bounded in count and time, targets the given (loopback) servers
//! only, checks correctness while it measures, and returns a [`Report`].

use std::{
    net::{IpAddr, Ipv4Addr},
    sync::{
        atomic::{AtomicU64, Ordering as AtomicOrdering},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use futures_util::{future::try_join_all, StreamExt, TryStreamExt};
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use super::{
    client::{Api, BenchUser, OnFrame, Socket},
    cost::{cpu_micros, rss_kib, CpuMeter, CPU_PER_MESSAGE},
    stats::{Clock, Latency, Ordering, Violations},
};

/// Sends one sender may have awaiting their ack.
const SEND_WINDOW: usize = 8;
/// How long stragglers may take after the sending stops.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(15);

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
}

/// A unique-enough username prefix for this run.
pub fn run_prefix() -> String {
    format!("b{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

/// Creates `count` users on `api`, a few at a time.
async fn users(api: &Api, prefix: &str, count: usize) -> anyhow::Result<Vec<BenchUser>> {
    let mut all = Vec::with_capacity(count);
    for chunk in (0..count).collect::<Vec<_>>().chunks(32) {
        let names: Vec<String> = chunk.iter().map(|n| format!("{prefix}_{n}")).collect();
        let batch = names.iter().map(|name| api.new_user(name));
        all.extend(try_join_all(batch).await?);
    }
    Ok(all)
}

/// One sender writing to one conversation that some receivers read.
struct Flow {
    sender: BenchUser,
    sender_api: Api,
    to: Value,
    receivers: Vec<(BenchUser, Api)>,
}

/// Shared counters and measurements of a messaging run.
#[derive(Default)]
struct Tally {
    sent: AtomicU64,
    acked: AtomicU64,
    delivered: AtomicU64,
    errors: AtomicU64,
    ack: Latency,
    deliver: Latency,
    ordering: Ordering,
}

/// Runs flows for `duration` at `rate` messages/s in all (0: as fast as acks come back).
async fn run_flows(
    flows: Vec<Flow>,
    rate: u32,
    duration: Duration,
    meter: &CpuMeter,
) -> anyhow::Result<(Arc<Tally>, f64, u64, String)> {
    let clock = Clock::start();
    let tally = Arc::new(Tally::default());
    let mut sockets = Vec::new();
    let mut senders = Vec::new();
    let mut expected_per_message = 0u64;

    for (index, flow) in flows.into_iter().enumerate() {
        let sender_id = flow.sender.id.clone();
        for (receiver, api) in &flow.receivers {
            let (tally, receiver_id, sender_id) =
                (tally.clone(), receiver.id.clone(), sender_id.clone());
            let on_frame: OnFrame = Arc::new(move |frame: &Value| {
                let message = &frame["message"];
                if frame["type"] != "message" || message["sender_id"] != sender_id.as_str() {
                    return;
                }
                if let Some(stamp) = message["content"].as_str().and_then(|c| c.parse().ok()) {
                    tally.deliver.record(clock.since(stamp));
                }
                let conversation = message["conversation"].to_string();
                tally.ordering.observe(
                    &receiver_id,
                    &conversation,
                    message["seq"].as_i64().unwrap_or(0),
                );
                tally.delivered.fetch_add(1, AtomicOrdering::Relaxed);
            });
            sockets.push(Socket::connect(api, receiver, None, on_frame).await?);
        }
        expected_per_message += flow.receivers.len() as u64;

        let window = Arc::new(Semaphore::new(SEND_WINDOW));
        let (tally_for_acks, window_for_acks) = (tally.clone(), window.clone());
        let on_frame: OnFrame = Arc::new(move |frame: &Value| match frame["type"].as_str() {
            Some("ack") => {
                if let Some(stamp) = frame["message"]["content"]
                    .as_str()
                    .and_then(|c| c.parse().ok())
                {
                    tally_for_acks.ack.record(clock.since(stamp));
                }
                tally_for_acks.acked.fetch_add(1, AtomicOrdering::Relaxed);
                window_for_acks.add_permits(1);
            }
            Some("error") if frame.get("id").is_some() => {
                tally_for_acks.errors.fetch_add(1, AtomicOrdering::Relaxed);
                window_for_acks.add_permits(1);
            }
            _ => {}
        });
        let socket = Socket::connect(&flow.sender_api, &flow.sender, None, on_frame).await?;
        senders.push((index, flow.to, socket, window));
    }

    let flow_count = senders.len().max(1) as f64;
    let cpu_before = meter.read();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (index, to, socket, window) in senders {
        let tally = tally.clone();
        tasks.push(tokio::spawn(async move {
            let interval =
                (rate > 0).then(|| Duration::from_secs_f64(flow_count / f64::from(rate)));
            // Senders start spread over one interval, so that the total rate is even rather than
            // every sender firing at the same instant.
            let mut ticker = interval.map(|interval| {
                let offset = interval.mul_f64(index as f64 / flow_count);
                tokio::time::interval_at(tokio::time::Instant::now() + offset, interval)
            });
            let mut n = 0u64;
            while started.elapsed() < duration {
                if let Some(ticker) = ticker.as_mut() {
                    ticker.tick().await;
                }
                let Ok(permit) =
                    tokio::time::timeout(Duration::from_secs(5), window.acquire()).await
                else {
                    break;
                };
                if let Ok(permit) = permit {
                    permit.forget();
                }
                n += 1;
                let frame = json!({
                    "type": "send",
                    "id": n.to_string(),
                    "to": to,
                    "content": clock.stamp().to_string(),
                    "client_msg_id": format!("f{index}-{n}"),
                });
                if socket.send(&frame).await.is_err() {
                    break;
                }
                tally.sent.fetch_add(1, AtomicOrdering::Relaxed);
            }
            // Wait for the last acks.
            let _ =
                tokio::time::timeout(DRAIN_TIMEOUT, window.acquire_many(SEND_WINDOW as u32)).await;
            socket
        }));
    }
    let mut finished = Vec::new();
    for task in tasks {
        finished.push(task.await.context("a sender task failed")?);
    }
    let seconds = started.elapsed().as_secs_f64();

    let expected =
        tally.acked.load(AtomicOrdering::Relaxed) * expected_per_message / flow_count as u64;
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    while tally.delivered.load(AtomicOrdering::Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cpu = meter
        .read()
        .per_message_since(&cpu_before, tally.acked.load(AtomicOrdering::Relaxed));
    for socket in finished.into_iter().chain(sockets) {
        socket.close().await;
    }
    Ok((tally, seconds, expected, cpu))
}

fn report(
    name: &str,
    settings: String,
    tally: &Tally,
    seconds: f64,
    expected: u64,
    cpu: String,
) -> Report {
    Report {
        scenario: name.to_owned(),
        settings,
        seconds,
        sent: tally.sent.load(AtomicOrdering::Relaxed),
        acked: tally.acked.load(AtomicOrdering::Relaxed),
        delivered: tally.delivered.load(AtomicOrdering::Relaxed),
        expected_deliveries: expected,
        errors: tally.errors.load(AtomicOrdering::Relaxed),
        ack_ms: tally.ack.summary(),
        deliver_ms: tally.deliver.summary(),
        violations: tally.ordering.violations(),
        extra: vec![(CPU_PER_MESSAGE.into(), cpu)],
    }
}

/// `pairs` pairs, each sender writing to its partner; with `far`, partners are on that server.
pub async fn private(
    near: &Api,
    far: Option<&Api>,
    pairs: usize,
    rate: u32,
    duration: Duration,
    meter: &CpuMeter,
) -> anyhow::Result<Report> {
    let prefix = run_prefix();
    let senders = users(near, &format!("{prefix}s"), pairs).await?;
    let receivers = users(near, &format!("{prefix}r"), pairs).await?;
    let receiver_api = far.unwrap_or(near).clone();
    let mut flows = Vec::new();
    for (sender, receiver) in senders.into_iter().zip(receivers) {
        near.add_contact(&receiver, &sender).await?;
        flows.push(Flow {
            to: json!({ "user_id": receiver.id }),
            sender_api: near.clone(),
            receivers: vec![(receiver, receiver_api.clone())],
            sender,
        });
    }
    let (tally, seconds, expected, cpu) = run_flows(flows, rate, duration, meter).await?;
    let name = if far.is_some() { "cross" } else { "private" };
    let settings = format!(
        "{pairs} pairs, rate {}, {}s",
        rate_label(rate),
        duration.as_secs()
    );
    Ok(report(name, settings, &tally, seconds, expected, cpu))
}

/// `groups` groups of `size` members; each creator writes, every other member reads.
pub async fn group(
    api: &Api,
    groups: usize,
    size: usize,
    rate: u32,
    duration: Duration,
    meter: &CpuMeter,
) -> anyhow::Result<Report> {
    let prefix = run_prefix();
    let mut flows = Vec::new();
    for g in 0..groups {
        let members = users(api, &format!("{prefix}g{g}"), size).await?;
        let (creator, others) = members.split_first().context("a group needs members")?;
        for other in others {
            api.add_contact(creator, other).await?;
        }
        let group_id = api.create_group(creator, others).await?;
        flows.push(Flow {
            sender: creator.clone(),
            sender_api: api.clone(),
            to: json!({ "group_id": group_id }),
            receivers: others
                .iter()
                .map(|member| (member.clone(), api.clone()))
                .collect(),
        });
    }
    let (tally, seconds, expected, cpu) = run_flows(flows, rate, duration, meter).await?;
    let settings = format!(
        "{groups} groups of {size}, rate {}, {}s",
        rate_label(rate),
        duration.as_secs()
    );
    Ok(report("group", settings, &tally, seconds, expected, cpu))
}

fn rate_label(rate: u32) -> String {
    if rate == 0 {
        "flat out".into()
    } else {
        format!("{rate}/s")
    }
}

/// How many idle connections are being opened at once.
const IDLE_CONNECTS_AT_ONCE: usize = 32;

/// Holds `count` idle connections for `hold`, pinging as the heartbeat asks, and reads the
/// server's memory and CPU from `/proc/<server_pid>` (when given).
pub async fn idle(
    api: &Api,
    count: usize,
    hold: Duration,
    server_pid: Option<u32>,
) -> anyhow::Result<Report> {
    let people = users(api, &run_prefix(), count).await?;
    let rss_before = server_pid.and_then(rss_kib);
    // Connected a few at a time: each socket pings by itself from the moment it is up (see
    // `Socket`), so a set-up that takes longer than two heartbeats loses none of them.
    let sockets: Vec<Socket> = futures_util::stream::iter(people.iter().enumerate())
        .map(|(n, person)| {
            // 127.0.0.0/8 is all loopback: spreading sources lifts the per-address port limit.
            let source = IpAddr::V4(Ipv4Addr::new(127, 1, (n / 250) as u8, (n % 250 + 1) as u8));
            let on_frame: OnFrame = Arc::new(|_: &Value| {});
            Socket::connect(api, person, Some(source), on_frame)
        })
        .buffer_unordered(IDLE_CONNECTS_AT_ONCE)
        .try_collect()
        .await?;
    let rss_after = server_pid.and_then(rss_kib);
    let cpu_before = server_pid.and_then(cpu_micros);
    let started = Instant::now();
    tokio::time::sleep(hold).await;
    let held = started.elapsed();
    let cpu_after = server_pid.and_then(cpu_micros);
    for socket in sockets {
        socket.close().await;
    }

    let mut report = Report {
        scenario: "idle".into(),
        settings: format!("{count} connections held {}s", hold.as_secs()),
        seconds: held.as_secs_f64(),
        ..Report::default()
    };
    if let (Some(before), Some(after)) = (rss_before, rss_after) {
        let per = (after.saturating_sub(before) as f64 * 1024.0) / count as f64 / 1024.0;
        report
            .extra
            .push(("server RSS per connection".into(), format!("{per:.1} KiB")));
    }
    if let (Some(before), Some(after)) = (cpu_before, cpu_after) {
        let per = (after - before) as f64 / count as f64 / held.as_secs_f64();
        report
            .extra
            .push(("server CPU per connection".into(), format!("{per:.2} µs/s")));
    }
    Ok(report)
}

/// `per_client` messages each are stored for `count` clients while they are away; then all
/// connect at once and `sync`. Measures the time until all have everything.
pub async fn reconnect(api: &Api, count: usize, per_client: usize) -> anyhow::Result<Report> {
    let prefix = run_prefix();
    let sender = api.new_user(&format!("{prefix}_sender")).await?;
    let clients = users(api, &format!("{prefix}c"), count).await?;
    for client in &clients {
        api.add_contact(client, &sender).await?;
    }
    let acked = Arc::new(AtomicU64::new(0));
    let counting = acked.clone();
    let on_ack: OnFrame = Arc::new(move |frame: &Value| {
        if frame["type"] == "ack" {
            counting.fetch_add(1, AtomicOrdering::Relaxed);
        }
    });
    let sender_socket = Socket::connect(api, &sender, None, on_ack).await?;
    for client in &clients {
        for n in 0..per_client {
            sender_socket
                .send(&json!({
                    "type": "send",
                    "to": { "user_id": client.id },
                    "content": format!("m{n}"),
                    "client_msg_id": format!("{}-{n}", client.id),
                }))
                .await?;
        }
    }
    // Everything is stored before the clients come back.
    let total = (count * per_client) as u64;
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    while acked.load(AtomicOrdering::Relaxed) < total && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let ordering = Arc::new(Ordering::default());
    let caught_up = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut sockets = Vec::new();
    for client in &clients {
        let (ordering, caught_up, me) = (ordering.clone(), caught_up.clone(), client.id.clone());
        let on_frame: OnFrame = Arc::new(move |frame: &Value| {
            if frame["type"] != "messages" {
                return;
            }
            let messages = frame["messages"].as_array().cloned().unwrap_or_default();
            for message in &messages {
                ordering.observe(&me, "sync", message["seq"].as_i64().unwrap_or(0));
            }
            if messages.len() == per_client {
                caught_up.fetch_add(1, AtomicOrdering::Relaxed);
            }
        });
        sockets.push(Socket::connect(api, client, None, on_frame).await?);
    }
    for socket in &sockets {
        socket
            .send(&json!({
                "type": "sync",
                "conversation": { "user_id": sender.id },
                "after_seq": 0,
                "limit": 200,
            }))
            .await?;
    }
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    while caught_up.load(AtomicOrdering::Relaxed) < count as u64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let done = caught_up.load(AtomicOrdering::Relaxed);
    for socket in sockets.into_iter().chain([sender_socket]) {
        socket.close().await;
    }
    Ok(Report {
        scenario: "reconnect".into(),
        settings: format!("{count} clients, {per_client} missed messages each"),
        seconds,
        delivered: done * per_client as u64,
        expected_deliveries: (count * per_client) as u64,
        violations: ordering.violations(),
        extra: vec![(
            "time until all caught up".into(),
            format!("{:.0} ms", seconds * 1000.0),
        )],
        ..Report::default()
    })
}
