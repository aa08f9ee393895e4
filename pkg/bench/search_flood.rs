//! `search-flood`: one user keeps `--parallel-searches` of the most expensive searches there are
//! running at once (a word of middling frequency across every conversation they are in), while
//! another user sends over a WebSocket at a steady pace. The fair share (a search costs 10 of a
//! user's tokens, at most `RATE_LIMIT_EXPENSIVE_CONCURRENCY` of one user's expensive requests at
//! once) and `DATABASE_STATEMENT_TIMEOUT` should keep the sender's send→ack p99 under 50 ms.
//!
//! The searcher is an existing user with the bench password (`docker/fair-share-bench.sh` makes
//! them a member of every group of `docker/search-data.sh`'s data). A refused search (429) is
//! retried after [`REFUSED_PAUSE`] whatever `Retry-After` says, as an impatient client would.

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
    client::{Api, BenchUser, OnFrame, Socket},
    cost::{CpuMeter, CPU_PER_MESSAGE},
    report::Report,
    scenarios::run_prefix,
    stats::Latency,
};

/// How often the other user sends.
const SENDER_PACE: Duration = Duration::from_millis(20);
/// How long the sender waits for an ack before counting the send as an error.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a searcher waits after a 429 before searching again.
const REFUSED_PAUSE: Duration = Duration::from_millis(50);

/// The searches' answers by status, and the latency of the answered ones.
#[derive(Default)]
struct Searches {
    answered: AtomicU64,
    refused: AtomicU64,
    unavailable: AtomicU64,
    other: AtomicU64,
    latency: Latency,
}

/// Runs `parallel` searches for `query` as `searcher` back to back for `duration`, while a
/// fresh user sends to a friend every [`SENDER_PACE`]; reports the sender's send→ack.
pub async fn search_flood(
    api: &Api,
    searcher: &str,
    query: &str,
    parallel: usize,
    duration: Duration,
    meter: &CpuMeter,
) -> anyhow::Result<Report> {
    let searcher = api.log_in(searcher).await?;
    let prefix = run_prefix();
    let sender = api.new_user(&format!("{prefix}_sender")).await?;
    let friend = api.new_user(&format!("{prefix}_friend")).await?;
    api.add_contact(&sender, &friend).await?;
    // The search must find something, or it measures nothing.
    let (status, _) = api.search(&searcher, query).await?;
    anyhow::ensure!(
        status == 200,
        "the searcher's first search answered {status}"
    );
    let (replies, mut replied) = mpsc::unbounded_channel::<()>();
    let on_frame: OnFrame = Arc::new(move |frame: &Value| {
        if frame.get("id").is_some() {
            let _ = replies.send(());
        }
    });
    let socket = Socket::connect(api, &sender, None, on_frame).await?;
    // The bucket the first search took from refills before the window opens.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let cpu_before = meter.read();
    let started = Instant::now();
    let stop_at = started + duration;
    let searches = Arc::new(Searches::default());
    let flood: Vec<_> = (0..parallel)
        .map(|_| {
            tokio::spawn(search_loop(
                api.clone(),
                searcher.clone(),
                query.to_owned(),
                stop_at,
                searches.clone(),
            ))
        })
        .collect();

    let ack = Latency::default();
    let (mut sent, mut acked, mut errors) = (0u64, 0u64, 0u64);
    while Instant::now() < stop_at {
        let round = Instant::now();
        let send = json!({
            "type": "send",
            "id": sent.to_string(),
            "to": { "user_id": friend.id },
            "content": "still here",
            "client_msg_id": format!("{prefix}-{sent}"),
        });
        socket.send(&send).await?;
        sent += 1;
        match tokio::time::timeout(ANSWER_TIMEOUT, replied.recv()).await {
            Ok(Some(())) => {
                ack.record(round.elapsed());
                acked += 1;
            }
            _ => errors += 1,
        }
        tokio::time::sleep(SENDER_PACE.saturating_sub(round.elapsed())).await;
    }
    for task in flood {
        let _ = task.await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = meter.read().per_message_since(&cpu_before, acked);
    socket.close().await;

    let [p50, p90, p99, max] = searches.latency.summary();
    let per_second = |count: &AtomicU64| count.load(Ordering::Relaxed) as f64 / seconds;
    Ok(Report {
        scenario: "search-flood".into(),
        settings: format!(
            "{parallel} parallel searches for `{query}` by one user, {}s",
            duration.as_secs()
        ),
        seconds,
        sent,
        acked,
        errors,
        ack_ms: ack.summary(),
        cpu: Some(cpu),
        extra: vec![
            (
                "searches/s answered 200 / 429 / 503 / other".into(),
                format!(
                    "{:.1} / {:.0} / {:.1} / {:.1}",
                    per_second(&searches.answered),
                    per_second(&searches.refused),
                    per_second(&searches.unavailable),
                    per_second(&searches.other)
                ),
            ),
            (
                "answered search ms p50/p90/p99/max".into(),
                format!("{p50:.1} / {p90:.1} / {p99:.1} / {max:.1}"),
            ),
            (CPU_PER_MESSAGE.into(), cpu.to_string()),
        ],
        ..Report::default()
    })
}

/// One searcher: the same search, back to back, until `stop_at`.
async fn search_loop(
    api: Api,
    searcher: BenchUser,
    query: String,
    stop_at: Instant,
    searches: Arc<Searches>,
) {
    while Instant::now() < stop_at {
        let started = Instant::now();
        match api.search(&searcher, &query).await {
            Ok((200, _)) => {
                searches.latency.record(started.elapsed());
                searches.answered.fetch_add(1, Ordering::Relaxed);
            }
            Ok((429, _)) => {
                searches.refused.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(REFUSED_PAUSE).await;
            }
            Ok((503, _)) => {
                searches.unavailable.fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                searches.other.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
