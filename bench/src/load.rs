//! The load generator: `clients` threads, each with its own signed-in client and keep-alive
//! connection, repeat one request for a fixed time; every latency is kept, so p50 and p99
//! are exact.

use crate::browser::Client;
use serde::Serialize;
use std::time::{Duration, Instant};

/// Throughput and latency of one load run.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Stats {
    /// Requests completed.
    pub requests: usize,
    /// Requests per second.
    pub rps: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
}

/// The p-th percentile (0..=100) of sorted `samples`.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Stats of latencies (ms) collected over `elapsed`.
pub fn stats(mut latencies: Vec<f64>, elapsed: Duration) -> Stats {
    latencies.sort_by(f64::total_cmp);
    Stats {
        requests: latencies.len(),
        rps: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50_ms: percentile(&latencies, 50.0),
        p99_ms: percentile(&latencies, 99.0),
    }
}

/// Runs `request` from every client for `duration`; a request that fails stops the run
/// with its error. `request` returns whether the answer was the expected one.
pub fn run<F>(clients: Vec<Client>, duration: Duration, request: F) -> anyhow::Result<Stats>
where
    F: Fn(&mut Client, usize, usize) -> anyhow::Result<bool> + Send + Sync + 'static,
{
    let round = rounds(clients, duration, std::sync::Arc::new(request))?;
    Ok(stats(round.latencies, round.elapsed))
}

/// One load run, with the clients back for the next one.
pub struct Round {
    /// Every request's latency, ms.
    pub latencies: Vec<f64>,
    /// How long the run took.
    pub elapsed: Duration,
    /// The clients, signed in still.
    pub clients: Vec<Client>,
}

/// Like [`run`], giving back the latencies and the clients (for runs in rounds).
pub fn rounds<F>(
    clients: Vec<Client>,
    duration: Duration,
    request: std::sync::Arc<F>,
) -> anyhow::Result<Round>
where
    F: Fn(&mut Client, usize, usize) -> anyhow::Result<bool> + Send + Sync + 'static,
{
    let started = Instant::now();
    let threads: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut client)| {
            let request = request.clone();
            std::thread::spawn(move || -> anyhow::Result<(Client, Vec<f64>)> {
                let mut latencies = Vec::new();
                let mut n = 0;
                while started.elapsed() < duration {
                    let t = Instant::now();
                    anyhow::ensure!(request(&mut client, i, n)?, "client {i}: unexpected answer");
                    latencies.push(t.elapsed().as_secs_f64() * 1e3);
                    n += 1;
                }
                Ok((client, latencies))
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut clients = Vec::new();
    for t in threads {
        let (client, latencies) = t.join().map_err(|_| anyhow::anyhow!("a load thread panicked"))??;
        all.extend(latencies);
        clients.push(client);
    }
    Ok(Round { latencies: all, elapsed: started.elapsed(), clients })
}
