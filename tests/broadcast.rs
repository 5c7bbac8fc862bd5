//! A broadcast to the 76 village groups of the shipped `org.toml`, over a real OneBot reverse
//! WebSocket (the fake NapCat) and real sled files, under tokio's paused clock (times are
//! virtual): it reaches every group exactly once, paced to the account's and the groups'
//! limits; a resident's question asked while it goes out is answered ahead of what is left of
//! it; and a restart in the middle neither loses nor repeats a group.

mod onebot_common;

use bangban::config::service::Bucket;
use bangban::store::Store;
use bangban::store::broadcasts::{Broadcast, State, Target};
use bangban_contract::Platform;
use onebot_common::*;
use serde_json::json;
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// How generously the pace windows are measured.
const SLACK: Duration = Duration::from_millis(100);

const NOTICE: &str = "【通知】请在6月30日前完成养老金资格认证，可到村便民服务站办理。";

/// The bot's next send, confirmed as NapCat does; `None` when the bot closed the connection.
async fn next_send(fake: &mut Fake, message_id: &mut u64) -> Option<Reply> {
    let frame = fake.recv().await?;
    assert_eq!(frame["action"], "send_group_msg", "{frame}");
    *message_id += 1;
    let mut ok = fixture("send_group_msg_response_napcat");
    ok["data"]["message_id"] = json!(*message_id);
    ok["echo"] = frame["echo"].clone();
    fake.send(&ok).await;
    Some(parse_reply(&frame["params"]))
}

/// What the groups got, and when each send went.
#[derive(Default)]
struct Log {
    /// Group → how many times it got the notice.
    got: HashMap<String, usize>,
    times: Vec<Instant>,
    per_group: HashMap<String, Vec<Instant>>,
}

impl Log {
    fn record(&mut self, reply: &Reply) {
        let at = Instant::now();
        self.times.push(at);
        self.per_group
            .entry(reply.group.clone())
            .or_default()
            .push(at);
        if reply.text == NOTICE {
            assert_eq!(reply.quote, None, "a broadcast quotes nobody");
            *self.got.entry(reply.group.clone()).or_default() += 1;
        }
    }

    fn notices(&self) -> usize {
        self.got.values().sum()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[tokio::test(start_paused = true)]
async fn a_broadcast_to_76_groups_is_paced_yields_to_a_question_and_survives_a_restart() {
    real_time_watchdog(Duration::from_secs(240));
    let (_dir, data) = data_dir();
    let mut config = config();
    let account = Bucket {
        burst: 5,
        per_minute: 60.0,
    };
    let group = Bucket {
        burst: 3,
        per_minute: 20.0,
    };
    config.service.pacing.enabled = true;
    config.service.pacing.account = account;
    config.service.pacing.group = group;
    config.service.onebot.action_timeout_secs = 600;

    // An admin confirmed a broadcast to every village's QQ group, due now.
    let targets: Vec<Target> = config
        .org
        .villages
        .iter()
        .flat_map(|v| {
            v.groups.onebot.iter().map(|g| Target {
                village: v.id.clone(),
                name: v.name.clone(),
                platform: Platform::Onebot,
                chat: g.0.clone(),
            })
        })
        .collect();
    assert_eq!(
        targets.len(),
        76,
        "the shipped org.toml has 76 village groups"
    );
    let id = {
        let store = Store::open(&data).unwrap();
        let id = store
            .create_broadcast(&Broadcast {
                id: 0,
                text: NOTICE.into(),
                scope: "全部村 · QQ".into(),
                targets: targets.clone(),
                created_by: "admin".into(),
                created_ms: now_ms(),
                state: State::Draft,
                due_ms: None,
                confirmed_by: None,
                released_ms: None,
            })
            .unwrap();
        store
            .schedule_broadcast(id, now_ms(), "admin")
            .await
            .unwrap()
            .unwrap();
        id
    };

    let service = Service::start(config.clone(), &data).await;
    let mut fake = service.connect().await;
    let mut message_id = 1_900_000_000;
    let mut log = Log::default();
    // Twenty groups have it; a resident asks in a group that has not.
    while log.got.len() < 20 {
        let reply = next_send(&mut fake, &mut message_id).await.unwrap();
        log.record(&reply);
    }
    let asking = targets
        .iter()
        .rev()
        .find(|t| !log.got.contains_key(&t.chat))
        .unwrap()
        .chat
        .clone();
    // On the real clock while the question is handled: under the paused one, time jumps ahead
    // (and the worker sends on) whenever the runtime only waits for sled's threads.
    tokio::time::resume();
    fake.send(&question(
        70_001,
        asking.parse().unwrap(),
        800_123,
        "老年卡要带什么",
    ))
    .await;
    let answered_with = loop {
        let reply = next_send(&mut fake, &mut message_id).await.unwrap();
        log.record(&reply);
        if reply.quote.as_deref() == Some("70001") {
            assert_eq!(reply.group, asking);
            break log.notices();
        }
    };
    tokio::time::pause();
    assert!(
        answered_with <= 25,
        "the question was answered after {answered_with} of the 76 broadcast messages: \
         it waited behind the broadcast"
    );

    // A restart with part of it sent: sends in flight are confirmed while it stops.
    while log.notices() < 40 {
        let reply = next_send(&mut fake, &mut message_id).await.unwrap();
        log.record(&reply);
    }
    // On the real clock: under the paused one, the send in flight would time out at once (no
    // other timer is left to wake first) and go again as possibly undelivered.
    tokio::time::resume();
    let stopping = tokio::spawn(service.stop());
    while let Some(reply) = next_send(&mut fake, &mut message_id).await {
        log.record(&reply);
    }
    stopping.await.unwrap();
    let before_restart = log.notices();
    // The buckets start full on each start: the pace is each run's.
    let first_run = log.times.len();
    assert!(before_restart < 76, "the restart came mid-broadcast");

    let service = Service::start(config, &data).await;
    let mut fake = service.connect().await;
    tokio::time::pause();
    while log.notices() < 76 {
        let reply = next_send(&mut fake, &mut message_id).await.unwrap();
        log.record(&reply);
    }
    // Nothing more waits to be sent: the outbox is empty once the last send is confirmed.
    service.wait_metric("bangban_outbox_depth", 0).await;
    tokio::time::resume();
    service.stop().await;

    assert_eq!(log.got.len(), 76, "every group got the notice");
    assert!(
        log.got.values().all(|&n| n == 1),
        "no group got it twice: {:?}",
        log.got
    );
    // Paced: the account never over its rate in either run, no group over its own.
    assert_paced(
        &log.times[..first_run],
        account,
        SLACK,
        "the account before the restart",
    );
    assert_paced(
        &log.times[first_run..],
        account,
        SLACK,
        "the account after the restart",
    );
    for (g, t) in &log.per_group {
        assert_paced(t, group, SLACK, &format!("group {g}"));
    }
    // The delivery page's record: every group sent, none failed.
    let store = Store::open(&data).unwrap();
    let b = store.broadcast(id).unwrap().unwrap();
    assert_eq!(b.state, State::Released);
    let deliveries = store.broadcast_deliveries(id, targets.len()).unwrap();
    for (t, d) in targets.iter().zip(&deliveries) {
        let d = d
            .as_ref()
            .unwrap_or_else(|| panic!("{} not released", t.chat));
        assert!(d.is_sent(), "{}: {d:?}", t.chat);
        assert_eq!((d.parts, d.sent), (1, 1), "{}", t.chat);
    }
}
