//! The forward WebSocket client against a fake OneBot WebSocket server that drops it.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bangban_contract::{Adapter, Chat, ConnectionState, Outgoing, Platform};
use bangban_onebot::{Backoff, OneBot, OneBotConfig};
use common::*;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

/// Accepts the adapter's next connection, recording its Authorization header.
#[allow(clippy::result_large_err)] // tungstenite's callback signature.
async fn accept(listener: &TcpListener, authorization: &Arc<Mutex<Option<String>>>) -> Fake {
    let (stream, _) = within(listener.accept()).await.unwrap();
    let seen = authorization.clone();
    let callback = move |request: &Request, response: Response| {
        let value = request
            .headers()
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned());
        *seen.lock().unwrap() = value;
        Ok(response)
    };
    let socket = within(tokio_tungstenite::accept_hdr_async(
        tokio_tungstenite::MaybeTlsStream::Plain(stream),
        callback,
    ))
    .await
    .unwrap();
    Fake { socket }
}

#[tokio::test]
async fn reconnects_after_the_server_drops_it() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let mut bot = Bot::start(OneBotConfig {
        forward_ws: vec![url],
        reconnect: Backoff {
            initial: Duration::from_millis(20),
            max: Duration::from_millis(100),
        },
        ..config()
    })
    .await;
    let authorization = Arc::new(Mutex::new(None));

    let mut fake = accept(&listener, &authorization).await;
    assert_eq!(
        authorization.lock().unwrap().as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    fake.answer_login(BOT).await;
    bot.expect_state(BOT, ConnectionState::Up).await;
    fake.send(&fixture("group_message_array")).await;
    assert_eq!(bot.next_message().await.message_id, "2002");

    // The server goes away; the client notices and comes back.
    drop(fake);
    bot.expect_state(BOT, ConnectionState::Down).await;
    let mut fake = accept(&listener, &authorization).await;
    fake.answer_login(BOT).await;
    bot.expect_state(BOT, ConnectionState::Up).await;
    fake.send(&group_message(2003, "又连上了")).await;
    assert_eq!(bot.next_message().await.message_id, "2003");

    // Sends use the new connection.
    let sender = bot.onebot.clone();
    let send = tokio::spawn(async move {
        sender
            .send(&Outgoing::SendText {
                platform: Platform::Onebot,
                account: BOT.into(),
                chat: Chat::Group("987654321".into()),
                text: "收到".into(),
                quote: None,
                mention: None,
            })
            .await
    });
    let request = fake.request().await;
    assert_eq!(request.action, "send_group_msg");
    fake.answer(
        &request,
        json!({"status": "ok", "retcode": 0, "data": {"message_id": 5}}),
    )
    .await;
    assert_eq!(
        within(send).await.unwrap().unwrap().message_id.as_deref(),
        Some("5")
    );
}

#[tokio::test]
async fn a_malformed_forward_url_is_a_configuration_error() {
    let onebot = Arc::new(OneBot::new(OneBotConfig {
        forward_ws: vec!["not a url".into()],
        ..config()
    }));
    let (tx, _events) = tokio::sync::mpsc::channel(1);
    let error = within(onebot.run(Arc::new(tx))).await.unwrap_err();
    assert!(error.reason.contains("forward WebSocket"), "{error}");
}
