//! `idle`: many connections that only ping, to measure what an open socket costs the server.

use std::{
    net::{IpAddr, Ipv4Addr},
    sync::Arc,
    time::{Duration, Instant},
};

use futures_util::{StreamExt, TryStreamExt};
use serde_json::Value;

use super::{
    client::{Api, OnFrame, Socket},
    cost::{cpu_micros, rss_kib},
    progress,
    report::Report,
    scenarios::{run_prefix, users},
};

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
    let bar = progress::bar("connecting", count);
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
        .inspect_ok(|_| bar.inc(1))
        .try_collect()
        .await?;
    bar.finish_and_clear();
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
