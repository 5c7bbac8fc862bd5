//! kill -9 under a stream of escalations loses no ticket a resident was told about.
//!
//! The parent test starts a child process (this same test binary, running `crash_child`) that
//! serves a stream of messages from stdin — new questions for agents, replays of earlier ones (as
//! the runtime does after a crash between the engine's flush and its outbox), agents claiming —
//! and prints each message's outgoing actions on stdout as soon as `handle` returns. The parent
//! kills it with SIGKILL at a random point, restarts it on the same data directory, and so on.
//! Whatever was printed counts as told. At the end every ticket number told to a resident must be
//! on disk with its source message and events, every confirmed claim must be in its ticket's
//! trail, and no message may have made two tickets.

mod helpdesk_common;

use bangban::engine::Engine;
use bangban::store::Store;
use bangban::store::tickets::{Change, source_key};
use bangban_contract::{Chat, Incoming, Outgoing, Platform};
use helpdesk_common::{AGENTS_GROUP, BOT, config, monday, said};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

const CHILD_DATA: &str = "BANGBAN_CRASH_CHILD_DATA";
const ROUNDS: usize = 6;
const EVENTS_PER_ROUND: usize = 40;

#[derive(Serialize, Deserialize)]
struct Line {
    id: String,
    out: Vec<Outgoing>,
}

/// The child process: not a test on its own (it returns at once unless the parent started it).
#[test]
fn crash_child() {
    let Ok(data) = std::env::var(CHILD_DATA) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let engine = Engine::new(config(), Store::open(data.as_ref()).unwrap());
        let mut stdout = std::io::stdout().lock();
        for line in std::io::stdin().lock().lines() {
            let event: Incoming = serde_json::from_str(&line.unwrap()).unwrap();
            let out = engine.handle_at(&event, monday(9, 30)).await.unwrap();
            let line = Line {
                id: event.message_id.clone(),
                out,
            };
            // Written straight to the process's stdout (not the test harness's capture), and
            // flushed: once printed, the resident counts as told.
            writeln!(stdout, "{}", serde_json::to_string(&line).unwrap()).unwrap();
            stdout.flush().unwrap();
        }
    });
}

/// xorshift64*: enough randomness for kill points, reproducible from the printed seed.
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

/// The ticket number told to the resident in `out`, if any.
fn told_ticket(out: &[Outgoing]) -> Option<u64> {
    out.iter().find_map(|o| {
        let Outgoing::SendText { chat, text, .. } = o;
        if *chat == Chat::Group(AGENTS_GROUP.into()) {
            return None;
        }
        let rest = &text[text.find("工单号：")? + "工单号：".len()..];
        rest.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .ok()
    })
}

/// The ticket whose claim `out` confirms, if any.
fn confirmed_claim(out: &[Outgoing]) -> Option<u64> {
    out.iter().find_map(|o| {
        let Outgoing::SendText { text, .. } = o;
        let rest = text.strip_prefix("已接单：工单")?;
        rest.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .ok()
    })
}

