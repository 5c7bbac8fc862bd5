//! The command-line contract of DESIGN.md: `ask --json --batch`, `ask TEXT`, `check`; and the
//! data directory's tools: `catalog export`, `users passwd | token | list`.

use bangban::catalog::Item;
use bangban::console::auth;
use bangban::store::Store;
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

fn bangban() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bangban"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd.env_remove("BANGBAN_CONFIG");
    cmd
}

/// Runs `bangban ARGS` with `input` on stdin; it must succeed.
fn run_with_input(args: &[&std::ffi::OsStr], input: &str) -> std::process::Output {
    let mut child = bangban()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `bangban chat EXTRA` on `input` and returns what it printed.
fn chat(extra: &[&std::ffi::OsStr], input: &str) -> String {
    let args: Vec<&std::ffi::OsStr> = std::iter::once("chat".as_ref())
        .chain(extra.iter().copied())
        .collect();
    String::from_utf8(run_with_input(&args, input).stdout).unwrap()
}

/// Runs `bangban ask --json --batch` on `input`: the JSON lines and stderr.
fn batch(input: &str) -> (Vec<Value>, String) {
    let args = ["ask", "--json", "--batch"].map(std::ffi::OsStr::new);
    let out = run_with_input(&args, input);
    let lines = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (lines, String::from_utf8(out.stderr).unwrap())
}

#[test]
fn batch_answers_one_line_per_question_with_the_contract_fields() {
    let input = [
        r#"{"text": "老年卡要带什么材料", "addressed": true}"#,
        r#"{"text": "哈哈哈", "addressed": false}"#,
        r#"{"text": "医保", "addressed": true}"#,
    ]
    .join("\n");
    let (out, _) = batch(&input);
    assert_eq!(out.len(), 3);
    for o in &out {
        let keys: Vec<&str> = o.as_object().unwrap().keys().map(String::as_str).collect();
        for k in ["decision", "item", "aspect", "candidates", "reply"] {
            assert!(keys.contains(&k), "{k} missing in {o}");
        }
    }
    assert_eq!(out[0]["decision"], "answer");
    assert_eq!(out[0]["item"], "elder-card");
    assert_eq!(out[0]["aspect"], "materials");
    assert!(out[0]["reply"].as_str().unwrap().contains("1. "));
    assert_eq!(out[1]["decision"], "ignore");
    assert_eq!(out[1]["item"], Value::Null);
    assert_eq!(out[1]["reply"], "");
    assert_eq!(out[2]["decision"], "clarify");
    assert!(out[2]["candidates"].as_array().unwrap().len() >= 2);
    assert!(out[2]["reply"].as_str().unwrap().contains("回复数字"));
}

#[test]
fn malformed_batch_line_gets_an_error_line_and_the_batch_goes_on() {
    let (out, stderr) = batch("{not json\n{\"text\": \"你好\", \"addressed\": true}\n");
    assert_eq!(out.len(), 2);
    assert_eq!(out[0]["decision"], "ignore");
    assert!(out[0]["error"].as_str().unwrap().starts_with("line 1"));
    assert!(stderr.contains("line 1"));
    assert_eq!(out[1]["decision"], "help");
}

#[test]
fn ask_prints_the_reply_a_group_would_see() {
    let out = bangban()
        .args(["ask", "社保卡丢了怎么办"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("挂失"), "{text}");
    assert!(!text.contains('{'));
}

#[test]
fn check_passes_on_the_shipped_config_and_fails_on_a_broken_one() {
    let out = bangban().arg("check").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tmp = tempfile::tempdir().unwrap();
    let out = bangban()
        .args(["check", "--config"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("catalog"), "{err}");
}

#[test]
fn chat_sandbox_answers_addressed_lines_and_a_digit_picks_from_the_list() {
    let text = chat(&[], "@社保卡\n2\n今天赶集的人真多\n");
    let replies: Vec<&str> = text.split("帮办小助手：").skip(1).collect();
    assert_eq!(replies.len(), 2, "chatter gets no reply: {text}");
    assert!(replies[0].contains("回复数字"));
    let second_choice = replies[0]
        .lines()
        .find(|l| l.starts_with("2. "))
        .unwrap()
        .trim_start_matches("2. ");
    assert!(replies[1].contains(second_choice), "{text}");
}

#[test]
fn a_second_chat_session_on_the_same_data_is_not_a_replay_of_the_first() {
    let data = tempfile::tempdir().unwrap();
    let session = |line: &str| chat(&["--data".as_ref(), data.path().as_os_str()], line);
    let first = session("@帮我查一下我家低保批下来了没有\n");
    let second = session("@窗口工作人员态度太差了，我要投诉\n");
    assert!(first.contains("工单号：1"), "{first}");
    assert!(second.contains("工单号：2"), "{second}");
}

#[test]
fn in_the_sandbox_an_agent_claims_replies_and_resolves_and_the_resident_rates() {
    let script = "@帮我查一下我家低保批下来了没有\n#接单 1\n#回复 1 已批，下月发放\n#办结 1\n1\n";
    let out = chat(&[], script);
    let to_group: Vec<&str> = out.split("帮办小助手：").skip(1).collect();
    assert!(
        out.contains("【新工单 1】"),
        "the agents' chat is told: {out}"
    );
    assert!(
        to_group.iter().any(|r| r.contains("已批，下月发放")),
        "{out}"
    );
    assert!(
        to_group.iter().any(|r| r.contains("请给这次服务打分")),
        "{out}"
    );
    assert!(to_group.last().unwrap().contains("谢谢您的评价"), "{out}");
}

/// Runs `bangban ARGS` with `input` on stdin (it may fail): status, stdout, stderr.
fn run(args: &[&std::ffi::OsStr], input: &str) -> (bool, String, String) {
    let mut child = bangban()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn os(args: &[&str]) -> Vec<std::ffi::OsString> {
    args.iter().map(Into::into).collect()
}

fn refs(args: &[std::ffi::OsString]) -> Vec<&std::ffi::OsStr> {
    args.iter().map(|a| a.as_os_str()).collect()
}

/// A data directory as the bot leaves it: the shipped guide seeded, `veteran-card` retired.
fn seeded(data: &Path) {
    let config_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("bot-config");
    let config = bangban::config::Config::load(&config_dir).unwrap();
    let store = Store::open(data).unwrap();
    bangban::guide::load(&config, &store).unwrap();
    let now = store.catalog_item("veteran-card").unwrap().unwrap();
    store
        .save_item(&bangban::store::catalog::Save {
            item: &now.item,
            base: Some(now.rev),
            retired: true,
            who: "bureau",
            note: "停用",
            at: 1,
        })
        .unwrap()
        .unwrap();
    store.flush_blocking().unwrap();
}

#[test]
fn catalog_export_writes_the_stored_guide_as_toml_cards_or_a_sheet() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let data_arg = data.to_str().unwrap().to_owned();

    // Before the bot's first start there is nothing to export: it says where the cards are.
    let (ok, _, err) = run(&refs(&os(&["catalog", "export", "--data", &data_arg])), "");
    assert!(!ok && err.contains("没有机器人的数据"), "{err}");

    seeded(&data);
    let stored: Vec<Item> = {
        let store = Store::open(&data).unwrap();
        store
            .catalog_current()
            .unwrap()
            .into_iter()
            .filter(|r| !r.retired)
            .map(|r| r.item)
            .collect()
    };

    // TOML: one card per item the bot answers from, each reading back as the stored item.
    let cards = tmp.path().join("cards");
    let cards_arg = cards.to_str().unwrap().to_owned();
    let (ok, out, err) = run(
        &refs(&os(&[
            "catalog", "export", "--format", "toml", "--data", &data_arg, "-o", &cards_arg,
        ])),
        "",
    );
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!("已写出 {} 个事项", stored.len())),
        "{out}"
    );
    let files = std::fs::read_dir(&cards).unwrap().count();
    assert_eq!(files, stored.len());
    for item in &stored {
        let text = std::fs::read_to_string(cards.join(format!("{}.toml", item.id))).unwrap();
        let back: Item = toml::from_str(&text).unwrap();
        assert_eq!(&back, item);
    }
    assert!(
        !cards.join("veteran-card.toml").exists(),
        "retired: left out"
    );
    let (ok, _, err) = run(
        &refs(&os(&[
            "catalog",
            "export",
            "--data",
            &data_arg,
            "-o",
            &cards_arg,
            "--retired",
        ])),
        "",
    );
    assert!(ok, "{err}");
    assert!(
        cards.join("veteran-card.toml").exists(),
        "--retired: written"
    );

    // XLSX: one row per item, with the id in 事项编码.
    let book = tmp.path().join("guide.xlsx");
    let book_arg = book.to_str().unwrap().to_owned();
    let (ok, _, err) = run(
        &refs(&os(&[
            "catalog", "export", "--format", "xlsx", "--data", &data_arg, "-o", &book_arg,
        ])),
        "",
    );
    assert!(ok, "{err}");
    let rows = bangban::catalog::sheet::read(&std::fs::read(&book).unwrap()).unwrap();
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let want: Vec<&str> = stored.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, want);

    // While the bot holds the data directory, it says to stop it or use the console.
    let held = Store::open(&data).unwrap();
    let (ok, _, err) = run(
        &refs(&os(&[
            "catalog", "export", "--data", &data_arg, "-o", &cards_arg,
        ])),
        "",
    );
    assert!(!ok && err.contains("正被运行中的机器人使用"), "{err}");
    drop(held);
}

