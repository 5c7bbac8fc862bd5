//! `bangban run`'s service against a fake OneBot implementation over loopback: replies, tokens,
//! reconnects, dedupe, hostile input and restarts, with real sled files.

mod onebot_common;

use onebot_common::*;
use serde_json::json;
use tokio_tungstenite::tungstenite::Error as WsError;

const ASKER: u64 = 800_500;

#[tokio::test]
async fn a_group_question_gets_a_reply_that_quotes_and_mentions_the_asker() {
    let (_dir, data) = data_dir();
    let service = Service::start(config(), &data).await;
    let mut fake = service.connect().await;
    fake.send(&question(1001, 900001, ASKER, "老年卡要带什么"))
        .await;
    let reply = fake.reply().await;
    assert_eq!(reply.group, "900001");
    assert_eq!(reply.quote.as_deref(), Some("1001"));
    assert_eq!(reply.at.as_deref(), Some(ASKER.to_string().as_str()));
    assert!(
        reply.text.contains("老年") && reply.text.contains("身份证"),
        "{}",
        reply.text
    );

    // A second question: its send starts only after the first was confirmed and counted.
    fake.send(&question(1002, 900001, ASKER + 1, "社保卡怎么激活"))
        .await;
    assert_eq!(fake.reply().await.quote.as_deref(), Some("1002"));
    assert!(
        service
            .metric("bangban_messages_out_total{platform=\"onebot\"}")
            .await
            >= 1
    );
    assert_eq!(
        service
            .metric("bangban_messages_in_total{platform=\"onebot\"}")
            .await,
        2
    );
    assert_eq!(service.metric(&connection_up()).await, 1);
    let (_, metrics) = service.get("/metrics").await;
    assert!(
        !metrics.contains(BOT),
        "the account id is masked: {metrics}"
    );
    let (status, health) = service.get("/healthz").await;
    assert_eq!(status, 200);
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    // Counted, not listed: `[server] show_accounts` lists the ids.
    assert_eq!(health["connected"]["onebot"], json!(1));
    service.stop().await;
}

