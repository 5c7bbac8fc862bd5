//! Statistics counters survive kill -9 and agree with a recount from the tickets.
//!
//! The real `bangban run` binary serves a fake OneBot implementation over reverse WebSocket.
//! Each round, residents of random villages ask about their own case (a ticket each), agents
//! claim and resolve the tickets of earlier rounds in the agents' group, residents rate the
//! resolved ones (a bad rating opens a follow-up ticket), and some messages come again; the bot
//! is killed with SIGKILL at a random point while it works through them. While it is down the
//! test opens the data directory: the stored counters must equal a recount from the tickets and
//! the recorded questions. At the end the running bot's `/api/v1/stats` must show exactly what
//! the tickets and the ledger say.

mod onebot_common;

use bangban::config::Config;
use bangban::helpdesk::ledger;
use bangban::stats::{self, Filter, Period, Scope};
use bangban::store::Store;
use bangban::store::tickets::{Reason, Stage, Ticket};
use onebot_common::{TOKEN, connect, connect_events_only, within};
use serde_json::{Value, json};
use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const ROUNDS: usize = 6;
const NEW_PER_ROUND: usize = 10;
const OWN_CASE: &str = "我家的低保怎么停了，帮我查一下";
const DISTRICT_AGENT: u64 = 800_201;
const AGENTS_GROUP: u64 = 900_100;

/// A copy of the shipped config with pacing off.
fn config_dir(root: &Path) -> PathBuf {
    let dir = root.join("config");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("bot-config"),
        &dir,
    );
    std::fs::write(dir.join("bangban.toml"), "[pacing]\nenabled = false\n").unwrap();
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

/// `bangban run` as a child process.
struct Bot {
    child: Child,
    addr: SocketAddr,
}

impl Bot {
    fn start(config: &Path, data: &Path) -> Bot {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bangban"))
            .args([
                OsStr::new("run"),
                OsStr::new("--listen"),
                OsStr::new("127.0.0.1:0"),
                OsStr::new("--config"),
                config.as_os_str(),
                OsStr::new("--data"),
                data.as_os_str(),
            ])
            .env("BANGBAN_ONEBOT_TOKEN", TOKEN)
            .env("RUST_LOG", "info")
            .env_remove("BANGBAN_ADMIN_TOKEN")
            .env_remove("BANGBAN_LOG_FORMAT")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Read stderr for the whole run, so the child never blocks on a full pipe.
        let (lines, banner) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let _ = lines.send(line);
            }
        });
        let addr = loop {
            let line = banner
                .recv_timeout(Duration::from_secs(30))
                .expect("the bot printed where it listens");
            if let Some(rest) = line.split("http://").nth(1) {
                let addr = rest.split(|c: char| c.is_whitespace() || c == '"').next();
                break addr.unwrap().parse().unwrap();
            }
        };
        Bot { child, addr }
    }

    fn kill_9(mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }
}

/// xorshift64*: reproducible from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A group message as NapCat sends it; `addressed`: @-mentioning the bot.
fn message(message_id: u64, group: u64, user: u64, text: &str, addressed: bool) -> Value {
    let mut event = onebot_common::question(message_id, group, user, text);
    if !addressed {
        event["message"] = json!([{"type": "text", "data": {"text": text}}]);
        event["raw_message"] = json!(text);
    }
    event
}

/// Confirms every message the bot sends, as NapCat does, until aborted.
fn confirm_sends(mut fake: onebot_common::Fake) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            fake.reply().await;
        }
    })
}

fn shipped_config() -> Config {
    Config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("bot-config")).unwrap()
}

/// The local days from yesterday to tomorrow (a test running at midnight keeps its figures).
fn period(config: &Config) -> (String, String) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let today = config.org.hours.local(now).0;
    (stats::date(today - 1), stats::date(today + 1))
}

/// The running bot's figures for the whole district, read with the bot's local token.
async fn api_stats(bot: &Bot, data: &Path, from: &str, to: &str) -> Value {
    let token = std::fs::read_to_string(data.join("ledger-token")).unwrap();
    let res = reqwest::Client::new()
        .get(format!(
            "http://{}/api/v1/stats?scope=all&from={from}&to={to}",
            bot.addr
        ))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    res.json().await.unwrap()
}

