//! `bangban run` as a child process: killed with SIGKILL with replies queued, it sends them
//! after the restart, once; SIGTERM stops it cleanly; with no platform it still starts and says
//! how to connect one.

mod onebot_common;

use onebot_common::*;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A copy of the shipped config with `bangban.toml` replaced.
fn config_dir(root: &Path, bangban_toml: &str) -> PathBuf {
    let dir = root.join("config");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("bot-config"),
        &dir,
    );
    std::fs::write(dir.join("bangban.toml"), bangban_toml).unwrap();
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
}

impl Bot {
    fn start(config: &Path, data: &Path) -> Bot {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bangban"))
            .args(["run", "--listen", "127.0.0.1:0", "--config"])
            .arg(config)
            .arg("--data")
            .arg(data)
            .env("BANGBAN_ONEBOT_TOKEN", TOKEN)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Read stderr on a thread for the whole run, so the child never blocks on a full pipe.
        let (lines, banner_lines) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
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
                let addr = rest.split_whitespace().next().unwrap();
                break addr.parse().unwrap();
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
        }
    }

    fn kill_9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.child.wait().unwrap()
    }
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
    let (status, body) = get(bot.addr, "/healthz").await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = get(bot.addr, "/onebot/v11/ws").await;
    assert_eq!(status, 404, "no OneBot routes when OneBot is off");
    assert!(bot.terminate().success());
}