#[tokio::test]
async fn a_wrong_or_missing_token_is_refused() {
    let (_dir, data) = data_dir();
    let service = Service::start(config(), &data).await;
    let url = service.ws_url("/onebot/v11/ws");
    let status = |result: Result<Fake, WsError>| match result {
        Err(WsError::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
        Ok(_) => panic!("a connection with a bad token was accepted"),
    };
    let wrong = Fake::connect(
        &url,
        &[("X-Self-ID", BOT), ("Authorization", "Bearer guessed")],
    )
    .await;
    assert_eq!(status(wrong), 403);
    let missing = Fake::connect(&url, &[("X-Self-ID", BOT)]).await;
    assert_eq!(status(missing), 401);
    assert_eq!(service.metric(&connection_up()).await, 0);

    // The right token still gets in and is served.
    let mut fake = service.connect().await;
    fake.send(&question(2001, 900001, ASKER, "老年卡要带什么"))
        .await;
    assert_eq!(fake.reply().await.quote.as_deref(), Some("2001"));
    service.stop().await;
}

#[tokio::test]
async fn replies_queued_while_disconnected_arrive_once_after_reconnecting() {
    let (_dir, data) = data_dir();
    let service = Service::start(config(), &data).await;
    let mut fake = service.connect().await;
    let ids: Vec<u64> = (3001..3006).collect();
    for (i, id) in ids.iter().enumerate() {
        fake.send(&question(*id, 900002, ASKER + i as u64, "老年卡要带什么"))
            .await;
    }
    // The implementation goes away without reading or answering anything.
    drop(fake);
    service.wait_metric(&connection_up(), 0).await;
    service.wait_metric("bangban_outbox_depth", 5).await;

    let mut fake = service.connect().await;
    let replies = fake.replies_until("3005").await;
    let quotes: Vec<String> = replies.iter().filter_map(|r| r.quote.clone()).collect();
    let expected: Vec<String> = ids.iter().map(u64::to_string).collect();
    assert_eq!(quotes, expected, "each queued reply once, in order");

    fake.send(&question(3006, 900002, ASKER, "社保卡怎么激活"))
        .await;
    assert_eq!(fake.reply().await.quote.as_deref(), Some("3006"));
    // Nothing is left to send, so nothing can arrive twice later.
    service.wait_metric("bangban_outbox_depth", 0).await;
    assert_eq!(
        service
            .metric("bangban_messages_out_total{platform=\"onebot\"}")
            .await,
        6
    );
    service.stop().await;
}

#[tokio::test]
async fn the_same_event_twice_gives_one_reply_across_reconnects_and_restarts() {
    let (_dir, data) = data_dir();
    let service = Service::start(config(), &data).await;
    let mut fake = service.connect().await;
    let event = question(4001, 900003, ASKER, "老年卡要带什么");
    fake.send(&event).await;
    fake.send(&event).await;
    assert_eq!(fake.reply().await.quote.as_deref(), Some("4001"));
    drop(fake);
    service.wait_metric(&connection_up(), 0).await;

    let mut fake = service.connect().await;
    fake.send(&event).await;
    fake.send(&question(4002, 900003, ASKER, "社保卡怎么激活"))
        .await;
    // Per chat, replies go in order: a second reply to 4001 would come first.
    assert_eq!(fake.reply().await.quote.as_deref(), Some("4002"));
    assert_eq!(
        service
            .metric("bangban_messages_duplicate_total{platform=\"onebot\"}")
            .await,
        2
    );
    drop(fake);
    service.stop().await;

    let service = Service::start(config(), &data).await;
    let mut fake = service.connect().await;
    fake.send(&event).await;
    fake.send(&question(4003, 900003, ASKER, "低保怎么申请"))
        .await;
    assert_eq!(fake.reply().await.quote.as_deref(), Some("4003"));
    service.stop().await;
}

#[tokio::test]
async fn malformed_frames_unknown_events_and_a_1mb_message_leave_the_connection_serving() {
    let (_dir, data) = data_dir();
    let service = Service::start(config(), &data).await;
    let mut fake = service.connect().await;
    for junk in [
        "{not json",
        "[1,2,3]",
        "\"a string\"",
        "{}",
        "null",
        r#"{"post_type":"message","message_type":"group","self_id":123456789}"#,
        r#"{"post_type":"message","message_type":"group","self_id":123456789,"user_id":"x","group_id":[],"message_id":{},"message":42}"#,
        r#"{"post_type":"notice","notice_type":"group_recall","self_id":123456789,"group_id":1}"#,
        r#"{"post_type":"request","request_type":"friend","self_id":123456789}"#,
        r#"{"post_type":"brand_new_type","self_id":123456789}"#,
        r#"{"post_type":"meta_event","meta_event_type":"brand_new","self_id":123456789}"#,
        r#"{"status":"ok","retcode":0,"data":null,"echo":"nobody-waits-for-this"}"#,
    ] {
        fake.send_text(junk).await;
    }
    // The bot's own message, as NapCat reports it with reportSelfMessage: never answered.
    let mut own = question(5001, 900004, BOT.parse().unwrap(), "老年卡要带什么");
    own["post_type"] = json!("message_sent");
    fake.send(&own).await;
    // Over 1 MB of text in one message.
    let big = format!("老年卡{}", "办".repeat((1 << 20) / 3 + 1));
    fake.send(&question(5002, 900004, ASKER, &big)).await;
    fake.send(&question(5003, 900004, ASKER + 1, "老年卡要带什么"))
        .await;

    let replies = fake.replies_until("5003").await;
    assert!(
        replies.iter().all(|r| r.quote.as_deref() != Some("5001")),
        "the bot's own message was answered"
    );
    assert!(replies.iter().all(|r| r.text.chars().count() <= 800));
    // Still the same connection: the bot never closed it.
    fake.send(&question(5004, 900004, ASKER, "社保卡怎么激活"))
        .await;
    assert_eq!(fake.reply().await.quote.as_deref(), Some("5004"));
    service.stop().await;
}

#[tokio::test]
async fn a_restart_delivers_what_the_outbox_held_once() {
    let (_dir, data) = data_dir();
    let service = Service::start(config(), &data).await;
    // An Event-only client: questions come in, but the account cannot send.
    let mut events = connect_events_only(service.addr).await;
    for id in 6001..6004u64 {
        events
            .send(&question(id, 900005, ASKER, "老年卡要带什么"))
            .await;
    }
    service.wait_metric("bangban_outbox_depth", 3).await;
    drop(events);
    service.stop().await;

    let service = Service::start(config(), &data).await;
    assert_eq!(service.metric("bangban_outbox_depth").await, 3);
    let mut fake = service.connect().await;
    let replies = fake.replies_until("6003").await;
    let quotes: Vec<_> = replies.iter().filter_map(|r| r.quote.as_deref()).collect();
    assert_eq!(quotes, ["6001", "6002", "6003"]);
    fake.send(&question(6004, 900005, ASKER, "社保卡怎么激活"))
        .await;
    assert_eq!(fake.reply().await.quote.as_deref(), Some("6004"));
    service.wait_metric("bangban_outbox_depth", 0).await;
    drop(fake);
    service.stop().await;

    // Nothing is sent a second time after another restart.
    let service = Service::start(config(), &data).await;
    let mut fake = service.connect().await;
    fake.send(&question(6005, 900005, ASKER, "低保怎么申请"))
        .await;
    assert_eq!(fake.reply().await.quote.as_deref(), Some("6005"));
    service.stop().await;
}

#[tokio::test]
async fn a_long_reply_is_split_and_only_its_first_part_quotes() {
    let (_dir, data) = data_dir();
    let mut config = config();
    config.service.outbox.max_chars = 60;
    let service = Service::start(config, &data).await;
    let mut fake = service.connect().await;
    fake.send(&question(7001, 900006, ASKER, "老年卡要带什么"))
        .await;
    fake.send(&question(7002, 900006, ASKER + 1, "社保卡怎么激活"))
        .await;
    let replies = fake.replies_until("7002").await;
    assert!(replies.len() >= 3, "{replies:?}");
    assert_eq!(replies[0].quote.as_deref(), Some("7001"));
    assert_eq!(replies[0].at.as_deref(), Some(ASKER.to_string().as_str()));
    let parts = &replies[1..replies.len() - 1];
    assert!(parts.iter().all(|r| r.quote.is_none() && r.at.is_none()));
    assert!(replies.iter().all(|r| r.text.chars().count() <= 60));
    service.stop().await;
}

#[tokio::test]
async fn failed_sends_are_retried_in_order_or_given_up_and_recorded() {
    let (_dir, data) = data_dir();
    let service = Service::start(config(), &data).await;
    let mut fake = service.connect().await;
    let busy = json!({"status": "failed", "retcode": 1200, "message": "busy"});
    let refused = json!({"status": "failed", "retcode": 1400, "message": "group_id invalid"});

    // A passing failure: the same message again (after the backoff), before the next one.
    fake.send(&question(8001, 900009, ASKER, "老年卡要带什么"))
        .await;
    fake.send(&question(8002, 900009, ASKER + 1, "社保卡怎么激活"))
        .await;
    let first = fake.request().await;
    fake.answer(&first, busy).await;
    let again = fake.reply().await;
    assert_eq!(again, parse_reply(&first.params));
    assert_eq!(fake.reply().await.quote.as_deref(), Some("8002"));

    // A refusal: given up and kept, and the chat goes on.
    fake.send(&question(8003, 900009, ASKER, "老年卡要带什么"))
        .await;
    fake.send(&question(8004, 900009, ASKER + 1, "社保卡怎么激活"))
        .await;
    let request = fake.request().await;
    fake.answer(&request, refused).await;
    assert_eq!(fake.reply().await.quote.as_deref(), Some("8004"));
    assert_eq!(
        service
            .metric("bangban_outbox_gave_up_total{platform=\"onebot\"}")
            .await,
        1
    );
    service.stop().await;
    let store = bangban::store::Store::open(&data).unwrap();
    let given_up = store.given_up().unwrap();
    assert_eq!(given_up.len(), 1);
    assert!(given_up[0].reason.contains("1400"), "{given_up:?}");
    assert_eq!(store.queued_len().unwrap(), 0);
}

#[tokio::test]
async fn a_send_that_may_have_gone_out_is_sent_again_unless_configured_not_to() {
    // NapCat's "Timeout: NTEvent": QQ did not confirm in time; the message may be out.
    let uncertain = fixture("send_failed_napcat");
    for resend in [true, false] {
        let (_dir, data) = data_dir();
        let mut config = config();
        config.service.outbox.resend_uncertain = resend;
        let service = Service::start(config, &data).await;
        let mut fake = service.connect().await;
        fake.send(&question(8101, 900010, ASKER, "老年卡要带什么"))
            .await;
        fake.send(&question(8102, 900010, ASKER + 1, "社保卡怎么激活"))
            .await;
        let request = fake.request().await;
        fake.answer(&request, uncertain.clone()).await;
        let next = fake.reply().await;
        let expected = if resend { "8101" } else { "8102" };
        assert_eq!(next.quote.as_deref(), Some(expected), "resend = {resend}");
        service.stop().await;
    }
}

#[tokio::test]
async fn shutdown_waits_for_sends_in_flight_and_keeps_what_was_not_confirmed() {
    let (_dir, data) = data_dir();
    let mut config = config();
    config.service.onebot.action_timeout_secs = 1;
    let service = Service::start(config.clone(), &data).await;
    let mut fake = service.connect().await;
    fake.send(&question(9001, 900011, ASKER, "老年卡要带什么"))
        .await;
    let in_flight = fake.request().await;
    // Queued behind the one in flight, in the same group.
    fake.send(&question(9002, 900011, ASKER + 1, "社保卡怎么激活"))
        .await;
    service.wait_metric("bangban_outbox_depth", 2).await;
    // SIGTERM while the first send waits for an answer that never comes.
    service.stop().await;
    assert_eq!(fake.recv().await, None, "the bot closed the connection");

    let service = Service::start(config, &data).await;
    let mut fake = service.connect().await;
    let replies = fake.replies_until("9002").await;
    assert_eq!(replies.len(), 2);
    assert_eq!(replies[0], parse_reply(&in_flight.params));
    service.wait_metric("bangban_outbox_depth", 0).await;
    service.stop().await;
}

#[tokio::test]
async fn a_onebot_setting_the_adapter_refuses_stops_the_service_before_it_serves() {
    let (_dir, data) = data_dir();
    let mut config = config();
    config.service.onebot.forward_ws = vec!["ws://127.0.0.1:9".into()];
    let store = bangban::store::Store::open(&data).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // A token that cannot go into a header (a carriage return from an env file saved on
    // Windows): the adapter refuses to connect with it.
    let secrets = bangban::server::Secrets {
        onebot_token: Some("s3cret\r".into()),
        onebot_secret: None,
        ..Default::default()
    };
    let served = bangban::server::serve(
        std::sync::Arc::new(config),
        store,
        secrets,
        listener,
        std::future::pending(),
    );
    let error = within(served).await.unwrap_err();
    let failure = error
        .downcast_ref::<bangban::runtime::AdapterFailed>()
        .unwrap_or_else(|| panic!("{error:#}"));
    assert_eq!((failure.platform, failure.refused_config), ("onebot", true));
    let said = format!("{error:#}");
    assert!(
        said.contains("按现在的配置无法运行") && said.contains("bangban.toml"),
        "{said}"
    );
    assert!(!said.contains("s3cret"), "{said}");
    // Nothing listens any more, and the data directory is free again.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    bangban::store::Store::open(&data).unwrap();
}

/// A fake NapCat HTTP API on `listener` until `stop` fires: `get_login_info` names the bot,
/// every `send_group_msg` is confirmed and handed to `sent`.
async fn fake_http_api(
    listener: tokio::net::TcpListener,
    sent: tokio::sync::mpsc::UnboundedSender<serde_json::Value>,
    stop: tokio::sync::oneshot::Receiver<()>,
) {
    use axum::extract::{Json, Path};
    let app = axum::Router::new().route(
        "/{action}",
        axum::routing::post(
            move |Path(action): Path<String>, Json(params): Json<serde_json::Value>| async move {
                Json(match action.as_str() {
                    "get_login_info" => {
                        json!({"status": "ok", "retcode": 0, "data": {"user_id": BOT.parse::<u64>().unwrap(), "nickname": "帮办"}})
                    }
                    "send_group_msg" => {
                        let _ = sent.send(params);
                        fixture("send_group_msg_response_napcat")
                    }
                    _ => json!({"status": "failed", "retcode": 1404, "message": "no such action"}),
                })
            },
        ),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = stop.await;
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn over_the_http_api_an_implementation_that_went_away_gets_the_reply_when_back() {
    // NapCat reports by HTTP POST and takes sends on its HTTP API.
    let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_addr = api.local_addr().unwrap();
    let (sent_tx, mut sent) = tokio::sync::mpsc::unbounded_channel();
    let (stop_api, stopped) = tokio::sync::oneshot::channel();
    let napcat = tokio::spawn(fake_http_api(api, sent_tx.clone(), stopped));

    let (_dir, data) = data_dir();
    let mut config = config();
    config.service.onebot.http_api = vec![format!("http://{api_addr}")];
    // Were waiting for the implementation to count as tries, the reply would be given up.
    config.service.outbox.max_attempts = 2;
    let service = Service::start(config, &data).await;
    service.wait_metric(&connection_up(), 1).await;
    let post = |event: serde_json::Value| {
        let url = format!("http://{}/onebot/v11/http", service.addr);
        async move {
            let response = reqwest::Client::new()
                .post(url)
                .header("x-self-id", BOT)
                .bearer_auth(TOKEN)
                .json(&event)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 204);
        }
    };
    post(question(10_001, 900_012, ASKER, "老年卡要带什么")).await;
    let reply = within(sent.recv()).await.unwrap();
    assert_eq!(parse_reply(&reply).quote.as_deref(), Some("10001"));

    // NapCat stops: nothing listens on its port any more.
    stop_api.send(()).unwrap();
    within(napcat).await.unwrap();
    post(question(10_002, 900_012, ASKER, "社保卡怎么激活")).await;
    // The failed sends take the account down, and the reply waits instead of being given up.
    service.wait_metric(&connection_up(), 0).await;
    assert_eq!(
        service
            .metric("bangban_outbox_gave_up_total{platform=\"onebot\"}")
            .await,
        0
    );
    assert_eq!(service.metric("bangban_outbox_depth").await, 1);

    // NapCat is back on the same port: the account comes up and the reply goes, once.
    let api = tokio::net::TcpListener::bind(api_addr).await.unwrap();
    let (_stop_api, stopped) = tokio::sync::oneshot::channel();
    tokio::spawn(fake_http_api(api, sent_tx, stopped));
    let reply = within(sent.recv()).await.unwrap();
    assert_eq!(parse_reply(&reply).quote.as_deref(), Some("10002"));
    service.wait_metric(&connection_up(), 1).await;
    service.wait_metric("bangban_outbox_depth", 0).await;
    assert!(sent.try_recv().is_err(), "a reply went twice");
    service.stop().await;
}
