//! What each fuzz target does with its input, shared by the targets (`fuzz_targets/*.rs`, run
//! with `cargo fuzz`) and the corpus replay (`tests/fuzz_replay.rs`, run by `cargo test`).
//!
//! Each function takes any bytes, must not panic, and asserts that the result is sane.
#![allow(dead_code)] // Each target uses one.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// The CQ-code parser: a CQ string parses, renders and parses again to the same segments.
pub fn cq(data: &[u8]) {
    if let Ok(s) = std::str::from_utf8(data) {
        let segments = bangban_onebot::fuzzing::cq_round_trip(s);
        assert!(segments <= s.len(), "more segments than bytes in {s:?}");
    }
}

/// The OneBot event parser, over whatever a reverse WebSocket or an HTTP POST may carry.
pub fn onebot_event(data: &[u8]) {
    let read = bangban_onebot::fuzzing::frame(data);
    if read {
        assert!(
            serde_json_like(data),
            "a frame that is not a JSON object was read"
        );
    }
}

/// Whether `data` starts (after white space) like a JSON object.
fn serde_json_like(data: &[u8]) -> bool {
    data.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'{')
}

const WECOM_TOKEN: &str = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo";
const WECOM_KEY: &str = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt";
const WECOM_CORP: &str = "ww0123456789abcdef";

fn wecom() -> &'static bangban_wecom::MsgCrypt {
    static CRYPT: OnceLock<bangban_wecom::MsgCrypt> = OnceLock::new();
    CRYPT.get_or_init(|| {
        bangban_wecom::MsgCrypt::new(WECOM_TOKEN, WECOM_KEY, WECOM_CORP).expect("a valid key")
    })
}

/// The WeCom decrypt path. First byte even: the rest is a `msg_encrypt` an attacker sends,
/// checked and decrypted. Odd: the rest is a message, encrypted and signed as WeCom does,
/// which must come back unchanged.
pub fn wecom_decrypt(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let crypt = wecom();
    let now = SystemTime::now();
    let timestamp = now
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
        .to_string();
    let text = String::from_utf8_lossy(rest);
    if mode % 2 == 0 {
        let _ = crypt.decrypt(&text);
        let signature = crypt.signature(&timestamp, "nonce", &text);
        let _ = crypt.verify_and_decrypt(&signature, &timestamp, "nonce", &text, now);
        assert!(
            crypt
                .verify_and_decrypt("0000", &timestamp, "nonce", &text, now)
                .is_err(),
            "a wrong signature passed"
        );
    } else {
        let mut random = [0u8; 16];
        for (r, b) in random.iter_mut().zip(rest) {
            *r = *b;
        }
        let encrypted = crypt.encrypt_with_random(random, &text);
        let signature = crypt.signature(&timestamp, "nonce", &encrypted);
        let back = crypt
            .verify_and_decrypt(&signature, &timestamp, "nonce", &encrypted, now)
            .expect("what was encrypted decrypts");
        assert_eq!(back, text);
    }
}

const QQBOT_SECRET: &str = "naOC0ocQE3shWLAfffVLB1rhYPG7";

struct QqBot {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
}

fn qqbot() -> &'static QqBot {
    static BOT: OnceLock<QqBot> = OnceLock::new();
    BOT.get_or_init(|| {
        let config = bangban_qqbot::QqBotConfig {
            app_id: "102000000".into(),
            secret: QQBOT_SECRET.into(),
            max_timestamp_skew: None,
            ..Default::default()
        };
        let bot = bangban_qqbot::QqBot::new(config).expect("a valid config");
        QqBot {
            runtime: tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("a runtime"),
            router: bot.router(),
        }
    })
}

/// The QQ bot webhook verifier, through its route. Input: timestamp, signature and body
/// separated by the first two `\n`. First byte even: sent as given (must be refused, 401, or
/// too large, 413). Odd: the body is signed as the platform does (must pass the check: the
/// adapter is not running, so 503, or 413).
pub fn qqbot_webhook(data: &[u8]) {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut parts = rest.splitn(3, |&b| b == b'\n');
    let timestamp = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let signature = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let body = parts.next().unwrap_or_default().to_vec();
    let signed = mode % 2 == 1;
    // Header values the adapter can read are visible ASCII; the platform sends no others.
    let readable = |s: &str| s.bytes().all(|b| b == b' ' || b.is_ascii_graphic());
    if signed && !readable(&timestamp) {
        return;
    }
    let signature = if signed {
        bangban_qqbot::webhook_signature(QQBOT_SECRET, &timestamp, &body)
    } else {
        signature
    };
    let mut request = Request::post(bangban_qqbot::WEBHOOK_PATH);
    if let (Ok(ts), Ok(sig)) = (
        axum::http::HeaderValue::from_str(&timestamp),
        axum::http::HeaderValue::from_str(&signature),
    ) {
        request = request
            .header("x-signature-timestamp", ts)
            .header("x-signature-ed25519", sig);
    } else if signed {
        return; // Not sendable as headers: the platform could not have sent it.
    }
    let request = request.body(Body::from(body)).expect("a request");
    let bot = qqbot();
    let response = bot
        .runtime
        .block_on(bot.router.clone().oneshot(request))
        .expect("infallible");
    let status = response.status().as_u16();
    if signed {
        assert!(matches!(status, 503 | 413), "signed: {status}");
    } else {
        assert!(matches!(status, 401 | 413), "unsigned: {status}");
    }
}

fn normalizer() -> &'static bangban::understand::normalize::Normalizer {
    static NORMALIZER: OnceLock<bangban::understand::normalize::Normalizer> = OnceLock::new();
    NORMALIZER.get_or_init(|| {
        bangban::understand::normalize::Normalizer::new(
            &[
                ("么样".into(), "怎么".into()),
                ("社保咔".into(), "社保卡".into()),
                ("那个那个".into(), "".into()),
            ],
            &[('设', '社')],
            &["帮办小助手".into(), "帮办".into()],
        )
    })
}

/// The question normaliser: any text gives canonical text (single spaces between runs, none
/// at the ends, no ASCII upper case).
pub fn normalize(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let n = normalizer();
    for text in [n.normalize(s).text, n.normalize_word(s)] {
        assert!(
            !text.starts_with(' ') && !text.ends_with(' '),
            "{s:?} → {text:?}"
        );
        assert!(!text.contains("  "), "{s:?} → {text:?}");
        assert!(
            !text.chars().any(|c| c.is_ascii_uppercase()),
            "{s:?} → {text:?}"
        );
    }
}
