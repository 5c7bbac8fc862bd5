//! `bangban ask`: one question, or a batch of JSON lines (the contract in DESIGN.md).

use crate::config::Config;
use crate::reply;
use crate::understand::{Matcher, Understanding};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};

#[derive(clap::Args)]
pub struct Args {
    /// The question; omit it with --batch.
    text: Option<String>,
    /// Print JSON: {"decision","item","aspect","candidates","reply"}.
    #[arg(long)]
    json: bool,
    /// Read JSON lines {"text": "...", "addressed": true|false} from stdin, answer one line each.
    #[arg(long)]
    batch: bool,
    /// Treat the question as a plain group message (not @-mentioning the bot).
    #[arg(long)]
    open: bool,
    /// Also print how the question was understood (normalised text, signals, item scores).
    #[arg(long)]
    explain: bool,
}

#[derive(Deserialize)]
struct BatchLine {
    text: String,
    #[serde(default = "yes")]
    addressed: bool,
}

fn yes() -> bool {
    true
}

/// One output line of the contract.
#[derive(Serialize)]
struct Answer<'a> {
    decision: &'a str,
    item: Option<&'a str>,
    aspect: Option<&'a str>,
    candidates: Vec<&'a str>,
    reply: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

pub fn run(config: &Config, args: &Args) -> anyhow::Result<()> {
    let matcher = Matcher::new(config);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.batch {
        for (n, line) in std::io::stdin().lock().lines().enumerate() {
            let line = line?;
            let json = match serde_json::from_str::<BatchLine>(&line) {
                Ok(q) => to_json(config, &matcher.understand(&q.text, q.addressed), None),
                Err(e) => {
                    eprintln!(
                        "line {}: not a JSON question ({e}); answered with ignore",
                        n + 1
                    );
                    let ignore = matcher.understand("", false);
                    to_json(config, &ignore, Some(format!("line {}: {e}", n + 1)))
                }
            };
            writeln!(out, "{json}")?;
        }
        return Ok(());
    }
    let Some(text) = &args.text else {
        anyhow::bail!("give a question, e.g. bangban ask \"老年卡要带什么\", or use --batch");
    };
    let u = matcher.understand(text, !args.open);
    if args.explain {
        let items = config.catalog.items();
        eprintln!("normalised: {}", u.normalized);
        eprintln!("signals:    {:?}", u.signals);
        eprintln!(
            "decision:   {} aspect {:?}",
            u.decision.name(),
            u.aspect.map(|a| a.name())
        );
        for (i, score) in u.scores.iter().take(6) {
            eprintln!("  {:6.2} {}", score, items[*i].id);
        }
        for found in matcher.explain_words(text) {
            let hits: Vec<String> = found
                .items
                .iter()
                .map(|(i, w)| format!("{}:{w}", items[*i].id))
                .collect();
            let how = if found.by_sound { " (by sound)" } else { "" };
            eprintln!("  word {}{how} → {}", found.word, hits.join(" "));
        }
    }
    if args.json {
        writeln!(out, "{}", to_json(config, &u, None))?;
    } else {
        let text = reply::render(&u, &config.catalog, &config.replies);
        if text.is_empty() {
            eprintln!("（不回复：这条消息不是问机器人的）");
        } else {
            writeln!(out, "{text}")?;
        }
    }
    Ok(())
}

fn to_json(config: &Config, u: &Understanding, error: Option<String>) -> String {
    let items = config.catalog.items();
    let answer = Answer {
        decision: u.decision.name(),
        item: u.item.map(|i| items[i].id.as_str()),
        aspect: u.aspect.map(|a| a.name()),
        candidates: u.candidates.iter().map(|&i| items[i].id.as_str()).collect(),
        reply: reply::render(u, &config.catalog, &config.replies),
        error,
    };
    serde_json::to_string(&answer).expect("plain data serialises")
}
