//! Pacing and retries under tokio's paused clock, against the fake NapCat over loopback and real
//! sled files (times are virtual): a burst of 200 questions in one group is answered completely,
//! once, within the group's pace; a burst over many groups of one account keeps to the account's
//! pace; a failing send is retried after doubling delays, then given up and recorded.

mod onebot_common;

use bangban::config::service::Bucket;
use onebot_common::*;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn a_burst_of_200_questions_is_answered_completely_within_the_pace() {
    real_time_watchdog(Duration::from_secs(120));
    let (_dir, data) = data_dir();
    let mut config = config();
    let group = Bucket {
        burst: 5,
        per_minute: 30.0,
    };
    // This test is about pacing: the input limits would let only a burst of the 200 in.
    config.service.limits.enabled = false;
    config.service.pacing.enabled = true;
    config.service.pacing.group = group;
    config.service.pacing.account = Bucket {
        burst: 10,
        per_minute: 60.0,
    };
    // Virtual time runs ahead while the runtime waits on sled's threads: no send may time out.
    config.service.onebot.action_timeout_secs = 600;
    let service = Service::start(config, &data).await;
    let mut fake = service.connect().await;

    let ids: Vec<u64> = (10_001..=10_200).collect();
    for (i, id) in ids.iter().enumerate() {
        fake.send(&question(*id, 900007, 800_600 + i as u64, "老年卡要带什么"))
            .await;
    }
    let mut times = Vec::new();
    let mut quotes = Vec::new();
    while quotes.len() < ids.len() {
        let reply = fake.reply().await;
        times.push(Instant::now());
        quotes.push(reply.quote.expect("replies quote the question"));
    }

    let unique: HashSet<_> = quotes.iter().collect();
    assert_eq!(unique.len(), 200, "each question answered once");
    let expected: Vec<String> = ids.iter().map(u64::to_string).collect();
    assert_eq!(quotes, expected, "in the order asked");

    // The pace: no window holds more than burst + window / interval sends…
    let interval = group.interval();
    for i in 0..times.len() {
        for j in i..times.len() {
            let window = times[j] - times[i];
            let allowed = group.burst as u128 + window.as_nanos() / interval.as_nanos();
            assert!(
                (j - i + 1) as u128 <= allowed,
                "{} sends within {window:?}",
                j - i + 1
            );
        }
    }
    // …the first burst goes at once, and the pace is kept up, not undershot. (Measured from
    // the first reply: until the first batch is on disk, virtual time may jump.)
    assert!(times[4] - times[0] < interval, "the burst went at once");
    let last = times[199] - times[0];
    let expected_last = interval * (200 - group.burst);
    assert!(
        last >= expected_last && last <= expected_last + interval * 2,
        "the last reply at {last:?}, expected about {expected_last:?}"
    );
    // Shutdown waits for its sends with a deadline: let it run on the real clock.
    tokio::time::resume();
    service.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_burst_over_many_groups_of_one_account_keeps_to_the_account_pace() {
    real_time_watchdog(Duration::from_secs(120));
    let (_dir, data) = data_dir();
    let mut config = config();
    let account = Bucket {
        burst: 4,
        per_minute: 30.0,
    };
    config.service.pacing.enabled = true;
    // Groups may send nearly at will: only the account's bucket can hold the burst back.
    config.service.pacing.group = Bucket {
        burst: 100,
        per_minute: 6000.0,
    };
    config.service.pacing.account = account;
    config.service.onebot.action_timeout_secs = 600;
    let service = Service::start(config, &data).await;
    let mut fake = service.connect().await;

    // Three questions in each of ten village groups of the one QQ account, interleaved.
    let groups: Vec<u64> = (900_031..=900_040).collect();
    let mut asked_in: HashMap<String, String> = HashMap::new();
    let mut id = 11_000u64;
    for _ in 0..3 {
        for &group in &groups {
            id += 1;
            fake.send(&question(id, group, 800_000 + id, "老年卡要带什么"))
                .await;
            asked_in.insert(id.to_string(), group.to_string());
        }
    }
    let mut times = Vec::new();
    let mut replies = Vec::new();
    while replies.len() < asked_in.len() {
        replies.push(fake.reply().await);
        times.push(Instant::now());
    }

    // Each question answered once, in its own group, in order within the group.
    let quotes: HashSet<_> = replies.iter().map(|r| r.quote.clone().unwrap()).collect();
    assert_eq!(quotes.len(), 30);
    let mut last_in_group: HashMap<&str, u64> = HashMap::new();
    for reply in &replies {
        let quote = reply.quote.as_deref().unwrap();
        assert_eq!(asked_in[quote], reply.group);
        let n: u64 = quote.parse().unwrap();
        let last = last_in_group.entry(&reply.group).or_default();
        assert!(n > *last, "{quote} after {last} in group {}", reply.group);
        *last = n;
    }
    assert_eq!(last_in_group.len(), 10, "all ten groups were answered");

    // Over all groups, the account's pace: its burst at once, then one every 2 s.
    let interval = account.interval();
    assert_paced(&times, account, Duration::from_millis(100), "the account");
    assert!(
        times[3] - times[0] < interval,
        "the account's burst went at once"
    );
    let last = times[29] - times[0];
    let expected = interval * (30 - account.burst);
    assert!(
        last + Duration::from_millis(100) >= expected && last <= expected + interval * 2,
        "the last reply at {last:?}, expected about {expected:?}"
    );
    tokio::time::resume();
    service.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_failing_send_is_retried_after_doubling_delays_then_given_up_and_recorded() {
    real_time_watchdog(Duration::from_secs(120));
    let (_dir, data) = data_dir();
    let mut config = config();
    config.service.outbox.retry_initial_secs = 1;
    config.service.outbox.retry_max_secs = 4;
    config.service.outbox.max_attempts = 5;
    config.service.onebot.action_timeout_secs = 600;
    let service = Service::start(config, &data).await;
    let mut fake = service.connect().await;
    fake.send(&question(12_001, 900_020, 800_901, "老年卡要带什么"))
        .await;
    fake.send(&question(12_002, 900_020, 800_902, "社保卡怎么激活"))
        .await;

    // NapCat's catch-all error, a passing failure: retried while the account stays connected.
    let busy = json!({"status": "failed", "retcode": 1200, "message": "busy"});
    let mut times = Vec::new();
    let mut first = None;
    for _ in 0..5 {
        let request = fake.request().await;
        times.push(Instant::now());
        let reply = parse_reply(&request.params);
        assert_eq!(
            reply.quote.as_deref(),
            Some("12001"),
            "the same message again"
        );
        assert_eq!(*first.get_or_insert(reply.clone()), reply);
        fake.answer(&request, busy.clone()).await;
    }
    // After the fifth failure it is given up at once, and the group's next reply goes.
    let next = fake.reply().await;
    let given_up_at = Instant::now();
    assert_eq!(next.quote.as_deref(), Some("12002"));

    // The delays: 1 s, doubling, at most retry_max_secs.
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    let expected = [1, 2, 4, 4].map(Duration::from_secs);
    for (gap, expected) in gaps.iter().zip(expected) {
        assert!(
            *gap >= expected && *gap < expected + Duration::from_millis(500),
            "delays {gaps:?}, expected {expected:?}"
        );
    }
    assert!(given_up_at - times[4] < Duration::from_millis(500));

    tokio::time::resume();
    service.wait_metric("bangban_outbox_depth", 0).await;
    assert_eq!(
        service
            .metric("bangban_outbox_gave_up_total{platform=\"onebot\"}")
            .await,
        1
    );
    assert_eq!(
        service
            .metric("bangban_send_failures_total{platform=\"onebot\",kind=\"retryable\"}")
            .await,
        5
    );
    drop(fake);
    service.stop().await;
    let store = bangban::store::Store::open(&data).unwrap();
    let given_up = store.given_up().unwrap();
    assert_eq!(given_up.len(), 1, "{given_up:?}");
    assert!(given_up[0].reason.contains("5 tries"), "{given_up:?}");
    let bangban_contract::Outgoing::SendText { quote, .. } = &given_up[0].action;
    assert_eq!(quote.as_deref(), Some("12001"));
    assert_eq!(store.queued_len().unwrap(), 0);
}