/// The running bot's comparison of its counters with a recount.
async fn api_recount(bot: &Bot, data: &Path) -> Value {
    let token = std::fs::read_to_string(data.join("ledger-token")).unwrap();
    let res = reqwest::Client::new()
        .get(format!("http://{}/api/v1/stats/recount", bot.addr))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    res.json().await.unwrap()
}

/// Waits until the running bot counts at least `asked` questions.
async fn wait_asked(bot: &Bot, data: &Path, from: &str, to: &str, asked: i64) -> Value {
    within(async {
        loop {
            let r = api_stats(bot, data, from, to).await;
            if r["questions"]["asked"].as_i64().unwrap() >= asked {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

/// With the bot down: the counters agree with a recount, or are marked so that the next start
/// rebuilds them (questions' counts wait in memory for a second before they are added, so a
/// kill can leave the counters behind the recorded questions), and agree after that start's
/// rebuild; the tickets.
fn check_recount(data: &Path, seed: u64, when: &str) -> Vec<Ticket> {
    let store = Store::open(data).unwrap();
    let stats = store.stats().unwrap();
    let behind = !stats.recount().unwrap().mismatches.is_empty();
    let rebuilt = stats
        .ensure_offset(bangban::store::stats::DEFAULT_OFFSET)
        .unwrap();
    assert!(
        rebuilt || !behind,
        "{when}: counters wrong and not marked (seed {seed})"
    );
    let recount = stats.recount().unwrap();
    assert!(
        recount.mismatches.is_empty(),
        "{when}: counters differ from a recount (seed {seed}): {:#?}",
        recount.mismatches
    );
    store.tickets().unwrap().all().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_survive_kill_9_and_agree_with_a_recount() {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("stats crash test seed {seed}");
    let mut rng = Rng(seed);
    let root = tempfile::tempdir().unwrap();
    let config_path = config_dir(root.path());
    let data = root.path().join("data");
    let config = shipped_config();
    let (from, to) = period(&config);

    let mut next_id = 30_000u64;
    let mut sent: Vec<Value> = Vec::new();
    let mut tickets: Vec<Ticket> = Vec::new();
    for round in 0..=ROUNDS {
        let last = round == ROUNDS;
        let bot = Bot::start(&config_path, &data);
        let sends = confirm_sends(connect(bot.addr).await);
        let mut events = connect_events_only(bot.addr).await;
        let before = api_stats(&bot, &data, &from, &to).await;
        let asked_before = before["questions"]["asked"].as_i64().unwrap();

        // This round's messages: the agents and residents act on the tickets as they stand,
        // some earlier messages come again, and new residents ask.
        let mut stream = Vec::new();
        for t in &tickets {
            let group: u64 = t.chat.id().parse().unwrap();
            let village: u64 = t.village.as_deref().unwrap()[1..].parse().unwrap();
            // A follow-up of a bad rating is the township's or the district's to act on.
            let agent = if t.reason == Reason::FollowUp {
                DISTRICT_AGENT
            } else {
                800_000 + village
            };
            next_id += 1;
            match t.stage {
                Stage::Pending | Stage::Escalated => stream.push(message(
                    next_id,
                    AGENTS_GROUP,
                    agent,
                    &format!("接单 {}", t.id),
                    false,
                )),
                // Claimed by the same agent, in an earlier round.
                Stage::Claimed => stream.push(message(
                    next_id,
                    AGENTS_GROUP,
                    agent,
                    &format!("办结 {}", t.id),
                    false,
                )),
                Stage::Resolved if t.reason != Reason::FollowUp => {
                    let rating = 1 + rng.below(5);
                    stream.push(message(
                        next_id,
                        group,
                        t.resident.parse().unwrap(),
                        &rating.to_string(),
                        false,
                    ))
                }
                _ => {}
            }
        }
        for _ in 0..3.min(sent.len()) {
            stream.push(sent[rng.below(sent.len())].clone());
        }
        // Shuffled, then the new questions spread among them.
        for i in (1..stream.len()).rev() {
            stream.swap(i, rng.below(i + 1));
        }
        let mut new = Vec::new();
        for _ in 0..NEW_PER_ROUND {
            next_id += 1;
            let village = 1 + rng.below(76) as u64;
            let q = message(
                next_id,
                900_000 + village,
                700_000 + next_id,
                OWN_CASE,
                true,
            );
            let at = rng.below(stream.len() + 1);
            stream.insert(at, q.clone());
            new.push(q);
        }
        // The last round ends with the new questions, so that once they are counted everything
        // before them was handled too.
        if last {
            stream.retain(|e| !new.contains(e));
            stream.extend(new.iter().cloned());
        }
        sent.extend(stream.iter().cloned());
        for e in &stream {
            events.send(e).await;
        }
        // Compared by the running bot while it works through them: a settled comparison (one
        // that nothing counted changed during) finds nothing wrong.
        let online = api_recount(&bot, &data).await;
        if online["settled"] == true {
            assert_eq!(online["mismatches"], json!([]), "seed {seed}: {online}");
        }
        let target = if last {
            NEW_PER_ROUND
        } else {
            rng.below(NEW_PER_ROUND + 1)
        };
        // Killed once `target` of the new questions are counted, with the rest in flight.
        let shown = wait_asked(&bot, &data, &from, &to, asked_before + target as i64).await;
        if last {
            assert!(
                shown["questions"]["asked"].as_i64().unwrap()
                    >= asked_before + NEW_PER_ROUND as i64
            );
        }
        sends.abort();
        bot.kill_9();
        drop(events);
        tickets = check_recount(&data, seed, &format!("after kill {}", round + 1));
    }

    // The bot starts again: its figures are the tickets' and the ledger's.
    let store = Store::open(&data).unwrap();
    let all = store.tickets().unwrap().all().unwrap();
    let ledger_rows = ledger::load(
        &config,
        &store,
        ledger::Period::parse(Some(&from), Some(&to)).unwrap(),
    )
    .unwrap();
    let local = stats::report(
        &store,
        &config.org,
        &config.catalog,
        &Filter {
            period: Period::parse(Some(&from), Some(&to), 0).unwrap(),
            scope: Scope::District,
            item: None,
            sandbox: false,
        },
    )
    .unwrap();
    drop(store);
    let bot = Bot::start(&config_path, &data);
    let api = api_stats(&bot, &data, &from, &to).await;
    let online = api_recount(&bot, &data).await;
    bot.kill_9();
    assert_eq!(online["settled"], true, "{online}");
    assert_eq!(online["mismatches"], json!([]), "{online}");
    assert_eq!(online["tickets"], all.len());

    let count = |f: &dyn Fn(&Ticket) -> bool| all.iter().filter(|t| f(t)).count() as i64;
    assert_eq!(api["tickets"]["opened"], all.len() as i64, "seed {seed}");
    assert_eq!(api["tickets"]["opened"], ledger_rows.len() as i64);
    assert_eq!(
        api["tickets"]["resolved"],
        count(&|t| t.resolved_at.is_some())
    );
    assert_eq!(
        api["ratings"]["follow_ups"],
        count(&|t| t.reason == Reason::FollowUp)
    );
    assert_eq!(
        api["tickets"]["by_reason"][1]["count"],
        count(&|t| t.reason == Reason::Case),
        "{api}"
    );
    for (i, rating) in bangban::store::tickets::Rating::ALL.iter().enumerate() {
        let n = count(&|t| t.rating == Some(*rating));
        assert_eq!(api["ratings"]["levels"][i]["count"], n, "{rating:?}");
        let in_ledger = ledger_rows
            .iter()
            .filter(|r| r.rating == rating.label())
            .count();
        assert_eq!(n, in_ledger as i64, "the ledger's {rating:?}");
    }
    // Every figure equals the report read straight from the data directory.
    assert_eq!(api, serde_json::to_value(&local).unwrap());
    // The rounds did what they should: tickets claimed, resolved and rated, follow-ups opened.
    let rated = count(&|t| t.rating.is_some());
    eprintln!(
        "{} tickets, {} resolved, {rated} rated, {} follow-ups",
        all.len(),
        count(&|t| t.resolved_at.is_some()),
        count(&|t| t.reason == Reason::FollowUp)
    );
    assert!(all.len() >= NEW_PER_ROUND, "seed {seed}");
    assert!(count(&|t| t.resolved_at.is_some()) > 0, "seed {seed}");
}
