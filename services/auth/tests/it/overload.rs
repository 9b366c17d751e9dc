//! Issue 13, item 2: argon2 needs `AUTH_ARGON2_M_KIB` (19 MiB) per running hash, so the number
//! running at once is bounded; a flood of logins gets 503s at once instead of taking the memory.

use std::{sync::Arc, time::Duration};

use crate::{api::Api, spawn_with};

const REQUESTS: usize = 1000;
const SLOTS: usize = 4;

/// kB from `/proc/self/status` (the server runs in this process).
fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn a_thousand_concurrent_logins_keep_memory_bounded_and_all_get_an_answer() {
    let (server, _db) = spawn_with(|c| c.accounts.hash_concurrency = SLOTS).await;
    let api = Arc::new(Api::new(server));
    for i in 0..5 {
        api.register(
            &format!("real{i}@example.org"),
            "correct horse battery",
            "R",
        )
        .await;
    }
    let rss_before = status_kb("VmRSS:");
    let peak_before = status_kb("VmHWM:");

    // Every request from its own address and for its own account, so the brute-force limits stay
    // out of the way: only the hashing bound can protect the memory.
    let mut logins = tokio::task::JoinSet::new();
    for i in 0..REQUESTS {
        let api = Arc::clone(&api);
        logins.spawn(async move {
            let ip = format!("10.{}.{}.1", i / 250, i % 250);
            let (email, password) = if i % 200 == 0 {
                (
                    format!("real{}@example.org", i / 200),
                    "correct horse battery",
                )
            } else {
                (format!("nobody{i}@example.org"), "a wrong guess")
            };
            // Bounded: a hang is a failure, not a slow test.
            let r = tokio::time::timeout(
                Duration::from_mins(1),
                api.login_from(&email, password, &ip),
            )
            .await
            .expect("an answer within 60 s");
            (
                r.status,
                r.code().map(str::to_owned),
                r.header("retry-after").is_some(),
            )
        });
    }
    let answers = logins.join_all().await;
    let peak = status_kb("VmHWM:");
    let rss_after = status_kb("VmRSS:");
    let count = |s: u16| answers.iter().filter(|a| a.0 == s).count();
    eprintln!(
        "RSS before {rss_before} kB, peak before {peak_before} kB, peak during {peak} kB, after {rss_after} kB; \
         200: {}, 401: {}, 429: {}, 503: {}",
        count(200),
        count(401),
        count(429),
        count(503)
    );
    for (status, code, retry_after) in &answers {
        assert!([200, 401, 429, 503].contains(status), "{status} {code:?}");
        if *status == 503 {
            assert_eq!(code.as_deref(), Some("overloaded"));
            assert!(retry_after, "503 without Retry-After");
        }
    }
    assert!(count(401) > 0, "some logins were checked");
    assert!(count(503) > 0, "the bound was reached");
    // 4 hashes × 19 MiB, plus a thousand connections' buffers: far below one 19 MiB hash per request.
    let grown_mib = peak.saturating_sub(rss_before) / 1024;
    assert!(grown_mib < 300, "peak RSS grew by {grown_mib} MiB");
}
