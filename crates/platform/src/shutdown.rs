//! One shutdown signal for the whole process (mini-redis style), so long-lived work — SSE streams,
//! WebSocket sessions, the relay loop — stops when the HTTP server stops accepting.

use std::{future::Future, time::Duration};

use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// Cloneable handle: `cancelled()` for tasks that must stop, `spawn` for tasks the drain waits for.
#[derive(Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
    tracker: TaskTracker,
}

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts the shutdown: the listener stops accepting and every `cancelled()` resolves.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves once shutdown has started. Long-lived tasks `select!` on this.
    pub async fn cancelled(&self) {
        self.token.cancelled().await;
    }

    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// Spawns a task that the drain waits for (up to the deadline).
    pub fn spawn<F>(&self, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tracker.spawn(task)
    }

    /// Runs `task` now and then every `period` until shutdown, as a tracked task. A run that
    /// overruns the period delays the next one instead of bunching ticks up; a run in progress when
    /// shutdown starts is finished (the drain waits for it).
    pub fn every<F, Fut>(&self, period: Duration, task: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.periodic(tokio::time::Instant::now(), period, task);
    }

    /// [`Shutdown::every`], first run after one period (for work start-up has just done).
    pub fn every_after<F, Fut>(&self, period: Duration, task: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.periodic(tokio::time::Instant::now() + period, period, task);
    }

    fn periodic<F, Fut>(&self, start: tokio::time::Instant, period: Duration, mut task: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let stop = self.clone();
        self.spawn(async move {
            let mut tick = tokio::time::interval_at(start, period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => task().await,
                    () = stop.cancelled() => break,
                }
            }
        });
    }

    /// Waits for tracked tasks; returns how many were still running when `deadline` passed.
    pub async fn drain_tasks(&self, deadline: Duration) -> usize {
        self.tracker.close();
        match tokio::time::timeout(deadline, self.tracker.wait()).await {
            Ok(()) => 0,
            Err(_) => self.tracker.len(),
        }
    }

    /// Triggers shutdown on SIGTERM (what Nomad sends) or SIGINT (Ctrl-C).
    pub fn trigger_on_signals(&self) {
        let this = self.clone();
        tokio::spawn(async move {
            let signal = wait_for_signal().await;
            tracing::info!(signal, "shutdown signal received; draining");
            this.trigger();
        });
    }
}

#[cfg(unix)]
async fn wait_for_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers the process can still be stopped (default action); just never drain.
        tracing::error!("could not install signal handlers; graceful shutdown disabled");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() -> &'static str {
    let _ = tokio::signal::ctrl_c().await;
    "ctrl-c"
}
