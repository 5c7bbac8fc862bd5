//! Counters and gauges for `/metrics`, in the Prometheus text format.
//!
//! The runtime keeps one [`Metrics`] per running service. What only the engine knows (decisions,
//! tickets) it reports through [`record_decision`] and [`record_ticket`], into a process-wide
//! registry that `/metrics` prints too. What only the store knows (the dedupe store's size) is
//! counted by [`count_seen_every`].

use crate::store::Store;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Every metric, its type and help text, in the order `/metrics` prints them.
const METRICS: &[(&str, &str, &str)] = &[
    (
        "bangban_messages_in_total",
        "counter",
        "Messages received from chats, per platform (duplicates included).",
    ),
    (
        "bangban_messages_duplicate_total",
        "counter",
        "Messages received again (same platform, account and message id) and not handled again.",
    ),
    (
        "bangban_messages_limited_total",
        "counter",
        "Messages dropped before the bot read them, per platform and scope: sender or group (over its rate limit), backlog (the chat's outbox full).",
    ),
    (
        "bangban_notices_summarized_total",
        "counter",
        "Agents' notices not sent one by one but counted in a summary line, per platform.",
    ),
    (
        "bangban_handled_total",
        "counter",
        "Messages handled by the engine, by outcome: replied, silent or error.",
    ),
    (
        "bangban_decisions_total",
        "counter",
        "The engine's decisions: answer, clarify, escalate, ignore, help.",
    ),
    (
        "bangban_tickets_total",
        "counter",
        "Ticket events reported by the help desk, by kind.",
    ),
    (
        "bangban_messages_out_total",
        "counter",
        "Messages the platform confirmed sending, per platform.",
    ),
    (
        "bangban_send_failures_total",
        "counter",
        "Failed sends, per platform and kind (retryable, permanent).",
    ),
    (
        "bangban_outbox_gave_up_total",
        "counter",
        "Messages given up on (kept in the outbox_failed tree), per platform.",
    ),
    (
        "bangban_outbox_depth",
        "gauge",
        "Messages stored and not yet confirmed by the platform.",
    ),
    (
        "bangban_connection_up",
        "gauge",
        "Whether a bot account can send (1) or not (0), per platform and account.",
    ),
    (
        "bangban_seen_entries",
        "gauge",
        "Platform message ids remembered for dedupe (the seen store), counted at start and every 15 s.",
    ),
];

/// How often `bangban_seen_entries` is set from the store's count of ids (kept as ids are added
/// and pruned, not a scan: see [`Store::seen_len`]). Ids are kept three days.
pub(crate) const SEEN_COUNT_EVERY: Duration = Duration::from_secs(15);

