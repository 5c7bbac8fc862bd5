//! A WeCom group robot as the agents' chat, under tokio's paused clock (times are virtual):
//! a burst of tickets from OneBot village groups reaches the robot completely, never more than
//! the 20 messages a minute WeCom allows a robot, each within its 2,048 bytes — with `[pacing]`
//! turned off, since these are the platform's own limits.

mod onebot_common;
mod platforms_common;

use onebot_common::*;
use platforms_common::{agents_chats, config_with, start_fake_wecom};
use std::time::Duration;
use tokio::time::Instant;

const ROBOT_CHAT: &str = "wecom-agents";
const ROBOT_KEY: &str = "robot-key-0001";

#[tokio::test(start_paused = true)]
async fn a_burst_of_tickets_reaches_the_robot_within_its_limits() {
    real_time_watchdog(Duration::from_secs(120));
    let (api, mut calls) = start_fake_wecom().await;
    let (_config_dir, mut config) = config_with(
        |org| {
            agents_chats(
                org,
                &format!(
                    "[[agents_chats]]\nplatform = \"wecom\"\nchat = \"{ROBOT_CHAT}\"\naccount = \"wecom-robot\"\n"
                ),
            )
        },
        |toml| {
            toml + &format!(
                "\n[wecom]\nenabled = true\napi_base = \"{api}\"\n\
                 robots = {{ \"{ROBOT_CHAT}\" = \"BANGBAN_WECOM_ROBOT_AGENTS\" }}\n"
            )
        },
    );
    config.service.pacing.enabled = false;
    // Virtual time runs ahead while the runtime waits on sled's threads: no send may time out.
    config.service.onebot.action_timeout_secs = 600;
    let (_dir, data) = data_dir();
    let mut secrets = secrets();
    secrets
        .platforms
        .insert("BANGBAN_WECOM_ROBOT_AGENTS".into(), ROBOT_KEY.into());
    let store = bangban::store::Store::open(&data).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(bangban::server::serve(
        std::sync::Arc::new(config),
        store,
        secrets,
        listener,
        async {
            let _ = stopped.await;
        },
    ));
    let mut qq = connect(addr).await;

    // 30 villages' residents each ask what the guide does not cover: 30 tickets at once.
    let tickets = 30;
    for i in 0..tickets {
        let group = 900_001 + i;
        qq.send(&question(
            20_000 + i,
            group,
            700_000 + i,
            "村里的路灯坏了找谁",
        ))
        .await;
    }
    let mut times = Vec::new();
    let mut notices = std::collections::BTreeSet::new();
    while notices.len() < tickets as usize {
        let (path, query, body) = within(calls.recv()).await.unwrap();
        assert_eq!(path, "/cgi-bin/webhook/send");
        assert_eq!(query, format!("key={ROBOT_KEY}"));
        times.push(Instant::now());
        let text = body["text"]["content"].as_str().unwrap().to_owned();
        assert!(text.len() <= 2048, "{} bytes", text.len());
        let ticket = text
            .split_once("新工单 ")
            .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
            .unwrap_or_else(|| panic!("a new-ticket notice: {text}"))
            .to_owned();
        notices.insert(ticket);
    }
    // The residents' own replies, unpaced (pacing off), have all gone out meanwhile.
    for _ in 0..tickets {
        qq.reply().await;
    }
    for (i, first) in times.iter().enumerate() {
        let in_a_minute = times[i..]
            .iter()
            .take_while(|t| **t < *first + Duration::from_secs(60))
            .count();
        assert!(
            in_a_minute <= 20,
            "{in_a_minute} robot messages in a minute"
        );
    }
    assert!(
        times.last().unwrap().duration_since(times[0]) >= Duration::from_secs(60),
        "30 notices cannot all go in the first minute"
    );
    let _ = stop.send(());
    within(served).await.unwrap().unwrap();
}
