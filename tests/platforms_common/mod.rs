//! Helpers of the tests with several platforms: the shipped configuration copied and edited as
//! an operator would, and a fake WeCom API recording what the bot sends.
#![allow(dead_code)] // Each test binary uses its own part.

use axum::Json;
use axum::routing::post;
use serde_json::{Value, json};
use std::path::Path;
use tokio::sync::mpsc;

/// A copy of the shipped `bot-config/` whose `org.toml` and `bangban.toml` are edited, loaded
/// (and so checked) as `bangban run` loads it.
pub fn config_with(
    org: impl Fn(String) -> String,
    bangban: impl Fn(String) -> String,
) -> (tempfile::TempDir, bangban::config::Config) {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("bot-config"),
        dir.path(),
    );
    for (file, edit) in [
        ("org.toml", &org as &dyn Fn(String) -> String),
        ("bangban.toml", &bangban),
    ] {
        let path = dir.path().join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let edited = edit(text.clone());
        assert_ne!(edited, text, "the edit of {file} applies");
        std::fs::write(&path, edited).unwrap();
    }
    let mut config = bangban::config::Config::load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    config.service.pacing.enabled = false;
    config.service.outbox.retry_initial_secs = 1;
    config.service.outbox.retry_max_secs = 2;
    // The daily digest would go out at the first clock tick after 08:30 local: what a test
    // expects in the outbox must not depend on the hour it runs (tests/digest.rs tests it).
    config.org.digest.at = None;
    (dir, config)
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The agents' chats: only `chats` (TOML `[[agents_chats]]` blocks) and the sandbox's.
pub fn agents_chats(org: String, chats: &str) -> String {
    org.replace(
        "[[agents_chats]]\nplatform = \"onebot\"\nchat = \"900100\"\n",
        chats,
    )
}

/// A fake WeCom API (the AI bot's `response_url` and the group robots' webhook): each call
/// arrives on the receiver as (path, query, body), answered `errcode` 0.
pub async fn start_fake_wecom() -> (String, mpsc::UnboundedReceiver<(String, String, Value)>) {
    let (sent, sends) = mpsc::unbounded_channel::<(String, String, Value)>();
    let record = |path: &'static str| {
        let sent = sent.clone();
        post(
            move |axum::extract::RawQuery(query): axum::extract::RawQuery,
                  Json(body): Json<Value>| async move {
                let _ = sent.send((path.to_owned(), query.unwrap_or_default(), body));
                Json(json!({"errcode": 0, "errmsg": "ok"}))
            },
        )
    };
    let app = axum::Router::new()
        .route("/cgi-bin/aibot/response", record("/cgi-bin/aibot/response"))
        .route("/cgi-bin/webhook/send", record("/cgi-bin/webhook/send"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, sends)
}