type Labels = Vec<(&'static str, String)>;

/// A set of counters and gauges, safe to share between tasks.
#[derive(Default)]
pub struct Metrics {
    values: Mutex<BTreeMap<(&'static str, Labels), i64>>,
}

impl Metrics {
    /// Adds one to counter `name` with `labels`.
    pub fn inc(&self, name: &'static str, labels: &[(&'static str, &str)]) {
        self.add(name, labels, 1);
    }

    /// Adds `delta` to `name` with `labels`.
    pub fn add(&self, name: &'static str, labels: &[(&'static str, &str)], delta: i64) {
        *self.lock().entry(key(name, labels)).or_insert(0) += delta;
    }

    /// Sets gauge `name` with `labels`.
    pub fn set(&self, name: &'static str, labels: &[(&'static str, &str)], value: i64) {
        self.lock().insert(key(name, labels), value);
    }

    /// Sets gauge `name` with `labels` to `value` unless it has a value already: a series that
    /// must be there from the start (an account that never connected shows
    /// `bangban_connection_up 0`, so an alert on `== 0` can fire).
    pub fn init(&self, name: &'static str, labels: &[(&'static str, &str)], value: i64) {
        self.lock().entry(key(name, labels)).or_insert(value);
    }

    /// The current value of `name` with `labels` (0 when never set).
    pub fn get(&self, name: &'static str, labels: &[(&'static str, &str)]) -> i64 {
        self.lock().get(&key(name, labels)).copied().unwrap_or(0)
    }

    /// These metrics and the engine's, in the Prometheus text format (version 0.0.4). Unless
    /// `show_accounts`, bot account ids are masked in the `account` label (see
    /// [`masked_account`]).
    pub fn render(&self, show_accounts: bool) -> String {
        let mut all: BTreeMap<(&'static str, Labels), i64> = BTreeMap::new();
        let mut masks = Masks::default();
        for (k, v) in self.lock().iter().chain(engine().lock().iter()) {
            let (name, labels) = k;
            let labels = if show_accounts {
                labels.clone()
            } else {
                masks.apply(labels)
            };
            *all.entry((name, labels)).or_insert(0) += v;
        }
        let mut out = String::new();
        for (name, kind, help) in METRICS {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            let mut any = false;
            for ((_, labels), value) in all
                .range((*name, Vec::new())..)
                .take_while(|((n, _), _)| n == name)
            {
                any = true;
                out.push_str(name);
                if !labels.is_empty() {
                    out.push('{');
                    for (i, (label, value)) in labels.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        let _ = write!(out, "{label}=\"{}\"", escape(value));
                    }
                    out.push('}');
                }
                let _ = writeln!(out, " {value}");
            }
            if !any && labels_free(name) {
                let _ = writeln!(out, "{name} 0");
            }
        }
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(&'static str, Labels), i64>> {
        self.values.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `123456789` → `12*****89`: enough for an operator to tell their accounts apart, not the
/// number itself. Ids of four characters or fewer are all masked.
pub fn masked_account(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() <= 4 {
        return "*".repeat(chars.len());
    }
    let n = chars.len();
    chars[..2]
        .iter()
        .chain(std::iter::repeat_n(&'*', n - 4))
        .chain(&chars[n - 2..])
        .collect()
}

/// Masked account ids, each id always the same mask; two ids masked alike get `#2`, `#3`… so
/// they stay two series.
#[derive(Default)]
struct Masks {
    given: BTreeMap<String, String>,
}

impl Masks {
    fn apply(&mut self, labels: &Labels) -> Labels {
        labels
            .iter()
            .map(|(label, value)| {
                if *label != "account" {
                    return (*label, value.clone());
                }
                if let Some(m) = self.given.get(value) {
                    return (*label, m.clone());
                }
                let base = masked_account(value);
                let mut mask = base.clone();
                let mut n = 1;
                while self.given.values().any(|m| *m == mask) {
                    n += 1;
                    mask = format!("{base}#{n}");
                }
                self.given.insert(value.clone(), mask.clone());
                (*label, mask)
            })
            .collect()
    }
}

/// Metrics without labels are printed even at zero, so dashboards see them from the start.
fn labels_free(name: &str) -> bool {
    name == "bangban_outbox_depth"
}

fn key(name: &'static str, labels: &[(&'static str, &str)]) -> (&'static str, Labels) {
    debug_assert!(
        METRICS.iter().any(|(n, ..)| *n == name),
        "unknown metric {name}"
    );
    (
        name,
        labels.iter().map(|(l, v)| (*l, (*v).to_owned())).collect(),
    )
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn engine() -> &'static Metrics {
    static ENGINE: OnceLock<Metrics> = OnceLock::new();
    ENGINE.get_or_init(Metrics::default)
}

/// For the engine: one decision taken (`answer`, `clarify`, `escalate`, `ignore`, `help`).
pub fn record_decision(decision: &str) {
    engine().inc("bangban_decisions_total", &[("decision", decision)]);
}

/// For the help desk: one ticket event (`opened`, `claimed`, `resolved`, `rated`, `escalated`…).
pub fn record_ticket(event: &str) {
    engine().inc("bangban_tickets_total", &[("event", event)]);
}

