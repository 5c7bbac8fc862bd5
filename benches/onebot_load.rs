//! Load benchmark: `bangban run` (release build, child process) against a fake NapCat holding
//! one QQ account in the 76 village groups over reverse WebSocket, pacing off.
//!
//! Sends resident questions (@-mentioning the bot) at a fixed rate spread over groups
//! 900001–900076 and answers every `send_group_msg` at once, as NapCat does. Reports the replies
//! per second sustained, the latency from writing an event frame to reading the
//! `send_group_msg` frame that quotes it (p50/p90/p99/max), what was lost, and the bot's peak
//! resident memory (VmHWM), and the CPU time the bot and the generator spent per question in
//! the measured window (steadier than the tail on a shared machine).
//!
//! ```text
//! CARGO_TARGET_DIR=/work/target-h4 cargo bench --bench onebot_load
//! BANGBAN_LOAD_RATE=4000 BANGBAN_LOAD_SECS=20 cargo bench --bench onebot_load
//! ```
//! Environment: `BANGBAN_LOAD_RATE` (questions/s, default 2000), `BANGBAN_LOAD_SECS` (measured
//! seconds, default 15, after 3 s of warm-up), `BANGBAN_LOAD_RESIDENTS` (distinct askers the
//! questions rotate over, default 5000: nearly every event a new (group, user) pair; 700 for
//! the mix where residents ask again), `BANGBAN_LOAD_DATA` (parent of the data
//! directory; default the system temp dir), `BANGBAN_LOAD_SHOW_LOGS` (print the bot's
//! stderr), `BANGBAN_LOAD_TIMELINE` (also print the latency of each measured second, to see
//! whether a tail is spread out or comes in bursts). The generator runs on one thread of the same
//! machine, so it shares the cores with the bot.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const TOKEN: &str = "load-test-token";
const BOT: u64 = 123_456_789;
const GROUPS: u64 = 76;
const WARM_UP: Duration = Duration::from_secs(3);
const QUESTIONS: &[&str] = &[
    "老年卡要带什么",
    "社保卡怎么激活",
    "养老认证手机上能做吗",
    "低保怎么申请",
    "残疾证在哪办",
    "医保异地就医怎么备案",
    "新生儿落户要什么材料",
    "社保卡丢了怎么办",
];

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing to run.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rate: u64 = env_or("BANGBAN_LOAD_RATE", 2000);
    let secs: u64 = env_or("BANGBAN_LOAD_SECS", 15);
    let residents: u64 = env_or("BANGBAN_LOAD_RESIDENTS", 5000).max(1);
    let parent = std::env::var_os("BANGBAN_LOAD_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let root = tempfile::tempdir_in(parent).unwrap();
    let config = config_dir(root.path());
    let (mut child, addr) = start_bot(&config, &root.path().join("data"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = runtime.block_on(drive(
        addr,
        child.id(),
        rate,
        residents,
        Duration::from_secs(secs),
    ));
    let (peak_kib, now_kib) = memory(child.id());
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();

    let lat = &report.latencies;
    println!("onebot_load: 76 groups over reverse WebSocket, pacing off, one QQ account");
    println!(
        "  offered      {rate} questions/s for {secs} s (after {} s warm-up) from {residents} residents",
        WARM_UP.as_secs()
    );
    println!(
        "  sent {}  answered {}  unanswered {}  duplicate replies {}",
        report.sent, report.answered, report.unanswered, report.duplicates
    );
    println!(
        "  sustained    {:.0} replies/s in the measured window; the last reply {:.0} ms after the last question",
        report.window_replies as f64 / secs as f64,
        report.drain.as_secs_f64() * 1000.0
    );
    println!(
        "  latency      p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms  (event frame → send_group_msg frame)",
        pct(lat, 50.0),
        pct(lat, 90.0),
        pct(lat, 99.0),
        pct(lat, 100.0)
    );
    let per_message = |seconds: f64| seconds * 1e6 / report.window_sent.max(1) as f64;
    println!(
        "  CPU          bot {:.2} s ({:.0} µs per question), generator {:.2} s ({:.0} µs), in the measured window",
        report.bot_cpu,
        per_message(report.bot_cpu),
        report.generator_cpu,
        per_message(report.generator_cpu)
    );
    println!(
        "  bot memory   peak RSS {:.1} MiB, at the end {:.1} MiB",
        peak_kib as f64 / 1024.0,
        now_kib as f64 / 1024.0
    );
    let threads: Vec<String> = report
        .threads_cpu
        .iter()
        .filter(|(_, seconds)| **seconds >= 0.01)
        .map(|(name, seconds)| format!("{name} {:.0} µs", per_message(*seconds)))
        .collect();
    println!("  bot threads  {} (per question)", threads.join(", "));
    if std::env::var_os("BANGBAN_LOAD_TIMELINE").is_some() {
        print_timeline(&report.timeline, secs as usize);
    }
}

/// p50, p99 and max of the questions sent in each second of the measured window.
fn print_timeline(timeline: &[(usize, f64)], secs: usize) {
    let mut by_second = vec![Vec::new(); secs];
    for &(second, ms) in timeline {
        if let Some(s) = by_second.get_mut(second) {
            s.push(ms);
        }
    }
    for (second, mut ms) in by_second.into_iter().enumerate() {
        ms.sort_by(f64::total_cmp);
        println!(
            "  second {second:>3}  {:>5} answered  p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            ms.len(),
            pct(&ms, 50.0),
            pct(&ms, 99.0),
            pct(&ms, 100.0)
        );
    }
}

struct Report {
    sent: u64,
    answered: u64,
    unanswered: u64,
    duplicates: u64,
    window_replies: u64,
    /// From the last question sent to the last reply read.
    drain: Duration,
    /// Milliseconds, sorted, for questions sent in the measured window.
    latencies: Vec<f64>,
    /// The same, unsorted, with the second of the window each question was sent in.
    timeline: Vec<(usize, f64)>,
    /// Questions sent in the measured window.
    window_sent: u64,
    /// CPU seconds the bot (all its threads) and this process spent in the measured window.
    bot_cpu: f64,
    generator_cpu: f64,
    /// The bot's CPU seconds in the window by kind of thread.
    threads_cpu: BTreeMap<String, f64>,
}

async fn drive(
    addr: SocketAddr,
    bot: u32,
    rate: u64,
    residents: u64,
    measured: Duration,
) -> Report {
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

    // Sent time per message id, and whether it was answered.
    let mut sent_at: HashMap<u64, (Instant, bool)> = HashMap::new();
    let mut latencies = Vec::new();
    let mut timeline = Vec::new();
    let (mut sent, mut answered, mut duplicates, mut window_replies) = (0u64, 0u64, 0u64, 0u64);
    let start = Instant::now();
    let window = (start + WARM_UP, start + WARM_UP + measured);
    let stop_sending = window.1;
    let give_up = stop_sending + Duration::from_secs(10);
    let mut ticks = tokio::time::interval(Duration::from_millis(1));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut next_id: u64 = 1_000_000;
    let mut reply_id: u64 = 1_900_000_000;
    let (mut last_sent, mut last_reply) = (start, start);
    // CPU seconds (bot, generator) when the window opened and when it closed.
    let mut cpu_at: [Option<CpuSample>; 2] = [None, None];
    let mut window_sent = 0u64;
    let cpu_now = || {
        let stat = |path: String| std::fs::read_to_string(path).unwrap_or_default();
        let bot_threads = threads_cpu(bot);
        (
            cpu_seconds(&stat(format!("/proc/{bot}/stat"))),
            cpu_seconds(&stat("/proc/self/stat".into())),
            bot_threads,
        )
    };

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
                let quote = request["params"]["message"][0]["data"]["id"]
                    .as_str()
                    .and_then(|id| id.parse::<u64>().ok());
                if let Some((at, seen)) = quote.and_then(|id| sent_at.get_mut(&id)) {
                    if *seen {
                        duplicates += 1;
                    } else {
                        *seen = true;
                        answered += 1;
                        last_reply = now;
                        if *at >= window.0 && *at < window.1 {
                            let ms = (now - *at).as_secs_f64() * 1000.0;
                            latencies.push(ms);
                            timeline.push(((*at - window.0).as_secs() as usize, ms));
                        }
                        if now >= window.0 && now < window.1 {
                            window_replies += 1;
                        }
                    }
                }
                reply_id += 1;
                let ok = json!({"status": "ok", "retcode": 0,
                    "data": {"message_id": reply_id}, "echo": request["echo"]});
                sink.send(Message::text(ok.to_string())).await.unwrap();
            }
            now = ticks.tick() => {
                if now >= window.0 && cpu_at[0].is_none() {
                    cpu_at[0] = Some(cpu_now());
                }
                if now >= stop_sending {
                    cpu_at[1].get_or_insert_with(cpu_now);
                }
                if now >= give_up || (now >= stop_sending && answered == sent) {
                    break;
                }
                if now >= stop_sending {
                    continue;
                }
                // Questions due by now at `rate`.
                let due = ((now - start).as_secs_f64() * rate as f64) as u64;
                while sent < due {
                    next_id += 1;
                    let group = 900_001 + sent % GROUPS;
                    let user = 700_000 + sent % residents;
                    let text = QUESTIONS[(sent / GROUPS) as usize % QUESTIONS.len()];
                    let event = json!({"time": 1718000001, "self_id": BOT,
                        "post_type": "message", "message_type": "group", "sub_type": "normal",
                        "message_id": next_id, "user_id": user, "group_id": group,
                        "message": [{"type": "at", "data": {"qq": BOT.to_string()}},
                                    {"type": "text", "data": {"text": format!(" {text}")}}],
                        "raw_message": format!("[CQ:at,qq={BOT}] {text}"), "font": 0,
                        "sender": {"user_id": user, "nickname": "村民", "card": "", "role": "member"}});
                    sink.feed(Message::text(event.to_string())).await.unwrap();
                    last_sent = Instant::now();
                    sent_at.insert(next_id, (last_sent, false));
                    sent += 1;
                    if last_sent >= window.0 {
                        window_sent += 1;
                    }
                }
                sink.flush().await.unwrap();
            }
        }
    }
    latencies.sort_by(f64::total_cmp);
    let [Some(open), Some(close)] = cpu_at else {
        panic!("the run ended before its measured window closed");
    };
    Report {
        sent,
        answered,
        unanswered: sent - answered,
        duplicates,
        window_replies,
        drain: last_reply.saturating_duration_since(last_sent),
        latencies,
        timeline,
        window_sent,
        bot_cpu: close.0 - open.0,
        generator_cpu: close.1 - open.1,
        threads_cpu: close
            .2
            .into_iter()
            .map(|(name, seconds)| {
                let before = open.2.get(&name).copied().unwrap_or(0.0);
                (name, seconds - before)
            })
            .collect(),
    }
}

