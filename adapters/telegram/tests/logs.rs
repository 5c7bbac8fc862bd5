//! The adapter's own logs, at every level, never carry the token, the webhook secret or a
//! message's text, even while calls fail.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use bangban_contract::{Adapter, Chat, ConnectionState, Outgoing, Platform};
use common::*;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn logs_carry_no_secret_and_no_text() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish()
        .with(Targets::new().with_target("bangban_telegram", tracing::Level::TRACE));
    let _guard = tracing::subscriber::set_default(subscriber);

    let fake = FakeApi::start().await;
    fake.push_updates(Reply::Break);
    fake.push_updates(Reply::error(401, "Unauthorized"));
    fake.push_updates(Reply::too_many(1));
    let mut secret_text = fixture("group_plain");
    secret_text["message"]["text"] = "机密文本身份证号".into();
    fake.push_updates(Reply::updates(vec![secret_text, fixture("sticker")]));
    let config = config(&fake.url());
    let mut bot = Harness::start(fake, config).await;
    bot.expect_state(ConnectionState::Up).await;
    let message = within_secs(600, bot.events.recv()).await.unwrap();
    assert!(
        matches!(message, bangban_contract::Event::Message(_)),
        "{message:?}"
    );

    bot.fake.push_send(Reply::Break);
    let send = Outgoing::SendText {
        platform: Platform::Telegram,
        account: BOT.into(),
        chat: Chat::Group("-1001987654321".into()),
        text: "机密回复".into(),
        quote: Some("not-a-quote".into()),
        mention: None,
    };
    assert!(within_secs(600, bot.telegram.send(&send)).await.is_err());

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("getUpdates failed"),
        "the capture works: {logs}"
    );
    assert!(logs.contains("update ignored"), "{logs}");
    let (_, secret_half) = TOKEN.split_once(':').unwrap();
    for secret in [TOKEN, secret_half, "机密"] {
        assert!(!logs.contains(secret), "{secret} in the logs:\n{logs}");
    }
}
