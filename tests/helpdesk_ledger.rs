//! The ledger (帮代办服务台账) outside the engine: over HTTP from the running bot, and through
//! `bangban tickets list|export`, which reads the data directory or, when the running bot holds
//! it, asks the bot.

mod helpdesk_common;

use bangban::engine::Engine;
use bangban::helpdesk::http::routes_with_token;
use bangban::helpdesk::ledger::{COLUMNS, Row};
use bangban::store::Store;
use helpdesk_common::*;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

/// Two tickets: #1 resolved and rated 非常满意, #2 waiting.
async fn two_tickets(bot: &Engine) {
    let steps = [
        (
            DAHU_GROUP,
            RESIDENT,
            "m1",
            "@村里的路灯坏了找谁",
            monday(9, 0),
        ),
        (AGENTS_GROUP, DAHU_AGENT, "a1", "接单 1", monday(9, 10)),
        (AGENTS_GROUP, DAHU_AGENT, "a2", "办结 1", monday(9, 40)),
        (DAHU_GROUP, RESIDENT, "m2", "1", monday(9, 45)),
        (
            "900076",
            "700076",
            "m3",
            "@村里的路灯坏了找谁",
            at(2026, 12, 8, 10, 0),
        ),
    ];
    for (chat, who, id, text, when) in steps {
        bot.handle_at(&said(chat, who, id, text), when)
            .await
            .unwrap();
    }
}

async fn serve(engine: Arc<Engine>, token: Option<&str>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = routes_with_token(engine, token.map(String::from));
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap()
    });
    addr
}

fn bangban(args: &[&str]) -> Output {
    bangban_with(&[], args)
}

