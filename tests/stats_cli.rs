//! `bangban stats`: the summary table from the data directory or, while the bot holds it, from
//! the running bot; `--recount` puts right a counter that disagrees with the tickets and says
//! what it changed — while the bot runs, the bot only compares and nothing is changed.

mod helpdesk_common;
mod onebot_common;

use bangban::store::Store;
use helpdesk_common::*;
use std::path::Path;
use std::process::{Command, Output};

fn bangban(args: &[&str], data: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bangban"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("BANGBAN_CONFIG")
        .env_remove("BANGBAN_ADMIN_TOKEN")
        .env_remove("BANGBAN_LISTEN")
        .env("BANGBAN_DATA", data)
        .args(args)
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// A question handed over, one answered, a ticket claimed, resolved and rated 不满意 (which
/// opens a follow-up), all in 大湖村 on Monday 2026-12-07.
async fn history(data: &Path) {
    let bot = bangban::engine::Engine::new(config(), Store::open(data).unwrap());
    let script = [
        (
            DAHU_GROUP,
            RESIDENT,
            "m1",
            "@村口的路灯坏了好几天了找谁修",
            monday(9, 0),
        ),
        (
            DAHU_GROUP,
            "700002",
            "m2",
            "@低保需要什么材料",
            monday(9, 1),
        ),
        (AGENTS_GROUP, DAHU_AGENT, "a1", "接单 1", monday(9, 10)),
        (AGENTS_GROUP, DAHU_AGENT, "a2", "办结 1", monday(10, 0)),
        (DAHU_GROUP, RESIDENT, "m3", "4", monday(10, 5)),
    ];
    for (chat, sender, id, text, at) in script {
        bot.handle_at(&said(chat, sender, id, text), at)
            .await
            .unwrap();
    }
    bot.store().flush().await.unwrap();
}

/// A counter goes wrong behind the statistics' back: a 提问 counter of the day off by 5.
fn corrupt(data: &Path) {
    let db = sled::open(data).unwrap();
    let tree = db.open_tree("stats").unwrap();
    let (key, v) = tree
        .iter()
        .map(Result::unwrap)
        .find(|(k, _)| k.ends_with(b"q.asked"))
        .expect("a q.asked counter");
    let n = i64::from_be_bytes(v.as_ref().try_into().unwrap());
    tree.insert(key, &(n + 5).to_be_bytes()).unwrap();
    db.flush().unwrap();
}

const DECEMBER: [&str; 6] = [
    "--from",
    "2026-12-01",
    "--to",
    "2026-12-31",
    "--scope",
    "village:v01",
];

fn value<'a>(table: &'a str, label: &str) -> &'a str {
    table
        .lines()
        .find_map(|l| l.strip_prefix(label)?.strip_prefix('\t'))
        .unwrap_or_else(|| panic!("no line {label} in:\n{table}"))
}

#[tokio::test]
async fn the_summary_and_a_recount_that_puts_a_counter_right() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    history(&data).await;

    let mut args = vec!["stats"];
    args.extend(DECEMBER);
    let table = stdout(&bangban(&args, &data));
    assert!(table.starts_with("指标\t数值\n"), "{table}");
    assert_eq!(value(&table, "时间"), "2026-12-01 至 2026-12-31");
    assert_eq!(value(&table, "范围"), "大湖村");
    assert_eq!(value(&table, "提问"), "2");
    assert_eq!(value(&table, "新建工单"), "2");
    assert_eq!(value(&table, "办结"), "1");
    assert_eq!(value(&table, "评价：不满意"), "1");
    assert_eq!(value(&table, "差评回访工单"), "1");
    assert_eq!(value(&table, "办结用时中位数（分钟）"), "60.0");

    // Nothing to put right.
    let out = stdout(&bangban(&["stats", "--recount"], &data));
    assert!(out.contains("一致，没有改动"), "{out}");
    assert!(out.contains("2 件工单"), "{out}");

    corrupt(&data);
    let wrong = stdout(&bangban(&args, &data));
    assert_ne!(value(&wrong, "提问"), "2", "{wrong}");
    let out = stdout(&bangban(&["stats", "--recount"], &data));
    assert!(out.contains("2026-12-07 大湖村"), "{out}");
    assert!(out.contains("提问：原来 6，重算后 1"), "{out}");
    assert!(out.contains("改正了 1 处"), "{out}");
    let table = stdout(&bangban(&args, &data));
    assert_eq!(value(&table, "提问"), "2");
    let out = stdout(&bangban(&["stats", "--recount"], &data));
    assert!(out.contains("没有改动"), "{out}");

    // A bad scope is said in Chinese.
    let out = bangban(&["stats", "--scope", "village:nowhere"], &data);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("没有编号为“nowhere”的村"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_bot_runs_it_answers_and_a_recount_only_compares() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    history(&data).await;
    let service = onebot_common::Service::start(onebot_common::config(), &data).await;
    let server = format!("http://{}", service.addr);
    let run = |args: Vec<String>| {
        let data = data.clone();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            bangban(&args, &data)
        })
    };
    let mut args = vec!["stats".to_owned(), "--server".to_owned(), server.clone()];
    args.extend(DECEMBER.map(str::to_owned));

    let out = run(args.clone()).await.unwrap();
    let table = stdout(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("向机器人读取统计"), "{stderr}");
    assert_eq!(value(&table, "提问"), "2");
    assert_eq!(value(&table, "新建工单"), "2");

    let recount = vec![
        "stats".to_owned(),
        "--recount".to_owned(),
        "--server".to_owned(),
        server.clone(),
    ];
    let out = run(recount.clone()).await.unwrap();
    let said = stdout(&out);
    assert!(said.contains("一致"), "{said}");
    service.stop().await;

    // A counter gone wrong, found by the running bot but not changed while it runs.
    corrupt(&data);
    let service = onebot_common::Service::start(onebot_common::config(), &data).await;
    let server = format!("http://{}", service.addr);
    let recount = vec![
        "stats".to_owned(),
        "--recount".to_owned(),
        "--server".to_owned(),
        server,
    ];
    let out = run(recount.clone()).await.unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("提问：原来 6，重算后 1"), "{said}");
    assert!(stderr.contains("请停下机器人后再运行"), "{stderr}");
    let out = run(recount).await.unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("提问：原来 6"));
    service.stop().await;

    // Stopped, it is put right.
    let out = stdout(&bangban(&["stats", "--recount"], &data));
    assert!(out.contains("改正了 1 处"), "{out}");
}