#[test]
fn every_ticket_a_resident_was_told_about_survives_kill_9() {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("crash test seed {seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();

    // Everything sent so far, by message id, so that some can be delivered again.
    let mut sent: Vec<Incoming> = Vec::new();
    // message id → ticket number told to the resident.
    let mut told: BTreeMap<String, u64> = BTreeMap::new();
    // ticket number → message ids of the claims confirmed to the agent.
    let mut claims: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    let mut kills = 0;

    for round in 0..ROUNDS {
        // This round's stream: mostly new questions, some replays, some claims.
        let mut stream = Vec::new();
        for i in 0..EVENTS_PER_ROUND {
            let roll = rng.below(10);
            let event = if roll < 2 && !sent.is_empty() {
                sent[rng.below(sent.len())].clone()
            } else if roll < 4 && !told.is_empty() {
                let (question, &n) = told.iter().nth(rng.below(told.len())).unwrap();
                let village = sent.iter().find(|e| &e.message_id == question).unwrap();
                let v: usize = village.chat.id()[4..].parse().unwrap();
                said(
                    AGENTS_GROUP,
                    &format!("8000{v:02}"),
                    &format!("c{round}-{i}"),
                    &format!("接单 {n}"),
                )
            } else {
                let v = 1 + rng.below(76);
                said(
                    &format!("9000{v:02}"),
                    &format!("7{:05}", rng.below(100_000)),
                    &format!("q{round}-{i}"),
                    "@村里的路灯坏了找谁",
                )
            };
            stream.push(event);
        }
        sent.extend(stream.iter().cloned());

        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "crash_child",
                "--exact",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD_DATA, dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let input: String = stream
            .iter()
            .map(|e| serde_json::to_string(e).unwrap() + "\n")
            .collect();
        // Fed from a thread, all at once, so that the child is busy when the kill lands.
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(input.as_bytes());
            stdin
        });
        // Kill after a random number of answers (0: while it starts up); the last round runs
        // to the end to check that a restarted bot works on.
        let kill_after = if round + 1 == ROUNDS {
            usize::MAX
        } else {
            rng.below(EVENTS_PER_ROUND)
        };
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut answers = 0;
        let mut line = String::new();
        let mut killed = false;
        loop {
            if answers >= kill_after && !killed {
                child.kill().unwrap(); // SIGKILL
                killed = true;
                kills += 1;
            }
            if !killed && answers == EVENTS_PER_ROUND {
                break;
            }
            line.clear();
            if reader.read_line(&mut line).unwrap() == 0 {
                break;
            }
            // The test harness prints "test crash_child ... " without a newline before the test
            // runs: an answer may follow it on the same line.
            let json = line.find('{').map_or("", |at| &line[at..]);
            let Ok(answer) = serde_json::from_str::<Line>(json) else {
                continue; // the test harness's own lines
            };
            answers += 1;
            if let Some(n) = told_ticket(&answer.out) {
                if let Some(&before) = told.get(&answer.id) {
                    assert_eq!(before, n, "message {} told two numbers", answer.id);
                }
                told.insert(answer.id.clone(), n);
            }
            if let Some(n) = confirmed_claim(&answer.out) {
                claims.entry(n).or_default().insert(answer.id.clone());
            }
        }
        drop(writer.join().unwrap());
        if !killed {
            let _ = child.kill();
        }
        child.wait().unwrap();
    }
    assert!(kills >= ROUNDS - 1);
    assert!(!told.is_empty());

    // After the last restart: everything told is on disk.
    let store = Store::open(dir.path()).unwrap();
    let tickets = store.tickets().unwrap();
    let all = tickets.all().unwrap();
    let ids: Vec<u64> = all.iter().map(|t| t.id).collect();
    assert_eq!(
        ids,
        (1..=all.len() as u64).collect::<Vec<_>>(),
        "numbers without gaps"
    );
    let sources: BTreeSet<&str> = all.iter().map(|t| t.source.as_str()).collect();
    assert_eq!(sources.len(), all.len(), "one ticket per message");
    for (message, &n) in &told {
        let t = tickets
            .get(n)
            .unwrap()
            .unwrap_or_else(|| panic!("ticket {n} told for {message} is lost (seed {seed})"));
        assert_eq!(t.source, source_key(Platform::Onebot, BOT, message));
        assert_eq!(t.events[0].change, Change::Created);
        assert!(t.village.is_some());
    }
    for (n, messages) in &claims {
        let t = tickets.get(*n).unwrap().unwrap();
        for m in messages {
            let source = source_key(Platform::Onebot, BOT, m);
            let e = t.event_from(&source).unwrap_or_else(|| {
                panic!("confirmed claim {m} of ticket {n} is lost (seed {seed})")
            });
            assert_eq!(e.change, Change::Claimed);
        }
    }
    eprintln!(
        "{kills} kills, {} tickets, {} told, {} claims confirmed",
        all.len(),
        told.len(),
        claims.values().map(BTreeSet::len).sum::<usize>()
    );
}