/// `bangban args` with environment variables `env` set (and no other of bangban's).
fn bangban_with(env: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bangban"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("BANGBAN_CONFIG")
        .env_remove("BANGBAN_DATA")
        .env_remove("BANGBAN_ADMIN_TOKEN")
        .env_remove("BANGBAN_LISTEN")
        .envs(env.iter().copied())
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_bot_serves_the_ledger_and_the_cli_goes_through_it() {
    let (bot, dir) = bot();
    two_tickets(&bot).await;
    let addr = serve(Arc::new(bot), None).await;
    let base = format!("http://{addr}");
    // No data endpoint trusts the peer: from loopback, as a same-host proxy forwards, no token
    // gets nothing.
    let client = reqwest::Client::new();
    let res = client
        .get(format!("{base}/api/tickets"))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(!res.text().await.unwrap().contains("周汤村"));
    // The local token the running bot keeps in its data directory opens it.
    let token = std::fs::read_to_string(bangban::helpdesk::http::local_token_path(dir.path()))
        .unwrap()
        .trim()
        .to_string();
    let get = |url: String| client.get(url).bearer_auth(&token).send();

    let rows: Vec<Row> = get(format!("{base}/api/tickets"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(
        (rows[0].rating.as_str(), rows[1].stage.as_str()),
        ("非常满意", "待受理")
    );
    let rows: Vec<Row> = get(format!("{base}/api/tickets?from=2026-12-08"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "filtered by the day opened");
    assert_eq!(rows[0].village, "周汤村");

    let res = get(format!(
        "{base}/api/tickets/export?format=csv&to=2026-12-07"
    ))
    .await
    .unwrap();
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = res.text().await.unwrap();
    assert_eq!(csv.trim_start_matches('\u{feff}').lines().count(), 2);
    for bad in [
        "format=pdf",
        "from=2026-13-01",
        "from=2026-12-09&to=2026-12-01",
    ] {
        let res = get(format!("{base}/api/tickets/export?{bad}"))
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{bad}");
    }

    // The bot holds the data directory: the CLI says so and asks the bot.
    let data = dir.path().to_str().unwrap().to_string();
    let out_file = dir.path().join("ledger.xlsx");
    let out_path = out_file.to_str().unwrap().to_string();
    let out = tokio::task::spawn_blocking({
        let (data, base) = (data.clone(), base.clone());
        move || {
            bangban(&[
                "tickets", "--data", &data, "--server", &base, "export", "--format", "xlsx",
                "--out", &out_path,
            ])
        }
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("正被运行中的机器人使用"),
        "{}",
        text(&out.stderr)
    );
    let sheet = xlsx::cells(&std::fs::read(&out_file).unwrap());
    assert_eq!(sheet[0], COLUMNS.map(String::from));
    assert_eq!(
        (sheet[1][0].as_str(), sheet[1][10].as_str()),
        ("1", "非常满意")
    );
    assert_eq!(
        (sheet[2][0].as_str(), sheet[2][1].as_str()),
        ("2", "周汤村")
    );

    let out = tokio::task::spawn_blocking(move || {
        bangban(&["tickets", "list", "--data", &data, "--server", &base])
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed = text(&out.stdout);
    assert!(listed.contains("共 2 件"), "{listed}");
    assert!(
        listed.contains("周汤村") && listed.contains("路灯坏了"),
        "{listed}"
    );

    // Without --server, the CLI finds the bot where `bangban run` listens: BANGBAN_LISTEN.
    let data = dir.path().to_str().unwrap().to_string();
    let listen = addr.to_string();
    let out = tokio::task::spawn_blocking(move || {
        bangban_with(
            &[("BANGBAN_LISTEN", &listen)],
            &["tickets", "list", "--data", &data],
        )
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(&addr.to_string()));
    assert!(text(&out.stdout).contains("共 2 件"));
}

#[test]
fn the_cli_refuses_a_directory_without_bangban_data() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a database").unwrap();
    for args in [
        &["tickets", "list"][..],
        &["tickets", "export", "--format", "csv"],
    ] {
        let mut args = args.to_vec();
        args.extend(["--data", dir.path().to_str().unwrap()]);
        let out = bangban(&args);
        assert!(!out.status.success(), "{args:?}");
        let err = text(&out.stderr);
        assert!(err.contains("没有机器人的数据"), "{err}");
        assert!(!text(&out.stdout).contains("共 0 件"));
    }
    // Nothing was created there.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["notes.txt"]);
}

#[tokio::test]
async fn with_an_admin_token_the_ledger_needs_it() {
    let (bot, _dir) = bot();
    let addr = serve(Arc::new(bot), Some("s3cret")).await;
    let url = format!("http://{addr}/api/tickets");
    let client = reqwest::Client::new();
    assert_eq!(client.get(&url).send().await.unwrap().status(), 401);
    let wrong = client.get(&url).bearer_auth("guess").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let right = client.get(&url).bearer_auth("s3cret").send().await.unwrap();
    assert_eq!(right.status(), 200);
}

#[tokio::test]
async fn without_a_token_a_server_that_cannot_tell_the_peer_refuses() {
    let (bot, _dir) = bot();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Served without connect info: the peer is unknown, so it is not taken for local.
    let app = routes_with_token(Arc::new(bot), None);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let res = reqwest::get(format!("http://{addr}/api/tickets"))
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn the_cli_reads_the_data_directory_when_the_bot_is_stopped() {
    let (bot, dir) = bot();
    two_tickets(&bot).await;
    drop(bot);
    let data = dir.path().to_str().unwrap();
    let out = bangban(&["tickets", "export", "--data", data, "--format", "csv"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("从数据目录"));
    let csv = text(&out.stdout);
    let mut lines = csv.trim_start_matches('\u{feff}').lines();
    assert_eq!(lines.next().unwrap(), COLUMNS.join(","));
    assert!(lines.next().unwrap().starts_with("1,大湖村,QQ群900001,"));
    let out = bangban(&["tickets", "list", "--data", data, "--from", "2026-12-08"]);
    assert!(
        text(&out.stdout).contains("共 1 件"),
        "{}",
        text(&out.stdout)
    );
    let out = bangban(&["tickets", "list", "--data", data, "--from", "12/08"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("YYYY-MM-DD"));
}

#[test]
fn the_cli_says_plainly_what_to_do_when_neither_works() {
    let dir = tempfile::tempdir().unwrap();
    let _held = Store::open(dir.path()).unwrap();
    // Nothing listens on port 9 of loopback (discard).
    let out = bangban(&[
        "tickets",
        "list",
        "--data",
        dir.path().to_str().unwrap(),
        "--server",
        "http://127.0.0.1:9",
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("连不上运行中的机器人"), "{err}");
    let missing = Path::new(dir.path()).join("nope");
    let out = bangban(&["tickets", "list", "--data", missing.to_str().unwrap()]);
    assert!(text(&out.stderr).contains("没有找到数据目录"));
}
