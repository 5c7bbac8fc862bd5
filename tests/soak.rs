//! The soak, short: the real `bangban run` (the test build) for about half a minute at 50
//! questions a second against a fake NapCat over reverse WebSocket, with one dropped and
//! reopened WebSocket and one `kill -9` and restart on the same data directory. No reply may be
//! lost or sent twice unexplained, memory stays under 100 MB and the outbox drains. The hour
//! long version is `cargo bench --bench soak` (docs/RELIABILITY.md, "Soak"); both run the driver
//! in `tests/soak_common/mod.rs`, whose judging is tested here too.

mod soak_common;

use soak_common::*;
use std::path::PathBuf;
use std::time::Duration;
use tokio::time::Instant;

#[test]
fn a_short_soak_with_a_reconnect_and_a_kill_loses_no_reply() {
    let settings = Settings {
        bin: PathBuf::from(env!("CARGO_BIN_EXE_bangban")),
        duration: Duration::from_secs(24),
        rate: 50,
        residents: 200,
        escalate_one_in: 10,
        // A drop at 8 s, the kill at 16 s (the reconnect due then is the kill's own).
        reconnect_every: Some(Duration::from_secs(8)),
        kill_every: Some(Duration::from_secs(16)),
        report_every: Duration::from_secs(6),
        max_rss_kib: 100 * 1024,
        drain: Duration::from_secs(60),
        start_timeout: Duration::from_secs(120),
        // Every start serves with the matcher from the cache: memory is the serving bot's.
        // (A start that trains keeps about 40 MB more: the bench's first start shows it.)
        warm_cache: true,
        data_parent: None,
        show_logs: false,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let summary = runtime.block_on(run(settings));
    summary.print();
    assert_eq!(summary.failures(), Vec::<String>::new());

    // The scenario happened as planned.
    assert_eq!(summary.kills, 1);
    assert_eq!(summary.reconnects, 1);
    assert!(summary.sent >= 1000, "{} questions sent", summary.sent);
    assert!(
        summary.escalations > 0 && summary.notices > 0,
        "tickets and agents' notices"
    );
    // The fake stalled before the kill: replies waited in the outbox and came after the restart.
    assert!(
        summary.answered_after_restart > 0,
        "no reply was left in the outbox at the kill"
    );

    // What the contract promises.
    assert_eq!(summary.unanswered.lost(), 0, "{:?}", summary.unanswered);
    assert_eq!(summary.repeats.unexplained, 0, "{:?}", summary.repeats);
    assert!(summary.peak_hwm_kib > 0, "memory was sampled");
    assert!(
        summary.peak_hwm_kib < 100 * 1024,
        "peak RSS {:.1} MiB",
        mib(summary.peak_hwm_kib)
    );
    assert_eq!(summary.outbox_end, Some(0));
    // Every answered question is remembered for dedupe, and nothing else.
    assert_eq!(summary.answered_unseen, 0);
    assert_eq!(summary.seen_end, summary.answered);
    // The restarted bot counted its dedupe store at start: at least what it had answered.
    assert_eq!(summary.seen_after_restart.len(), 1, "{summary:?}");
    for &(seen, answered) in &summary.seen_after_restart {
        assert!(seen >= answered as i64, "seen {seen} < answered {answered}");
    }
}

/// The reply `text` to question `n` in `group`, read on `conn` at `at`, confirmed at once.
fn reply(ledger: &mut Ledger, n: u64, text: &str, conn: usize, at: Instant) {
    let key = ledger.delivered(FIRST_GROUP, Some(FIRST_ID + n), text, conn, at);
    ledger.confirmed(key, at);
}

#[test]
fn a_repeat_is_explained_only_by_a_confirmation_that_a_break_may_have_cut() {
    let t = Instant::now();
    let s = Duration::from_secs;
    let mut ledger = Ledger::default();
    let c0 = ledger.connected(0);
    for _ in 0..3 {
        ledger.asked(FIRST_GROUP, false, Some((t, c0)));
    }
    reply(
        &mut ledger,
        0,
        "confirmed long before the kill",
        c0,
        t + s(1),
    );
    reply(
        &mut ledger,
        1,
        "confirmed just before the kill",
        c0,
        t + s(9),
    );
    let never = ledger.delivered(
        FIRST_GROUP,
        Some(FIRST_ID + 2),
        "never confirmed",
        c0,
        t + s(9),
    );
    let _ = never;
    ledger.ended(c0, t + s(10), End::Kill);
    let c1 = ledger.connected(1);
    reply(
        &mut ledger,
        0,
        "confirmed long before the kill",
        c1,
        t + s(12),
    );
    reply(
        &mut ledger,
        1,
        "confirmed just before the kill",
        c1,
        t + s(12),
    );
    reply(&mut ledger, 2, "never confirmed", c1, t + s(12));
    assert_eq!(
        ledger.repeats,
        Repeats {
            unconfirmed: 1,
            cut_by_kill: 1,
            cut_by_drop: 0,
            unexplained: 1,
            unquoted: 0,
            unquoted_examples: Vec::new(),
        }
    );
    // A second part of a reply is another message, not a repeat; each question answered once.
    reply(&mut ledger, 0, "another part", c1, t + s(13));
    assert_eq!(ledger.repeats.unexplained, 1);
    assert_eq!(ledger.answered(), 3);

    // A dropped connection cuts confirmations as a kill does.
    ledger.asked(FIRST_GROUP, false, Some((t + s(13), c1)));
    reply(&mut ledger, 3, "before the drop", c1, t + s(14));
    ledger.ended(c1, t + s(15), End::Drop);
    let c2 = ledger.connected(1);
    reply(&mut ledger, 3, "before the drop", c2, t + s(16));
    assert_eq!(ledger.repeats.cut_by_drop, 1);
}

#[test]
fn an_unanswered_question_is_lost_unless_it_was_in_flight_and_never_accepted() {
    let t = Instant::now();
    let s = Duration::from_secs;
    let mut ledger = Ledger::default();
    let c0 = ledger.connected(0);
    let early = ledger.asked(FIRST_GROUP, false, Some((t, c0)));
    let accepted = ledger.asked(FIRST_GROUP, false, Some((t + s(9), c0)));
    let in_flight = ledger.asked(FIRST_GROUP, false, Some((t + s(9), c0)));
    let answered = ledger.asked(FIRST_GROUP, false, Some((t + s(9), c0)));
    reply(&mut ledger, answered, "answered", c0, t + s(9));
    ledger.ended(c0, t + s(10), End::Kill);
    ledger.asked(FIRST_GROUP, false, None); // asked while down
    let c1 = ledger.connected(1);
    let dropped = ledger.asked(FIRST_GROUP, false, Some((t + s(11), c1)));
    ledger.ended(c1, t + s(12), End::Drop);
    let c2 = ledger.connected(1);
    let unread = ledger.asked(FIRST_GROUP, false, Some((t + s(13), c2)));
    ledger.ended(c2, t + s(30), End::Finish);

    let seen = |_group: u64, id: u64| id == FIRST_ID + accepted || id == FIRST_ID + answered;
    assert_eq!(
        ledger.unanswered(seen),
        Unanswered {
            lost_accepted: 1,
            lost_unread: 2,
            in_flight_kill: 1,
            in_flight_drop: 1,
        },
        "early {early}, in flight {in_flight}, dropped {dropped}, unread {unread}"
    );
    assert_eq!(ledger.down(), 1);
    assert_eq!(ledger.answered_unseen(seen), 0);
    assert_eq!(ledger.answered_unseen(|_, _| false), 1);
}
