//! Soak (issue 10): `bangban run` (release build, child process) for an hour at a steady
//! moderate load against a fake NapCat over OneBot reverse WebSocket, the WebSocket dropped and
//! reopened every minute and the bot killed with SIGKILL and restarted on the same data directory
//! every five minutes. Every minute a line: bot RSS, outbox depth, dedupe store size, questions
//! sent and answered; at the end a summary. Exits non-zero on a lost reply, an unexplained
//! duplicate reply, a peak RSS over the bound, a crash or an outbox that does not drain. What
//! each figure means is in `tests/soak_common/mod.rs` and docs/RELIABILITY.md ("Soak").
//!
//! ```text
//! cargo bench --bench soak
//! BANGBAN_SOAK_SECS=600 BANGBAN_SOAK_RATE=50 cargo bench --bench soak
//! ```
//! Environment (defaults in brackets): `BANGBAN_SOAK_SECS` [3600], `BANGBAN_SOAK_RATE`
//! questions/s [50], `BANGBAN_SOAK_RESIDENTS` [300], `BANGBAN_SOAK_ESCALATE_ONE_IN` [20],
//! `BANGBAN_SOAK_RECONNECT_SECS` [60; 0 never], `BANGBAN_SOAK_KILL_SECS` [300; 0 never],
//! `BANGBAN_SOAK_REPORT_SECS` [60], `BANGBAN_SOAK_MAX_RSS_MIB` [100], `BANGBAN_SOAK_WARM_CACHE`
//! [0; 1: train the matcher into the soak's cache before the first start, so that no start
//! trains], `BANGBAN_SOAK_DATA` (parent of the data directory; the system temp dir),
//! `BANGBAN_SOAK_SHOW_LOGS` (echo the bot's stderr), `BANGBAN_SOAK_BIN` (run this instead of
//! the release `bangban`: a wrapper that `exec`s it under a profiler, say).

#[path = "../tests/soak_common/mod.rs"]
mod soak;

use std::path::PathBuf;
use std::time::Duration;

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing to run.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let secs = |name: &str, default: u64| {
        Some(env_or(name, default))
            .filter(|s| *s > 0)
            .map(Duration::from_secs)
    };
    let settings = soak::Settings {
        bin: std::env::var_os("BANGBAN_SOAK_BIN").map_or_else(
            || PathBuf::from(env!("CARGO_BIN_EXE_bangban")),
            PathBuf::from,
        ),
        duration: Duration::from_secs(env_or("BANGBAN_SOAK_SECS", 3600).max(1)),
        rate: env_or("BANGBAN_SOAK_RATE", 50).max(1),
        residents: env_or("BANGBAN_SOAK_RESIDENTS", 300).max(1),
        escalate_one_in: env_or("BANGBAN_SOAK_ESCALATE_ONE_IN", 20).max(1),
        reconnect_every: secs("BANGBAN_SOAK_RECONNECT_SECS", 60),
        kill_every: secs("BANGBAN_SOAK_KILL_SECS", 300),
        report_every: Duration::from_secs(env_or("BANGBAN_SOAK_REPORT_SECS", 60).max(1)),
        max_rss_kib: env_or("BANGBAN_SOAK_MAX_RSS_MIB", 100) * 1024,
        drain: Duration::from_secs(120),
        start_timeout: Duration::from_secs(120),
        warm_cache: env_or("BANGBAN_SOAK_WARM_CACHE", 0) == 1,
        data_parent: std::env::var_os("BANGBAN_SOAK_DATA").map(PathBuf::from),
        show_logs: std::env::var_os("BANGBAN_SOAK_SHOW_LOGS").is_some(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let summary = runtime.block_on(soak::run(settings));
    summary.print();
    if !summary.failures().is_empty() {
        std::process::exit(1);
    }
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