/// Sets `bangban_seen_entries` to the number of ids in the dedupe store.
pub(crate) fn count_seen(metrics: &Metrics, store: &Store) {
    let n = store.seen_len();
    metrics.set(
        "bangban_seen_entries",
        &[],
        i64::try_from(n).unwrap_or(i64::MAX),
    );
}

/// Sets `bangban_seen_entries` at once and then every [`SEEN_COUNT_EVERY`], until the task is
/// aborted.
pub(crate) async fn count_seen_every(metrics: Arc<Metrics>, store: Store) {
    let mut ticks = tokio::time::interval(SEEN_COUNT_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        count_seen(&metrics, &store);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_are_masked_unless_shown_and_stay_distinct() {
        let m = Metrics::default();
        for (account, up) in [("123456789", 1), ("123000089", 0), ("42", 1)] {
            m.set(
                "bangban_connection_up",
                &[("platform", "onebot"), ("account", account)],
                up,
            );
        }
        let hidden = m.render(false);
        for id in ["123456789", "123000089", "\"42\""] {
            assert!(!hidden.contains(id), "{id}: {hidden}");
        }
        let up: Vec<&str> = hidden
            .lines()
            .filter(|l| l.starts_with("bangban_connection_up{"))
            .collect();
        assert_eq!(
            up,
            [
                "bangban_connection_up{platform=\"onebot\",account=\"**\"} 1",
                "bangban_connection_up{platform=\"onebot\",account=\"12*****89\"} 0",
                "bangban_connection_up{platform=\"onebot\",account=\"12*****89#2\"} 1",
            ]
        );
        assert!(m.render(true).contains("account=\"123456789\"} 1"));
    }

    #[tokio::test]
    async fn the_seen_gauge_counts_the_dedupe_store() {
        use bangban_contract::{Chat, Incoming, Platform};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let m = Metrics::default();
        // Absent until counted: a 0 would claim an empty store.
        assert!(!m.render(false).contains("\nbangban_seen_entries "));
        count_seen(&m, &store);
        assert!(m.render(false).contains("\nbangban_seen_entries 0\n"));
        for id in ["1", "2", "3", "2"] {
            let event = Incoming {
                platform: Platform::Onebot,
                account: "1".into(),
                chat: Chat::Group("900001".into()),
                sender: "2".into(),
                sender_name: None,
                message_id: id.into(),
                text: String::new(),
                mentions_bot: true,
                reply_to: None,
            };
            store.accept(&event, &[]).unwrap();
        }
        count_seen(&m, &store);
        assert_eq!(m.get("bangban_seen_entries", &[]), 3);
        assert!(
            m.render(false)
                .contains("# TYPE bangban_seen_entries gauge\nbangban_seen_entries 3\n")
        );
        store
            .prune_seen(std::time::SystemTime::now() + Duration::from_secs(1))
            .unwrap();
        count_seen(&m, &store);
        assert_eq!(m.get("bangban_seen_entries", &[]), 0);
    }

    #[test]
    fn renders_the_prometheus_text_format() {
        let m = Metrics::default();
        m.inc("bangban_messages_in_total", &[("platform", "onebot")]);
        m.inc("bangban_messages_in_total", &[("platform", "onebot")]);
        m.set(
            "bangban_connection_up",
            &[("platform", "onebot"), ("account", "12\"3")],
            1,
        );
        let text = m.render(true);
        assert!(text.contains(
            "# HELP bangban_messages_in_total Messages received from chats, per platform (duplicates included).\n\
             # TYPE bangban_messages_in_total counter\n\
             bangban_messages_in_total{platform=\"onebot\"} 2\n"
        ), "{text}");
        assert!(
            text.contains("bangban_connection_up{platform=\"onebot\",account=\"12\\\"3\"} 1\n")
        );
        assert!(text.contains("\nbangban_outbox_depth 0\n"));
        assert_eq!(
            m.get("bangban_messages_in_total", &[("platform", "onebot")]),
            2
        );
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (series, value) = line.rsplit_once(' ').unwrap();
            assert!(series.starts_with("bangban_"), "{line}");
            value.parse::<i64>().unwrap();
        }
    }
}