/// CPU seconds so far: the bot's, the generator's, and the bot's by kind of thread.
type CpuSample = (f64, f64, BTreeMap<String, f64>);

/// CPU seconds of each kind of the bot's threads (names without their numbers: all `sled-io-N`
/// as `sled-io`). A thread that ended is no longer counted.
fn threads_cpu(pid: u32) -> BTreeMap<String, f64> {
    let mut by_name = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return by_name;
    };
    for task in tasks.flatten() {
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        let name = stat
            .split_once('(')
            .and_then(|(_, rest)| rest.rsplit_once(')'))
            .map(|(name, _)| name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-'))
            .unwrap_or("?")
            .to_owned();
        *by_name.entry(name).or_insert(0.0) += cpu_seconds(&stat);
    }
    by_name
}

/// User and system CPU seconds in a `/proc/…/stat` line: a process's (all its threads) or a
/// thread's.
fn cpu_seconds(stat: &str) -> f64 {
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<f64>().ok())
        .sum();
    // SAFETY: sysconf only reads a constant of the system.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i]
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

/// The shipped config with pacing off.
fn config_dir(root: &Path) -> PathBuf {
    let dir = root.join("config");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("bot-config"),
        &dir,
    );
    std::fs::write(
        dir.join("bangban.toml"),
        "[pacing]\nenabled = false\n\n[limits]\nenabled = false\n",
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
    // Keep draining stderr so the bot never blocks on a full pipe; show it on request.
    let show = std::env::var_os("BANGBAN_LOAD_SHOW_LOGS").is_some();
    std::thread::spawn(move || {
        for line in lines.by_ref().map_while(Result::ok) {
            if show {
                eprintln!("bot: {line}");
            }
        }
    });
    (child, addr)
}
