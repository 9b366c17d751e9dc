//! Load generation for the benchmarks: a fixed number of jobs or a fixed time, over a number of
//! concurrent workers, with every job's latency.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

/// The `p` quantile (0..=1) of ascending `sorted` values (nearest rank).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    // The rank is within 0..len for p in 0..=1; a p outside that picks the nearest end.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let rank = ((sorted.len() as f64 - 1.0) * p.clamp(0.0, 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// `concurrency` workers run `job` until `count` jobs are done; returns (elapsed, sorted ms).
pub async fn drive<F, Fut>(concurrency: usize, count: usize, job: F) -> (Duration, Vec<f64>)
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let left = Arc::new(std::sync::atomic::AtomicUsize::new(count));
    workers(concurrency, job, move || {
        left.fetch_update(
            std::sync::atomic::Ordering::SeqCst,
            std::sync::atomic::Ordering::SeqCst,
            |n| n.checked_sub(1),
        )
        .is_ok()
    })
    .await
}

/// Like [`drive`] for a fixed time instead of a fixed count.
pub async fn drive_for<F, Fut>(concurrency: usize, secs: u64, job: F) -> (Duration, Vec<f64>)
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    workers(concurrency, job, move || Instant::now() < deadline).await
}

/// `concurrency` workers run `job` while `more()` says so; returns (elapsed, sorted ms).
async fn workers<F, Fut, M>(concurrency: usize, job: F, more: M) -> (Duration, Vec<f64>)
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
    M: Fn() -> bool + Send + Sync + 'static,
{
    let (job, more) = (Arc::new(job), Arc::new(more));
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (job, more) = (job.clone(), more.clone());
        set.spawn(async move {
            let mut lat = Vec::new();
            while more() {
                let t = Instant::now();
                job().await;
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            lat
        });
    }
    let mut all = Vec::new();
    while let Some(lat) = set.join_next().await {
        // A worker that panicked fails the benchmark instead of quietly shortening it.
        all.extend(lat.unwrap_or_else(|e| panic!("a load worker failed: {e}")));
    }
    let elapsed = started.elapsed();
    all.sort_by(f64::total_cmp);
    (elapsed, all)
}
