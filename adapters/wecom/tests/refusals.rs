//! Bad callbacks are refused with a 4xx, never panic, and nothing reaches the sink.

mod common;

use std::time::Duration;

use bangban_wecom::MsgCrypt;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::*;
use serde_json::json;

/// Raw AES-256-CBC (IV = key[..16]) of `plain`, which must be whole blocks, as base64.
fn raw_encrypt(plain: &[u8]) -> String {
    use cbc::cipher::block_padding::NoPadding;
    use cbc::cipher::{BlockModeEncrypt, KeyIvInit};
    let key = bangban_wecom::crypto::decode_aes_key(KEY).unwrap();
    let iv: [u8; 16] = key[..16].try_into().unwrap();
    let mut buf = plain.to_vec();
    let len = buf.len();
    let out = cbc::Encryptor::<aes::Aes256>::new(&key.into(), &iv.into())
        .encrypt_padded::<NoPadding>(&mut buf, len)
        .unwrap()
        .to_vec();
    STANDARD.encode(out)
}

#[tokio::test]
async fn bad_app_callbacks_are_refused_and_nothing_reaches_the_sink() {
    let clock = TestClock::at(NOW);
    let mut bot = Bot::start(config(None), clock.clone()).await;
    let ts = NOW.to_string();
    let plain = app_text("zhangsan", 1, "你好");
    let good = app_crypt().encrypt(&plain).unwrap();

    // A wrong signature: signed with another token.
    let forger = MsgCrypt::new("another-token", KEY, CORP).unwrap();
    assert_eq!(bot.post_app_encrypted(&forger, &good, &ts).await.0, 403);

    // A stale timestamp (correctly signed, 301 s old), and one from the future.
    let old = (NOW - 301).to_string();
    assert_eq!(
        bot.post_app_encrypted(&app_crypt(), &good, &old).await.0,
        403
    );
    let future = (NOW + 301).to_string();
    assert_eq!(
        bot.post_app_encrypted(&app_crypt(), &good, &future).await.0,
        403
    );
    assert_eq!(
        bot.post_app_encrypted(&app_crypt(), &good, "soon").await.0,
        400
    );

    // Another corp's message (another receive id), correctly signed.
    let other_corp = MsgCrypt::new(TOKEN, KEY, "wwanothercorp").unwrap();
    let foreign = other_corp.encrypt(&plain).unwrap();
    assert_eq!(
        bot.post_app_encrypted(&app_crypt(), &foreign, &ts).await.0,
        403
    );

    // Truncated ciphertexts: a block cut off, and not whole blocks.
    let raw = STANDARD.decode(&good).unwrap();
    let cut = STANDARD.encode(&raw[..raw.len() - 16]);
    assert_eq!(bot.post_app_encrypted(&app_crypt(), &cut, &ts).await.0, 400);
    let ragged = STANDARD.encode(&raw[..raw.len() - 5]);
    assert_eq!(
        bot.post_app_encrypted(&app_crypt(), &ragged, &ts).await.0,
        400
    );

    // Bad padding: a pad byte of 33, and pad bytes that disagree.
    let mut plain_block = vec![b'x'; 64];
    plain_block[63] = 33;
    let padded_badly = raw_encrypt(&plain_block);
    assert_eq!(
        bot.post_app_encrypted(&app_crypt(), &padded_badly, &ts)
            .await
            .0,
        400
    );
    plain_block[63] = 3;
    plain_block[62] = 3;
    let padded_badly = raw_encrypt(&plain_block);
    assert_eq!(
        bot.post_app_encrypted(&app_crypt(), &padded_badly, &ts)
            .await
            .0,
        400
    );

    // Bad base64, correctly signed.
    assert_eq!(
        bot.post_app_encrypted(&app_crypt(), "%%%not-base64%%%", &ts)
            .await
            .0,
        400
    );

    // Malformed envelopes, missing parameters, an unknown message type, a huge body.
    let query = [
        ("msg_signature", "00"),
        ("timestamp", ts.as_str()),
        ("nonce", "1"),
    ];
    assert_eq!(
        bot.post("/wecom/app", &query, "<xml><Encrypt>".into())
            .await
            .0,
        400
    );
    assert_eq!(
        bot.post("/wecom/app", &query, "{\"encrypt\":\"x\"}".into())
            .await
            .0,
        400
    );
    assert_eq!(
        bot.post("/wecom/app", &[("nonce", "1")], "<xml/>".into())
            .await
            .0,
        400
    );
    let odd = plain.replace("[text]", "[hologram]");
    assert_eq!(bot.post_app(&odd).await.0, 400);
    let huge = format!("<xml><Encrypt>{}</Encrypt></xml>", "A".repeat(70 * 1024));
    assert_eq!(bot.post("/wecom/app", &query, huge).await.0, 413);
    // A GET without echostr.
    assert_eq!(bot.get("/wecom/app", &query).await.0, 400);

    bot.assert_no_event();

    // Not a message to hand on: an event, an image. Accepted (200), nothing delivered.
    let event = plain.replace("[text]", "[event]");
    assert_eq!(bot.post_app(&event).await.0, 200);
    let image = plain.replace("[text]", "[image]");
    assert_eq!(bot.post_app(&image).await.0, 200);
    bot.assert_no_event();

    // And the route still serves good callbacks afterwards.
    assert_eq!(bot.post_app(&plain).await.0, 200);
    assert_eq!(bot.next_message().await.text, "你好");
}

