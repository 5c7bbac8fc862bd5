//! `bangban run` as a child process: killed with SIGKILL with replies queued, it sends them
//! after the restart, once; SIGTERM stops it cleanly; with no platform it still starts and says
//! how to connect one; a OneBot setting it cannot use stops it (or `bangban check`) with a
//! clear message; its stderr in a pipe holds no colour codes, and only JSON in JSON mode.

mod onebot_common;

use onebot_common::*;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// A copy of the shipped config with `bangban.toml` replaced and the daily digest off.
fn config_dir(root: &Path, bangban_toml: &str) -> PathBuf {
    let dir = root.join("config");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("bot-config"),
        &dir,
    );
    std::fs::write(dir.join("bangban.toml"), bangban_toml).unwrap();
    // No daily digest: what a test expects in the outbox must not depend on the hour it runs.
    let org = std::fs::read_to_string(dir.join("org.toml")).unwrap();
    assert!(
        org.contains("\nat = \"08:30\"\n"),
        "the shipped digest time"
    );
    std::fs::write(
        dir.join("org.toml"),
        org.replace("\nat = \"08:30\"\n", "\nat = \"\"\n"),
    )
    .unwrap();
    dir
}

fn copy_dir(from: &Path, to: &Path) {
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

/// The bot as a child process, and what it printed at start-up.
struct Bot {
    child: Child,
    addr: SocketAddr,
    banner: String,
    /// Every line of its stderr, complete once it exited (see `stderr_after_exit`).
    stderr: Arc<Mutex<Vec<String>>>,
    reader: std::thread::JoinHandle<()>,
}

/// The bangban binary with `args`, `BANGBAN_ONEBOT_TOKEN` set, RUST_LOG=info, colours not
/// forbidden (so that only the pipe decides), stderr piped.
fn bangban(args: &[&OsStr]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bangban"));
    command
        .args(args)
        .env("BANGBAN_ONEBOT_TOKEN", TOKEN)
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .env_remove("BANGBAN_LOG_FORMAT")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

fn run_args<'a>(config: &'a Path, data: &'a Path) -> Vec<&'a OsStr> {
    let mut args: Vec<&OsStr> = ["run", "--listen", "127.0.0.1:0", "--config"]
        .iter()
        .map(OsStr::new)
        .collect();
    args.extend([config.as_os_str(), OsStr::new("--data"), data.as_os_str()]);
    args
}

impl Bot {
    fn start(config: &Path, data: &Path) -> Bot {
        Bot::spawn(bangban(&run_args(config, data)))
    }

    fn spawn(mut command: Command) -> Bot {
        let mut child = command.spawn().unwrap();
        // Read stderr on a thread for the whole run, so the child never blocks on a full pipe.
        let (lines, banner_lines) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let all = Arc::new(Mutex::new(Vec::new()));
        let kept = all.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                kept.lock().unwrap().push(line.clone());
                let _ = lines.send(line);
            }
        });
        let mut banner = String::new();
        let addr = loop {
            let line = banner_lines
                .recv_timeout(Duration::from_secs(20))
                .expect("the bot printed where it listens");
            banner.push_str(&line);
            banner.push('\n');
            if let Some(rest) = line.split("http://").nth(1) {
                let addr = rest.split(|c: char| c.is_whitespace() || c == '"').next();
                break addr.unwrap().parse().unwrap();
            }
        };
        // The rest of the hint, a few lines more.
        while let Ok(line) = banner_lines.recv_timeout(Duration::from_millis(300)) {
            banner.push_str(&line);
            banner.push('\n');
            if line.contains("README") {
                break;
            }
        }
        Bot {
            child,
            addr,
            banner,
            stderr: all,
            reader,
        }
    }

    fn kill_9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn terminate(self) -> std::process::ExitStatus {
        self.terminate_with_stderr().0
    }

    /// SIGTERM; the exit status and every line the bot wrote to stderr.
    fn terminate_with_stderr(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let status = self.child.wait().unwrap();
        // The pipe is closed once the bot exited: the reader has seen every line.
        self.reader.join().unwrap();
        let lines = std::mem::take(&mut *self.stderr.lock().unwrap());
        (status, lines)
    }
}

