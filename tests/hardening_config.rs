//! Issue 10, items 5 and 9(c): a configuration that passes `check` keeps its promises, and a
//! TOML error says which key.
//!
//! - `bangban check` and `bangban run` (both through `Config::load`) refuse a configuration in
//!   which a village's tickets would reach no agent on any enabled platform, naming the villages
//!   and `org.toml`'s `agents_chats`. The rule is the help desk's own (`notify::targets`): an
//!   agents' chat on the ticket's platform, one on another enabled platform with its bot
//!   `account` set, or agents notified privately.
//! - A TOML error names the key path at the line where parsing stopped.

mod shipped_config;

use bangban::config::Config;
use shipped_config::shipped_copy;
use std::fs;
use std::path::Path;
use std::process::Command;

/// The shipped OneBot agents' group, as `org.toml` writes it.
const ONEBOT_AGENTS_CHAT: &str = "[[agents_chats]]\nplatform = \"onebot\"\nchat = \"900100\"\n";

fn edit(path: &Path, from: &str, to: &str) {
    let text = fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from} not in {}", path.display());
    fs::write(path, text.replacen(from, to, 1)).unwrap();
}

fn errors_of(dir: &Path) -> Vec<bangban::config::ConfigError> {
    match Config::load(dir) {
        Ok(_) => panic!("the configuration was accepted"),
        Err(e) => e.0,
    }
}

/// `bangban <args>` with the config directory `dir`: exit code and stderr.
fn bangban(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bangban"))
        .arg("--config")
        .arg(dir)
        .args(args)
        .env("BANGBAN_DATA", data.path().join("data"))
        .env("BANGBAN_LISTEN", "127.0.0.1:0")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn without_the_onebot_agents_chat_check_and_run_refuse_naming_the_villages() {
    let (_tmp, dir) = shipped_copy();
    edit(&dir.join("org.toml"), ONEBOT_AGENTS_CHAT, "");
    let errors = errors_of(&dir);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let e = &errors[0];
    assert!(e.file.ends_with("org.toml"), "{e}");
    assert_eq!(e.key, "agents_chats");
    // The villages (their names and ids), the platform, and what is expected.
    for part in [
        "大湖村（v01）",
        "等 76 个村",
        "QQ（OneBot）",
        "没有一位专员会收到通知",
        "应为：",
        "platform = \"onebot\"",
        "private = true",
    ] {
        assert!(e.message.contains(part), "{part} missing: {e}");
    }
    // Both commands stop before doing anything, with the config-error status.
    for command in [&["check"][..], &["run"]] {
        let (code, stderr) = bangban(&dir, command);
        assert_eq!(code, Some(2), "{command:?}: {stderr}");
        assert!(
            stderr.contains("org.toml: agents_chats: 大湖村（v01）"),
            "{command:?}: {stderr}"
        );
    }
}

#[test]
fn the_shipped_configuration_still_passes_check() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("bot-config");
    let (code, stderr) = bangban(&dir, &["check"]);
    assert_eq!(code, Some(0), "{stderr}");
}

/// A village group on a platform with no agents' chat of its own is reached only through an
/// agents' chat elsewhere whose bot account is named (as the help desk sends).
#[test]
fn a_village_group_on_another_platform_needs_an_agents_chat_it_can_reach() {
    let (_tmp, dir) = shipped_copy();
    edit(
        &dir.join("org.toml"),
        r#"groups = { onebot = ["900001"], sandbox = ["sandbox"] }"#,
        r#"groups = { onebot = ["900001"], sandbox = ["sandbox"], wecom = ["wr-dahu"] }"#,
    );
    // Not enabled: WeCom groups are not served, so nothing is promised there.
    assert!(Config::load(&dir).is_ok());

    edit(
        &dir.join("bangban.toml"),
        "[onebot]\n",
        "[wecom]\nenabled = true\n\n[onebot]\n",
    );
    let errors = errors_of(&dir);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].key, "agents_chats");
    assert!(
        errors[0]
            .message
            .starts_with("大湖村（v01）在企业微信群里转给专员的工单"),
        "{}",
        errors[0]
    );
    assert!(errors[0].message.contains("account"), "{}", errors[0]);

    // The OneBot agents' group with its bot account named: WeCom tickets are announced there.
    edit(
        &dir.join("org.toml"),
        ONEBOT_AGENTS_CHAT,
        "[[agents_chats]]\nplatform = \"onebot\"\nchat = \"900100\"\naccount = \"10000\"\n",
    );
    Config::load(&dir).unwrap_or_else(|e| panic!("{e}"));
}

