//! The bench scenarios. Each is bounded in count and time, targets the given (loopback) servers
//! only, checks correctness while it measures, and returns a [`Report`].

use std::{
    sync::{
        atomic::{AtomicU64, Ordering as AtomicOrdering},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use futures_util::future::try_join_all;
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use super::{
    client::{Api, BenchUser, OnFrame, Socket},
    cost::{CpuMeter, CpuPerMessage, CPU_PER_MESSAGE},
    progress,
    report::Report,
    stats::{Clock, Latency, Ordering},
};

/// Sends one sender may have awaiting their ack.
const SEND_WINDOW: usize = 8;
/// How long stragglers may take after the sending stops.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(15);

/// A unique-enough username prefix for this run.
pub fn run_prefix() -> String {
    format!("b{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

/// Runs each of `clients` as a task of its own and waits for all of them, in their order. The
/// sockets of a storm are thousands of separate devices: polled together inside one task (as
/// `join_all` does) they would share one core of the load generator, and its figures would
/// measure that core rather than the server.
pub async fn each_on_its_own_task<F>(clients: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let tasks: Vec<_> = clients.into_iter().map(tokio::spawn).collect();
    let mut outputs = Vec::with_capacity(tasks.len());
    for task in tasks {
        match task.await {
            Ok(output) => outputs.push(output),
            Err(err) => std::panic::resume_unwind(err.into_panic()),
        }
    }
    outputs
}

/// Creates `count` users on `api`, a few at a time.
pub async fn users(api: &Api, prefix: &str, count: usize) -> anyhow::Result<Vec<BenchUser>> {
    let bar = progress::bar("registering users", count);
    let mut all = Vec::with_capacity(count);
    for chunk in (0..count).collect::<Vec<_>>().chunks(32) {
        let names: Vec<String> = chunk.iter().map(|n| format!("{prefix}_{n}")).collect();
        let batch = names.iter().map(|name| api.new_user(name));
        all.extend(try_join_all(batch).await?);
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
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
) -> anyhow::Result<(Arc<Tally>, f64, u64, CpuPerMessage)> {
    let clock = Clock::start();
    let tally = Arc::new(Tally::default());
    let mut sockets = Vec::new();
    let mut senders = Vec::new();
    let mut expected_per_message = 0u64;
    let socket_count = flows.iter().map(|flow| 1 + flow.receivers.len()).sum();
    let bar = progress::bar("connecting", socket_count);

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
            bar.inc(1);
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
        bar.inc(1);
    }
    bar.finish_and_clear();
    // The sending window starts: docker/profile.sh starts its profilers on this line.
    eprintln!("bench: sending for {:?}", duration);

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
    cpu: CpuPerMessage,
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
        deliver_curve: tally.deliver.percentiles(),
        cpu: Some(cpu),
        violations: tally.ordering.violations(),
        extra: vec![(CPU_PER_MESSAGE.into(), cpu.to_string())],
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
    let everyone = users(api, &run_prefix(), groups * size).await?;
    let bar = progress::bar("creating groups", groups);
    let mut flows = Vec::new();
    for members in everyone.chunks(size.max(1)) {
        let (creator, others) = members.split_first().context("a group needs members")?;
        for other in others {
            api.add_contact(creator, other).await?;
        }
        let group_id = api.create_group(creator, others).await?;
        bar.inc(1);
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
    bar.finish_and_clear();
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
