//! Issue 10, item 8: `RUST_LOG=trace` must not log residents' numbers through third-party
//! frame logging. `bangban run`'s filter caps the WebSocket, HTTP and storage crates below trace
//! unless the operator names them, and always keeps the Telegram adapter's HTTP stack at info
//! (its URLs carry the bot token).

use bangban::cli::logging;
use tracing::Level;
use tracing_subscriber::prelude::*;

/// What the filter for `rust_log` lets through, per (target, level) asked below.
fn verdicts(rust_log: Option<&str>) -> Vec<(&'static str, Level, bool)> {
    let subscriber = tracing_subscriber::registry().with(logging::filter(rust_log));
    let dispatch = tracing::Dispatch::new(subscriber);
    macro_rules! asks {
        ($(($target:literal, $level:ident)),* $(,)?) => {
            vec![$(($target, Level::$level, tracing::enabled!(target: $target, Level::$level))),*]
        };
    }
    tracing::dispatcher::with_default(&dispatch, || {
        asks![
            ("tungstenite::protocol", TRACE),
            ("tungstenite::protocol", DEBUG),
            ("tungstenite::protocol", INFO),
            ("tokio_tungstenite", TRACE),
            ("hyper::proto::h1::io", TRACE),
            ("h2::codec", TRACE),
            ("reqwest::connect", DEBUG),
            ("sled::pagecache", TRACE),
            ("axum::rejection", TRACE),
            ("bangban::runtime", TRACE),
            ("bangban::runtime", DEBUG),
            ("bangban::runtime", INFO),
        ]
    })
}

/// Whether `target` at `level` is logged under `rust_log`.
fn logs(rust_log: Option<&str>, target: &str, level: Level) -> bool {
    verdicts(rust_log)
        .into_iter()
        .find(|(t, l, _)| *t == target && *l == level)
        .unwrap_or_else(|| panic!("{target} {level} is not asked"))
        .2
}

// One test: the callsites' cached interest is shared by every dispatcher in the process, so the
// filters are tried one after the other.
#[test]
fn trace_is_bangbans_own_and_frames_stay_capped_unless_named() {
    // `trace` alone: bangban at trace, the frame loggers at info at most.
    let trace = Some("trace");
    assert!(logs(trace, "bangban::runtime", Level::TRACE));
    for (target, level, on) in verdicts(trace) {
        let capped = !target.starts_with("bangban");
        if capped {
            assert_eq!(
                on,
                level <= Level::INFO,
                "{target} {level} under RUST_LOG=trace"
            );
        }
    }
    assert!(!logs(trace, "tungstenite::protocol", Level::TRACE));
    assert!(!logs(trace, "tungstenite::protocol", Level::DEBUG));
    assert!(logs(trace, "tungstenite::protocol", Level::INFO));

    // Named by the operator: as they say (the crate, or one of its modules).
    for named in [
        "trace,tungstenite=trace",
        "trace,tungstenite::protocol=trace",
    ] {
        assert!(
            logs(Some(named), "tungstenite::protocol", Level::TRACE),
            "{named}"
        );
        assert!(
            !logs(Some(named), "tokio_tungstenite", Level::TRACE),
            "{named}"
        );
    }
    // Except the HTTP stack under the Telegram adapter: its URLs carry the bot token.
    assert!(!logs(
        Some("trace,reqwest=trace"),
        "reqwest::connect",
        Level::DEBUG
    ));

    // A cap never raises a crate above the operator's level.
    assert!(!logs(Some("warn"), "tungstenite::protocol", Level::INFO));
    assert!(!logs(Some("warn"), "bangban::runtime", Level::INFO));

    // Unset, empty or unreadable: info.
    for unset in [None, Some(""), Some("bangban=lots")] {
        assert!(logs(unset, "bangban::runtime", Level::INFO), "{unset:?}");
        assert!(!logs(unset, "bangban::runtime", Level::DEBUG), "{unset:?}");
        assert!(
            !logs(unset, "tungstenite::protocol", Level::DEBUG),
            "{unset:?}"
        );
    }
}
