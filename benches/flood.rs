//! Flood scenario (issue 10, item 2): `bangban run` (release build, child process) with the
//! shipped configuration — pacing and input limits on — against a fake NapCat over reverse
//! WebSocket that answers every send at once.
//!
//! For `BANGBAN_FLOOD_SECS` (default 10) it sends `BANGBAN_FLOOD_RATE` (default 10,000)
//! addressed questions a second into groups 900001 and 900002, from 5,000 residents, half of
//! them escalations ("村里的路灯坏了找谁"). Halfway through, a resident of another group
//! (900003) asks a question and one of a fourth village (900004) reports a real case. Reports:
//! how long that question waited for its answer, how long the real ticket waited for its
//! agents' notice (in agents' chat 900100), the bot's peak and sampled resident memory, the
//! outbox depth and the data directory's size after the flood, and the limits' counters.
//!
//! ```text
//! cargo bench --bench flood
//! BANGBAN_FLOOD_RATE=10000 BANGBAN_FLOOD_SECS=10 cargo bench --bench flood
//! ```

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const TOKEN: &str = "flood-test-token";
const BOT: u64 = 123_456_789;
const AGENTS: &str = "900100";
/// How long after the flood the probes may still wait.
const AFTER: Duration = Duration::from_secs(60);

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rate = env_or("BANGBAN_FLOOD_RATE", 10_000);
    let secs = env_or("BANGBAN_FLOOD_SECS", 10);
    let root = tempfile::tempdir().unwrap();
    let config = config_dir(root.path());
    let data = root.path().join("data");
    let (mut child, addr) = start_bot(&config, &data);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pid = child.id();
    let report = runtime.block_on(drive(addr, pid, rate, Duration::from_secs(secs)));
    let metrics = runtime.block_on(async {
        reqwest::get(format!("http://{addr}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    let (peak_kib, _) = memory(pid);
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = child.wait();
    let data_kib = du_kib(&data);

    let ms = |d: Option<Duration>| match d {
        Some(d) => format!("{:.0} ms", d.as_secs_f64() * 1000.0),
        None => format!("none within {} s", AFTER.as_secs()),
    };
    println!("flood: shipped limits and pacing, one QQ account, reverse WebSocket");
    println!(
        "  offered        {} questions in {secs} s into 2 groups ({rate}/s), half escalations",
        report.sent
    );
    println!(
        "  another group  answered after {}",
        ms(report.other_answered)
    );
    println!(
        "  real ticket    agents told after {}",
        ms(report.real_notice)
    );
    println!(
        "  agents' chat   {} lines during the run; sends to the flood groups {}",
        report.agents_lines, report.flood_sends
    );
    println!(
        "  bot memory     peak RSS {:.1} MiB (VmHWM), highest sample {:.1} MiB",
        peak_kib as f64 / 1024.0,
        report.rss_max_kib as f64 / 1024.0
    );
    println!("  data dir       {:.1} MiB", data_kib as f64 / 1024.0);
    for line in metrics.lines().filter(|l| {
        l.starts_with("bangban_outbox_depth")
            || l.starts_with("bangban_messages_limited_total")
            || l.starts_with("bangban_notices_summarized_total")
            || l.starts_with("bangban_messages_in_total")
    }) {
        println!("  {line}");
    }
}

struct Report {
    sent: u64,
    other_answered: Option<Duration>,
    real_notice: Option<Duration>,
    agents_lines: u64,
    flood_sends: u64,
    rss_max_kib: u64,
}

fn question(id: u64, group: u64, user: u64, text: &str) -> String {
    json!({"time": 1718000001, "self_id": BOT,
        "post_type": "message", "message_type": "group", "sub_type": "normal",
        "message_id": id, "user_id": user, "group_id": group,
        "message": [{"type": "at", "data": {"qq": BOT.to_string()}},
                    {"type": "text", "data": {"text": format!(" {text}")}}],
        "raw_message": format!("[CQ:at,qq={BOT}] {text}"), "font": 0,
        "sender": {"user_id": user, "nickname": "村民", "card": "", "role": "member"}})
    .to_string()
}

fn text_of(params: &Value) -> String {
    params["message"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["type"] == "text")
        .filter_map(|s| s["data"]["text"].as_str())
        .collect()
}

async fn drive(addr: SocketAddr, pid: u32, rate: u64, flood: Duration) -> Report {
    let mut request = format!("ws://{addr}/onebot/v11/ws")
        .into_client_request()
        .unwrap();
    let headers = request.headers_mut();
    headers.insert("X-Self-ID", BOT.to_string().parse().unwrap());
    headers.insert("X-Client-Role", "Universal".parse().unwrap());
    headers.insert("Authorization", format!("Bearer {TOKEN}").parse().unwrap());
    let (socket, _) = tokio_tungstenite::connect_async_with_config(request, None, true)
        .await
        .unwrap();
    let (mut sink, mut stream) = socket.split();
    let lifecycle = json!({"time": 0, "self_id": BOT, "post_type": "meta_event",
        "meta_event_type": "lifecycle", "sub_type": "connect"});
    sink.send(Message::text(lifecycle.to_string()))
        .await
        .unwrap();

    const OTHER_ID: u64 = 42;
    const REAL_ID: u64 = 43;
    let start = Instant::now();
    let probe_at = start + flood / 2;
    let stop_sending = start + flood;
    let give_up = stop_sending + AFTER;
    let mut probed: Option<Instant> = None;
    let mut report = Report {
        sent: 0,
        other_answered: None,
        real_notice: None,
        agents_lines: 0,
        flood_sends: 0,
        rss_max_kib: 0,
    };
    let mut ticks = tokio::time::interval(Duration::from_millis(1));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut samples = tokio::time::interval(Duration::from_millis(250));
    let mut next_id: u64 = 1_000_000;
    let mut reply_id: u64 = 1_900_000_000;
    loop {
        tokio::select! {
            biased;
            frame = stream.next() => {
                let Some(Ok(Message::Text(text))) = frame else {
                    match frame {
                        Some(Ok(_)) => continue,
                        _ => panic!("the bot closed the connection"),
                    }
                };
                let now = Instant::now();
                let request: Value = serde_json::from_str(&text).unwrap();
                if request["action"] != "send_group_msg" {
                    continue;
                }
                let params = &request["params"];
                let group = params["group_id"].to_string();
                let quote = params["message"][0]["data"]["id"].as_str().unwrap_or("");
                if let Some(at) = probed {
                    if group == "900003" && quote == OTHER_ID.to_string() {
                        report.other_answered.get_or_insert(now - at);
                    }
                    if group == AGENTS && text_of(params).contains("QQ群900004") {
                        report.real_notice.get_or_insert(now - at);
                    }
                }
                if group == AGENTS {
                    report.agents_lines += 1;
                } else if group == "900001" || group == "900002" {
                    report.flood_sends += 1;
                }
                reply_id += 1;
                let ok = json!({"status": "ok", "retcode": 0,
                    "data": {"message_id": reply_id}, "echo": request["echo"]});
                sink.send(Message::text(ok.to_string())).await.unwrap();
            }
            _ = samples.tick() => {
                report.rss_max_kib = report.rss_max_kib.max(memory(pid).1);
            }
            now = ticks.tick() => {
                let done = report.other_answered.is_some() && report.real_notice.is_some();
                if now >= give_up || (now >= stop_sending && done) {
                    break;
                }
                if probed.is_none() && now >= probe_at {
                    sink.feed(Message::text(question(OTHER_ID, 900_003, 720_000, "老年卡要带什么"))).await.unwrap();
                    sink.feed(Message::text(question(REAL_ID, 900_004, 720_001, "村里的路灯坏了找谁"))).await.unwrap();
                    sink.flush().await.unwrap();
                    probed = Some(Instant::now());
                }
                if now >= stop_sending {
                    continue;
                }
                let due = ((now - start).as_secs_f64() * rate as f64) as u64;
                while report.sent < due {
                    next_id += 1;
                    let n = report.sent;
                    let group = 900_001 + n % 2;
                    let user = 700_000 + (n / 2) % 5000;
                    let text = if n % 4 < 2 { "老年卡要带什么" } else { "村里的路灯坏了找谁" };
                    sink.feed(Message::text(question(next_id, group, user, text))).await.unwrap();
                    report.sent += 1;
                }
                sink.flush().await.unwrap();
            }
        }
    }
    report
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// VmHWM (peak) and VmRSS of `pid`, in KiB.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn du_kib(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let meta = entry.metadata().unwrap();
        total += if meta.is_dir() {
            du_kib(&entry.path())
        } else {
            meta.len() / 1024
        };
    }
    total
}

/// The shipped configuration, as it is.
fn config_dir(root: &Path) -> PathBuf {
    let dir = root.join("config");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("bot-config"),
        &dir,
    );
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

fn start_bot(config: &Path, data: &Path) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bangban"))
        .args(["run", "--listen", "127.0.0.1:0", "--config"])
        .arg(config)
        .arg("--data")
        .arg(data)
        .env("BANGBAN_ONEBOT_TOKEN", TOKEN)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the bangban binary");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("the bot printed where it listens")
            .unwrap();
        if let Some(rest) = line.split("http://").nth(1) {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    let show = std::env::var_os("BANGBAN_FLOOD_SHOW_LOGS").is_some();
    std::thread::spawn(move || {
        for line in lines.by_ref().map_while(Result::ok) {
            if show {
                eprintln!("bot: {line}");
            }
        }
    });
    (child, addr)
}