/// With OneBot off, its groups are not served: the sandbox's own agents' chat is enough.
#[test]
fn only_enabled_platforms_count() {
    let (_tmp, dir) = shipped_copy();
    edit(&dir.join("org.toml"), ONEBOT_AGENTS_CHAT, "");
    edit(
        &dir.join("bangban.toml"),
        "[onebot]\n# QQ groups through a OneBot v11 implementation (NapCat, LLBot).\n\
         # The usual setup needs nothing here: NapCat/LLBot connects to ws://HOST:8080/onebot/v11/ws.\n\
         enabled = true",
        "[onebot]\nenabled = false",
    );
    Config::load(&dir).unwrap_or_else(|e| panic!("{e}"));

    // And an agents' chat on a platform that is not enabled reaches nobody.
    let (_tmp, dir) = shipped_copy();
    edit(
        &dir.join("org.toml"),
        ONEBOT_AGENTS_CHAT,
        "[[agents_chats]]\nplatform = \"telegram\"\nchat = \"-100200\"\naccount = \"7000\"\n",
    );
    let errors = errors_of(&dir);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(errors[0].message.contains("等 76 个村"), "{}", errors[0]);
}

/// Agents notified privately count, on every rung of the ladder: a village whose own agent is
/// notified privately but whose township centre is not still fails, naming the rung.
#[test]
fn private_notices_count_on_every_rung() {
    let (_tmp, dir) = shipped_copy();
    let org = dir.join("org.toml");
    edit(&org, ONEBOT_AGENTS_CHAT, "");
    let text = fs::read_to_string(&org).unwrap();
    // Every agent asks for private notices: all reached.
    let (head, rest) = text.split_once("\n[agents]\n").unwrap();
    let (agents, tail) = rest.split_once("\n[admins]\n").unwrap();
    let agents = agents.replace(" } }\n", " }, private = true }\n");
    let all_private = format!("{head}\n[agents]\n{agents}\n[admins]\n{tail}");
    assert_ne!(all_private, text);
    fs::write(&org, &all_private).unwrap();
    let loaded = Config::load(&dir);
    if let Err(e) = &loaded {
        panic!("{e}");
    }
    // 大湖村's township centre (庙岭镇) agents are not: its tickets reach nobody once they climb.
    let miaoling: Vec<&str> = all_private
        .lines()
        .filter(|l| l.contains("townships = [\"miaoling\"]"))
        .collect();
    assert!(!miaoling.is_empty());
    let mut edited = all_private.clone();
    for line in &miaoling {
        edited = edited.replace(line, &line.replace(", private = true", ""));
    }
    fs::write(&org, edited).unwrap();
    let errors = errors_of(&dir);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0]
            .message
            .starts_with("大湖村（v01，升级到乡镇便民服务中心后）、"),
        "{}",
        errors[0]
    );
}

#[test]
fn a_toml_error_names_the_key_path_and_the_line() {
    let (_tmp, dir) = shipped_copy();
    edit(
        &dir.join("bangban.toml"),
        "heartbeat_misses = 3",
        "heartbeat_misses = \"three\"",
    );
    edit(
        &dir.join("org.toml"),
        "v02 = { name = \"庙岭镇示例村02（待填）\", township = \"miaoling\"",
        "v02 = { name = \"庙岭镇示例村02（待填）\", townshp = \"miaoling\"",
    );
    let errors = errors_of(&dir);
    let line_of = |file: &str, needle: &str| {
        let text = fs::read_to_string(dir.join(file)).unwrap();
        text.lines().position(|l| l.contains(needle)).unwrap() + 1
    };
    let keys: Vec<(String, String)> = errors
        .iter()
        .map(|e| {
            (
                e.file.file_name().unwrap().to_string_lossy().into_owned(),
                e.key.clone(),
            )
        })
        .collect();
    let expected = [
        (
            "org.toml".to_string(),
            format!(
                "line {} (villages.v02.townshp)",
                line_of("org.toml", "townshp")
            ),
        ),
        (
            "bangban.toml".to_string(),
            format!(
                "line {} (onebot.heartbeat_misses)",
                line_of("bangban.toml", "heartbeat_misses =")
            ),
        ),
    ];
    for e in &expected {
        assert!(keys.contains(e), "{e:?} not in {keys:?}");
    }
    // A syntax error: the key on that line.
    let (_tmp, dir) = shipped_copy();
    edit(
        &dir.join("matcher.toml"),
        "answer_min_prob = ",
        "answer_min_prob = = ",
    );
    let errors = errors_of(&dir);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].key.ends_with("(answer_min_prob)") && errors[0].key.starts_with("line "),
        "{}",
        errors[0]
    );
}