/// Waits (at most 20 s) for a child that should exit on its own; its status and stderr.
fn exits_by_itself(mut command: Command) -> (std::process::ExitStatus, String) {
    let child = command.spawn().unwrap();
    let (done, wait) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    let output = wait
        .recv_timeout(Duration::from_secs(20))
        .expect("the bot exited by itself")
        .unwrap();
    (
        output.status,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

const NO_PACING: &str = "[pacing]\nenabled = false\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_the_queued_replies_are_sent_once() {
    let root = tempfile::tempdir().unwrap();
    let config = config_dir(root.path(), NO_PACING);
    let data = root.path().join("data");

    let bot = Bot::start(&config, &data);
    assert!(
        bot.banner
            .contains(&format!("ws://{}/onebot/v11/ws", bot.addr)),
        "{}",
        bot.banner
    );
    let mut events = connect_events_only(bot.addr).await;
    let ids: Vec<u64> = (20_001..20_021).collect();
    for (i, id) in ids.iter().enumerate() {
        events
            .send(&question(*id, 900008, 800_700 + i as u64, "老年卡要带什么"))
            .await;
    }
    // The outbox depth counts what is stored and flushed.
    wait_metric(bot.addr, "bangban_outbox_depth", 20).await;
    bot.kill_9();
    drop(events);

    let bot = Bot::start(&config, &data);
    assert_eq!(metric(bot.addr, "bangban_outbox_depth").await, 20);
    let mut fake = connect(bot.addr).await;
    let replies = fake.replies_until("20020").await;
    let quotes: Vec<String> = replies.iter().filter_map(|r| r.quote.clone()).collect();
    let expected: Vec<String> = ids.iter().map(u64::to_string).collect();
    assert_eq!(quotes, expected);
    wait_metric(bot.addr, "bangban_outbox_depth", 0).await;
    // The same events again, after the crash: already seen, not answered again.
    fake.send(&question(20_001, 900008, 800_700, "老年卡要带什么"))
        .await;
    fake.send(&question(20_100, 900008, 800_799, "社保卡怎么激活"))
        .await;
    assert_eq!(fake.reply().await.quote.as_deref(), Some("20100"));
    assert!(bot.terminate().success(), "SIGTERM ends it cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_platform_it_starts_and_says_how_to_connect_one() {
    let root = tempfile::tempdir().unwrap();
    let config = config_dir(root.path(), "[onebot]\nenabled = false\n");
    let bot = Bot::start(&config, &root.path().join("data"));
    assert!(bot.banner.contains("NapCat"), "{}", bot.banner);
    assert!(bot.banner.contains("enabled = true"), "{}", bot.banner);
    // It names the file it read (--config), and promises nothing that does not follow.
    let file = config.join("bangban.toml");
    assert!(
        bot.banner.contains(&file.display().to_string()),
        "{}",
        bot.banner
    );
    assert!(!bot.banner.contains("下面"), "{}", bot.banner);
    let (status, body) = get(bot.addr, "/healthz").await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = get(bot.addr, "/onebot/v11/ws").await;
    assert_eq!(status, 404, "no OneBot routes when OneBot is off");
    assert!(bot.terminate().success());
}

#[test]
fn check_refuses_a_onebot_url_that_does_not_parse() {
    let root = tempfile::tempdir().unwrap();
    let config = config_dir(
        root.path(),
        "[onebot]\nforward_ws = [\"ws://bad host:3001\"]\nhttp_api = [\"http://127.0.0.1:3000\"]\n",
    );
    let output = Command::new(env!("CARGO_BIN_EXE_bangban"))
        .arg("--config")
        .arg(&config)
        .arg("check")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = format!(
        "{}: onebot.forward_ws[0]: expected a ws:// or wss:// URL with a host",
        config.join("bangban.toml").display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
    assert_eq!(stderr.matches("expected").count(), 1, "{stderr}");
}

#[test]
fn a_secret_with_a_trailing_carriage_return_stops_the_bot_naming_the_variable() {
    // An env file saved on Windows leaves `\r` at the end of the token: every NapCat
    // connection would be refused, so the bot must not start.
    let root = tempfile::tempdir().unwrap();
    let config = config_dir(
        root.path(),
        "[onebot]\nforward_ws = [\"ws://127.0.0.1:9\"]\n",
    );
    let data = root.path().join("data");
    for json in [false, true] {
        let mut command = bangban(&run_args(&config, &data));
        command.env("BANGBAN_ONEBOT_TOKEN", "s3cret-token\r");
        if json {
            command.arg("--log-format").arg("json");
        }
        let (status, stderr) = exits_by_itself(command);
        assert_eq!(status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("BANGBAN_ONEBOT_TOKEN"), "{stderr}");
        assert!(stderr.contains("看不见的字符"), "{stderr}");
        assert!(
            !stderr.contains("s3cret"),
            "the token was printed: {stderr}"
        );
        assert!(
            !stderr.contains("帮办已启动"),
            "it said it started: {stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_in_a_pipe_have_no_colour_codes() {
    let root = tempfile::tempdir().unwrap();
    let config = config_dir(root.path(), NO_PACING);
    let bot = Bot::start(&config, &root.path().join("data"));
    // Something logged while running: a connection and its account.
    let fake = connect(bot.addr).await;
    wait_metric(bot.addr, &connection_up(), 1).await;
    drop(fake);
    let (status, lines) = bot.terminate_with_stderr();
    assert!(status.success());
    assert!(lines.iter().any(|l| l.contains("INFO")), "{lines:#?}");
    for line in &lines {
        assert!(!line.contains('\x1b'), "a colour code in {line:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_json_mode_every_stderr_line_is_json_and_the_hint_is_one_event() {
    let root = tempfile::tempdir().unwrap();
    let config = config_dir(root.path(), NO_PACING);
    let data = root.path().join("data");
    let mut args = run_args(&config, &data);
    args.extend([OsStr::new("--log-format"), OsStr::new("json")]);
    let bot = Bot::spawn(bangban(&args));
    let fake = connect(bot.addr).await;
    wait_metric(bot.addr, &connection_up(), 1).await;
    drop(fake);
    let (status, lines) = bot.terminate_with_stderr();
    assert!(status.success());
    let events: Vec<serde_json::Value> = lines
        .iter()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
        })
        .collect();
    let hints: Vec<&str> = events
        .iter()
        .filter_map(|e| e["fields"]["hint"].as_str())
        .collect();
    assert_eq!(hints.len(), 1, "{lines:#?}");
    assert!(
        hints[0].contains("帮办已启动") && hints[0].contains("/onebot/v11/ws"),
        "{}",
        hints[0]
    );
    assert!(
        events
            .iter()
            .any(|e| e["fields"]["message"] == "OneBot account state"),
        "{lines:#?}"
    );
}
