//! Against an independent implementation: the `openssl` command line encrypts what WeCom
//! would send and decrypts what the adapter answers.
//!
//! Needs the `openssl` binary (Debian: `apt-get install openssl`); fails, never skips, without it.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use bangban_contract::Chat;
use common::*;

const KEY_HEX: &str = "eaa91d32babaf274ca76ece72583b5037ed6da8120a64314be4b6d453a2a854b";
const IV_HEX: &str = "eaa91d32babaf274ca76ece72583b503";

/// Runs `openssl args…` with `input` on stdin; its stdout.
fn openssl(args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("this test needs the `openssl` command line tool (apt-get install openssl): {e}")
        });
    child.stdin.take().unwrap().write_all(input).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// WeCom's plaintext layout, padded to 32-byte blocks, encrypted by openssl: base64.
fn openssl_encrypt(msg: &str, receive_id: &str) -> String {
    let mut plain = b"0123456789abcdef".to_vec();
    plain.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    plain.extend_from_slice(msg.as_bytes());
    plain.extend_from_slice(receive_id.as_bytes());
    let pad = 32 - plain.len() % 32;
    plain.resize(plain.len() + pad, pad as u8);
    let out = openssl(
        &[
            "enc",
            "-aes-256-cbc",
            "-K",
            KEY_HEX,
            "-iv",
            IV_HEX,
            "-nopad",
            "-base64",
            "-A",
        ],
        &plain,
    );
    String::from_utf8(out).unwrap().trim().to_owned()
}

/// openssl's decryption of base64 `encrypt`: the message and the receive id, padding checked.
fn openssl_decrypt(encrypt: &str) -> (String, String) {
    let plain = openssl(
        &[
            "enc",
            "-d",
            "-aes-256-cbc",
            "-K",
            KEY_HEX,
            "-iv",
            IV_HEX,
            "-nopad",
            "-base64",
            "-A",
        ],
        encrypt.as_bytes(),
    );
    assert_eq!(plain.len() % 32, 0, "padded to 32-byte blocks");
    let pad = *plain.last().unwrap() as usize;
    assert!((1..=32).contains(&pad), "pad {pad}");
    assert!(
        plain[plain.len() - pad..]
            .iter()
            .all(|&b| b as usize == pad)
    );
    let body = &plain[..plain.len() - pad];
    let len = u32::from_be_bytes(body[16..20].try_into().unwrap()) as usize;
    let msg = String::from_utf8(body[20..20 + len].to_vec()).unwrap();
    let receive_id = String::from_utf8(body[20 + len..].to_vec()).unwrap();
    (msg, receive_id)
}

/// WeCom's signature computed by openssl's SHA1.
fn openssl_signature(parts: [&str; 4]) -> String {
    let mut parts = parts;
    parts.sort_unstable();
    let out = openssl(&["dgst", "-sha1", "-r"], parts.concat().as_bytes());
    String::from_utf8(out)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn openssl_encrypted_callbacks_are_read_and_replies_decrypt_under_openssl() {
    let clock = TestClock::at(NOW);
    let mut bot = Bot::start(config(None), clock).await;
    let ts = NOW.to_string();
    let nonce = "77120";

    // URL verification with an echostr openssl encrypted.
    let echostr = openssl_encrypt("8832175690173", CORP);
    let signature = openssl_signature([TOKEN, &ts, nonce, &echostr]);
    let (status, body) = bot
        .get(
            "/wecom/app",
            &[
                ("msg_signature", &signature),
                ("timestamp", &ts),
                ("nonce", nonce),
                ("echostr", &echostr),
            ],
        )
        .await;
    assert_eq!((status, body.as_str()), (200, "8832175690173"));

    // A message openssl encrypted and signed reaches the sink.
    let encrypt = openssl_encrypt(&app_text("lisi", 9001, "怎么办理居住证?"), CORP);
    let signature = openssl_signature([TOKEN, &ts, nonce, &encrypt]);
    let envelope = format!(
        "<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID><![CDATA[{AGENT}]]></AgentID></xml>"
    );
    let (status, _) = bot
        .post(
            "/wecom/app",
            &[
                ("msg_signature", &signature),
                ("timestamp", &ts),
                ("nonce", nonce),
            ],
            envelope,
        )
        .await;
    assert_eq!(status, 200);
    let incoming = bot.next_message().await;
    assert_eq!(incoming.chat, Chat::Private("lisi".into()));
    assert_eq!(incoming.text, "怎么办理居住证?");
    assert_eq!(incoming.message_id, "9001");

    // The passive reply to it: openssl checks the signature and decrypts it.
    let reply = "<xml><ToUserName><![CDATA[lisi]]></ToUserName><FromUserName><![CDATA[ww1436e0e65a779aee]]></FromUserName><CreateTime>1700000001</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[请带身份证到便民服务中心]]></Content></xml>";
    let xml = app_crypt()
        .encrypt_reply_xml(reply, "1700000001", "reply-nonce")
        .unwrap();
    let field = |tag: &str| -> String {
        let start = xml.find(&format!("<{tag}>")).unwrap() + tag.len() + 2;
        let end = xml.find(&format!("</{tag}>")).unwrap();
        let inner = &xml[start..end];
        inner
            .strip_prefix("<![CDATA[")
            .and_then(|s| s.strip_suffix("]]>"))
            .unwrap_or(inner)
            .to_owned()
    };
    let encrypt = field("Encrypt");
    assert_eq!(field("TimeStamp"), "1700000001");
    assert_eq!(field("Nonce"), "reply-nonce");
    assert_eq!(
        field("MsgSignature"),
        openssl_signature([TOKEN, "1700000001", "reply-nonce", &encrypt])
    );
    assert_eq!(
        openssl_decrypt(&encrypt),
        (reply.to_owned(), CORP.to_owned())
    );

    // The AI bot's JSON reply carries an empty receive id (its key differs, so only the layout
    // is checked here: the app key decrypts an app-keyed JSON reply the same way).
    let json = app_crypt()
        .encrypt_reply_json("{\"msgtype\":\"stream\"}", "5", "6")
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let encrypt = json["encrypt"].as_str().unwrap();
    assert_eq!(
        json["msgsignature"],
        openssl_signature([TOKEN, "5", "6", encrypt])
    );
    assert_eq!(
        openssl_decrypt(encrypt),
        ("{\"msgtype\":\"stream\"}".to_owned(), CORP.to_owned())
    );
    let aibot_style = bangban_wecom::MsgCrypt::new(TOKEN, KEY, "").unwrap();
    let encrypt = aibot_style.encrypt("{}").unwrap();
    assert_eq!(openssl_decrypt(&encrypt), ("{}".to_owned(), String::new()));
}
