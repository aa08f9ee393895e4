//! `upload`: `--uploads` users each upload one file of `--upload-bytes` at the same moment
//! (issue 25's scenario: 100 concurrent 1 MiB uploads), as multipart forms like a browser's.
//! Reports the throughput in MB/s, each upload's time (p50/p90/p99/max), and the first server's
//! resident memory before and at its peak while the uploads ran (sampled every 10 ms): uploads
//! stream to the object store, so the peak should grow with the number of uploads in flight, not
//! with their sizes.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use bytes::Bytes;

use super::{
    client::{Api, BenchUser},
    cost::rss_kib,
    report::Report,
    scenarios::{run_prefix, users},
    stats::Latency,
};

/// The multipart boundary of every upload.
const BOUNDARY: &str = "simplechat-bench-boundary";
/// How often the server's memory is sampled.
const RSS_SAMPLE: Duration = Duration::from_millis(10);

/// Runs the uploads; `server_pid` is the server whose memory is read.
pub async fn uploads(
    api: &Api,
    count: usize,
    bytes: usize,
    server_pid: Option<u32>,
) -> anyhow::Result<Report> {
    let uploaders = users(api, &run_prefix(), count).await?;
    let body = multipart(bytes);
    let latency = Arc::new(Latency::default());
    let rss_before = server_pid.and_then(rss_kib);
    let (peak, running) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(true)));
    let sampler =
        server_pid.map(|pid| tokio::spawn(sample_rss(pid, peak.clone(), running.clone())));

    let started = Instant::now();
    let tasks: Vec<_> = uploaders
        .into_iter()
        .map(|user| tokio::spawn(upload_one(api.clone(), user, body.clone(), latency.clone())))
        .collect();
    let mut errors = 0;
    for task in tasks {
        if !matches!(task.await, Ok(true)) {
            errors += 1;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    running.store(false, Ordering::Relaxed);
    if let Some(sampler) = sampler {
        let _ = sampler.await;
    }

    let stored = count as u64 - errors;
    let mut report = Report {
        scenario: "upload".into(),
        settings: format!("{count} concurrent uploads of {bytes} bytes"),
        seconds,
        sent: count as u64,
        acked: stored,
        errors,
        ack_ms: latency.summary(),
        ..Report::default()
    };
    let megabytes = (stored * bytes as u64) as f64 / 1_000_000.0;
    report.extra.push((
        "MB/s".into(),
        format!("{:.1}", megabytes / seconds.max(1e-9)),
    ));
    if let Some(before) = rss_before {
        report.extra.push((
            "server RSS MiB before / peak".into(),
            format!(
                "{:.0} / {:.0}",
                before as f64 / 1024.0,
                peak.load(Ordering::Relaxed).max(before) as f64 / 1024.0
            ),
        ));
    }
    Ok(report)
}

/// One upload; true when it was stored (201).
async fn upload_one(api: Api, user: BenchUser, body: Bytes, latency: Arc<Latency>) -> bool {
    let started = Instant::now();
    let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
    match api.upload(&user, &content_type, body).await {
        Ok(201) => {
            latency.record(started.elapsed());
            true
        }
        Ok(status) => {
            eprintln!("bench: an upload answered {status}");
            false
        }
        Err(err) => {
            eprintln!("bench: an upload failed: {err:#}");
            false
        }
    }
}

/// A multipart form with one part `file` of `bytes` bytes that no sniffer recognises.
fn multipart(bytes: usize) -> Bytes {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"bench.bin\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    body.extend((0..bytes).map(|_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 32) as u8 | 0x80
    }));
    body.extend(format!("\r\n--{BOUNDARY}--\r\n").into_bytes());
    Bytes::from(body)
}

/// Keeps the highest resident size of `pid` seen while `running`.
async fn sample_rss(pid: u32, peak: Arc<AtomicU64>, running: Arc<AtomicBool>) {
    while running.load(Ordering::Relaxed) {
        if let Some(rss) = rss_kib(pid) {
            peak.fetch_max(rss, Ordering::Relaxed);
        }
        tokio::time::sleep(RSS_SAMPLE).await;
    }
}
