//! The log filter of `bangban run`: `RUST_LOG` as the operator wrote it (default `info`), with the
//! third-party crates that log whole frames, requests or records at debug and trace level
//! capped, because residents post ID-card, phone and bank-card numbers: `RUST_LOG=trace` shows
//! bangban's own trace, not the WebSocket frames under it.
//!
//! A crate the operator names (`RUST_LOG=trace,tungstenite=trace`, or any of its modules) is
//! left as they say; except the HTTP stack under the Telegram adapter, whose URLs carry the bot
//! token: [`bangban_telegram::LOG_FILTER`] comes last and always holds.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

/// Crates capped unless named: WebSocket, HTTP and TLS stacks and sled, which log frames,
/// headers, bodies or records below info.
pub const CAPPED: &[&str] = &[
    "tungstenite",
    "tokio_tungstenite",
    "hyper",
    "hyper_util",
    "h2",
    "reqwest",
    "rustls",
    "tower",
    "tower_http",
    "axum",
    "sled",
    "mio",
    "want",
];

/// The most a capped crate logs: info (never debug or trace).
const CAP: LevelFilter = LevelFilter::INFO;

/// The filter for `rust_log` (the `RUST_LOG` value, if set). A value that does not parse is
/// replaced by `info`, capped the same way.
pub fn filter(rust_log: Option<&str>) -> EnvFilter {
    let wanted = rust_log.map(str::trim).filter(|s| !s.is_empty());
    EnvFilter::try_new(directives(wanted.unwrap_or("info")))
        .unwrap_or_else(|_| EnvFilter::new(directives("info")))
}

/// `rust_log` with the caps and the Telegram adapter's directives appended.
pub fn directives(rust_log: &str) -> String {
    let cap = CAP.min(default_level(rust_log));
    let mut out = rust_log.to_string();
    for krate in CAPPED.iter().filter(|k| !names(rust_log, k)) {
        out.push_str(&format!(",{krate}={cap}"));
    }
    out.push(',');
    out.push_str(bangban_telegram::LOG_FILTER);
    out
}

/// The level of `rust_log`'s directive without a target (`trace` in `trace,bangban=debug`);
/// `off` when there is none, as `EnvFilter` takes it. A cap never raises a crate above it.
fn default_level(rust_log: &str) -> LevelFilter {
    rust_log
        .split(',')
        .filter_map(|d| d.trim().parse::<LevelFilter>().ok())
        .next_back()
        .unwrap_or(LevelFilter::OFF)
}

/// Whether a directive of `rust_log` is about `krate` or one of its modules.
fn names(rust_log: &str, krate: &str) -> bool {
    rust_log.split(',').any(|d| {
        let target = d.split(['=', '[']).next().unwrap_or("").trim();
        target == krate
            || target
                .strip_prefix(krate)
                .is_some_and(|rest| rest.starts_with("::"))
    })
}
