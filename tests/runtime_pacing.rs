//! A burst of 200 questions in one group under tokio's paused clock: every one is answered, once,
//! and the send_group_msg frames keep to the configured pace (checked on virtual time).

mod onebot_common;

use bangban::config::service::Bucket;
use onebot_common::*;
use std::collections::HashSet;
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