#[tokio::test]
async fn bad_aibot_callbacks_are_refused_and_nothing_reaches_the_sink() {
    let clock = TestClock::at(NOW);
    let mut bot = Bot::start(config(None), clock.clone()).await;
    let ts = NOW.to_string();
    let message = json!({"msgid": "m1", "aibotid": AIBOT_ID, "chattype": "single",
        "from": {"userid": "wangwu"}, "msgtype": "text", "text": {"content": "你好"}});

    // An app-style message (receive id = corp id) sent to the AI bot's route, correctly signed.
    let app_style = MsgCrypt::new(BOT_TOKEN, BOT_KEY, CORP).unwrap();
    let encrypt = app_style.encrypt(&message.to_string()).unwrap();
    let signature = bot_crypt().signature(&ts, "1", &encrypt);
    let query = [
        ("msg_signature", signature.as_str()),
        ("timestamp", ts.as_str()),
        ("nonce", "1"),
    ];
    let body = json!({"encrypt": encrypt}).to_string();
    assert_eq!(bot.post("/wecom/aibot", &query, body.clone()).await.0, 403);

    // Signed with the app's token instead of the bot's.
    let encrypt = bot_crypt().encrypt(&message.to_string()).unwrap();
    let wrong = app_crypt().signature(&ts, "1", &encrypt);
    let query = [
        ("msg_signature", wrong.as_str()),
        ("timestamp", ts.as_str()),
        ("nonce", "1"),
    ];
    assert_eq!(
        bot.post(
            "/wecom/aibot",
            &query,
            json!({"encrypt": encrypt}).to_string()
        )
        .await
        .0,
        403
    );

    // Not JSON, JSON without encrypt, a decrypted body that is not a message.
    assert_eq!(bot.post("/wecom/aibot", &query, "{".into()).await.0, 400);
    assert_eq!(
        bot.post("/wecom/aibot", &query, "{\"Encrypt\":1}".into())
            .await
            .0,
        400
    );
    assert_eq!(bot.post_aibot(&json!(["not", "a", "message"])).await.0, 400);
    assert_eq!(bot.post_aibot(&json!({"msgtype": "text"})).await.0, 400);

    // Stale: the same message, its timestamp six minutes old.
    clock.advance(Duration::from_secs(360));
    let encrypt = bot_crypt().encrypt(&message.to_string()).unwrap();
    let signature = bot_crypt().signature(&ts, "1", &encrypt);
    let query = [
        ("msg_signature", signature.as_str()),
        ("timestamp", ts.as_str()),
        ("nonce", "1"),
    ];
    assert_eq!(
        bot.post(
            "/wecom/aibot",
            &query,
            json!({"encrypt": encrypt}).to_string()
        )
        .await
        .0,
        403
    );

    bot.assert_no_event();
    // A refresh of a stream this adapter never opened (it restarted) closes it, and
    // reaches no sink.
    let refresh = json!({"msgid": "m2", "aibotid": AIBOT_ID, "chattype": "single",
        "from": {"userid": "wangwu"}, "msgtype": "stream", "stream": {"id": "s1"}});
    let (status, body) = bot.post_aibot(&refresh).await;
    assert_eq!(status, 200);
    assert_eq!(
        passive_reply(&body),
        Some(json!({"msgtype": "stream", "stream": {"id": "s1", "finish": true, "content": ""}}))
    );
    bot.assert_no_event();
    // Events are answered empty and dropped.
    let event = json!({"msgid": "m3", "aibotid": AIBOT_ID, "chattype": "single",
        "from": {"userid": "wangwu"}, "msgtype": "event", "event": {"eventtype": "enter_chat"}});
    assert_eq!(bot.post_aibot(&event).await, (200, String::new()));
    bot.assert_no_event();
    assert_eq!(bot.post_aibot(&message).await.0, 200);
    assert_eq!(bot.next_message().await.text, "你好");
}

#[tokio::test]
async fn routes_refuse_before_run_and_for_parts_not_configured() {
    // Before run: 503.
    let wecom = bangban_wecom::WeCom::new(config(None));
    let addr = serve(wecom.router()).await;
    let status = within(reqwest::get(format!(
        "http://{addr}/wecom/app?msg_signature=1&timestamp=1&nonce=1&echostr=x"
    )))
    .await
    .unwrap()
    .status();
    assert_eq!(status.as_u16(), 503);

    // The AI bot not configured: its route is 404.
    let mut only_app = config(None);
    only_app.aibot = None;
    let bot = Bot::start(only_app, TestClock::at(NOW)).await;
    let query = [
        ("msg_signature", "1"),
        ("timestamp", "1"),
        ("nonce", "1"),
        ("echostr", "x"),
    ];
    assert_eq!(bot.get("/wecom/aibot", &query).await.0, 404);
    assert_eq!(bot.post("/wecom/aibot", &query, "{}".into()).await.0, 404);
}