#[test]
fn users_passwd_reads_the_password_from_stdin_and_token_prints_one_once() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().to_str().unwrap().to_owned();
    let users = |args: &[&str], input: &str| {
        let mut all = vec!["users", "--data", &data];
        all.extend_from_slice(args);
        run(&refs(&os(&all)), input)
    };

    // A password from stdin (not a terminal: one line).
    let (ok, out, err) = users(&["passwd", "bureau"], "春耕-2026-spring\n");
    assert!(ok, "{err}");
    assert!(out.contains("已为") && out.contains("设置密码"), "{out}");
    // Too short, or someone org.toml does not know: refused, nothing changed.
    let (ok, _, err) = users(&["passwd", "bureau"], "short\n");
    assert!(!ok && err.contains("密码太短"), "{err}");
    let (ok, _, err) = users(&["passwd", "nobody"], "long-enough-password\n");
    assert!(
        !ok && err.contains("org.toml") && err.contains("nobody"),
        "{err}"
    );

    // A token: printed alone on stdout, the notice on stderr; --revoke-others withdraws the
    // earlier ones.
    let token = |args: &[&str]| {
        let (ok, out, err) = users(args, "");
        assert!(ok, "{err}");
        assert!(err.contains("只显示这一次"), "{err}");
        let t = out.trim().to_owned();
        assert!(
            t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()),
            "{out}"
        );
        t
    };
    let first = token(&["token", "bureau"]);
    let second = token(&["token", "bureau"]);
    let (ok, out, _) = users(&["list"], "");
    assert!(ok);
    let line = out.lines().find(|l| l.starts_with("bureau\t")).unwrap();
    assert!(
        line.contains("有密码") && line.contains("2 个令牌"),
        "{line}"
    );
    let third = token(&["token", "bureau", "--revoke-others"]);

    let store = Store::open(Path::new(&data)).unwrap();
    let c = store.credentials("bureau").unwrap();
    assert!(auth::verify_password(
        c.password.as_deref().unwrap(),
        "春耕-2026-spring"
    ));
    let owner = |t: &str| store.token_user(&auth::digest(t)).unwrap();
    assert_eq!(owner(&third).as_deref(), Some("bureau"));
    assert_eq!((owner(&first), owner(&second)), (None, None));
    let audit = store.audit_latest(10).unwrap();
    let actions: Vec<(&str, &str)> = audit
        .iter()
        .map(|e| (e.action.as_str(), e.who.as_str()))
        .collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == ("user.token", "cli"))
            .count(),
        3
    );
    assert!(actions.contains(&("user.passwd", "cli")), "{actions:?}");
    assert!(audit.iter().all(|e| !e.detail.contains("春耕")));
}
