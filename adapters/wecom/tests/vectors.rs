//! Tencent's published WXBizMsgCrypt vectors: directly and through the app's routes.

mod common;

use std::time::{Duration, UNIX_EPOCH};

use bangban_contract::{Chat, Platform};
use bangban_wecom::{CryptoError, MsgCrypt};
use common::*;

fn at(secs: &str) -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs.parse().unwrap())
}

#[test]
fn the_published_vectors_verify_and_decrypt() {
    let crypt = MsgCrypt::new(
        &fixture(&["token"]),
        &fixture(&["encoding_aes_key"]),
        &fixture(&["corp_id"]),
    )
    .unwrap();
    let key: String = bangban_wecom::crypto::decode_aes_key(&fixture(&["encoding_aes_key"]))
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(key, fixture(&["aes_key_hex"]));

    let v = |k: &str| fixture(&["verify_url", k]);
    let plain = crypt
        .verify_and_decrypt(
            &v("msg_signature"),
            &v("timestamp"),
            &v("nonce"),
            &v("echostr"),
            at(&v("timestamp")),
        )
        .unwrap();
    assert_eq!(plain, v("plaintext"));

    let d = |k: &str| fixture(&["decrypt_msg", k]);
    let plain = crypt
        .verify_and_decrypt(
            &d("msg_signature"),
            &d("timestamp"),
            &d("nonce"),
            &d("encrypt"),
            at(&d("timestamp")),
        )
        .unwrap();
    assert_eq!(plain, d("plaintext"));

    // The same vectors, replayed ten minutes later, are refused as stale.
    let later = at(&d("timestamp")) + Duration::from_secs(600);
    assert!(matches!(
        crypt.verify_and_decrypt(
            &d("msg_signature"),
            &d("timestamp"),
            &d("nonce"),
            &d("encrypt"),
            later
        ),
        Err(CryptoError::StaleTimestamp { .. })
    ));
    // And under another receive id they are not for us.
    let other = MsgCrypt::new(
        &fixture(&["token"]),
        &fixture(&["encoding_aes_key"]),
        "wwsomeoneelse",
    )
    .unwrap();
    assert_eq!(
        other.decrypt(&d("encrypt")),
        Err(CryptoError::WrongReceiveId)
    );
}

#[tokio::test]
async fn the_app_route_verifies_the_published_url_and_reads_the_published_message() {
    let v = |k: &str| fixture(&["verify_url", k]);
    let clock = TestClock::at(v("timestamp").parse().unwrap());
    let mut bot = Bot::start(config(None), clock.clone()).await;
    let (status, body) = bot
        .get(
            "/wecom/app",
            &[
                ("msg_signature", &v("msg_signature")),
                ("timestamp", &v("timestamp")),
                ("nonce", &v("nonce")),
                ("echostr", &v("echostr")),
            ],
        )
        .await;
    assert_eq!((status, body.as_str()), (200, v("plaintext").as_str()));
    // The same with `+` left unencoded in the query (URL decoding makes it a space).
    let raw = format!(
        "{}?msg_signature={}&timestamp={}&nonce={}&echostr={}",
        bot.url("/wecom/app"),
        v("msg_signature"),
        v("timestamp"),
        v("nonce"),
        v("echostr")
    );
    assert!(v("echostr").contains('+'));
    let response = within(bot.http.get(raw).send()).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.text().await.unwrap(), v("plaintext"));

    let d = |k: &str| fixture(&["decrypt_msg", k]);
    clock.advance(Duration::from_secs(
        d("timestamp").parse::<u64>().unwrap() - v("timestamp").parse::<u64>().unwrap(),
    ));
    let envelope = format!(
        "<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><Encrypt><![CDATA[{}]]></Encrypt><AgentID><![CDATA[{AGENT}]]></AgentID></xml>",
        d("encrypt")
    );
    let (status, body) = bot
        .post(
            "/wecom/app",
            &[
                ("msg_signature", &d("msg_signature")),
                ("timestamp", &d("timestamp")),
                ("nonce", &d("nonce")),
            ],
            envelope,
        )
        .await;
    assert_eq!((status, body.as_str()), (200, ""));
    let incoming = bot.next_message().await;
    assert_eq!(incoming.platform, Platform::Wecom);
    assert_eq!(incoming.account, APP_ACCOUNT);
    assert_eq!(incoming.chat, Chat::Private("ChenJiaShun".into()));
    assert_eq!(incoming.sender, "ChenJiaShun");
    assert_eq!(incoming.message_id, "1456453720");
    assert_eq!(incoming.text, "你好");
    assert!(incoming.mentions_bot);
    bot.assert_no_event();
}
