//! `bangban ask`: one question, or a batch of JSON lines (the contract in DESIGN.md).

use crate::config::Config;
use crate::reply;
use crate::understand::Understanding;
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
    /// Also print how the question was understood: the top classes of each model with their
    /// probabilities and the features that decided.
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
    /// The finer aspect (premium, benefit, window) when it is not one of the nine.
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
    /// A listed matter without a guide, for escalations.
    #[serde(skip_serializing_if = "Option::is_none")]
    matter: Option<&'a str>,
    reply: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

pub fn run(config: &Config, args: &Args) -> anyhow::Result<()> {
    let matcher = crate::model_cache::matcher(config);
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
        let e = matcher.explain(text, &config.catalog, &config.matters);
        let list = |v: &[(String, f32)]| {
            v.iter()
                .map(|(n, p)| format!("{n} {p:.2}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        eprintln!("normalised: {}", e.normalized);
        eprintln!("words:      {}", e.words.join(" / "));
        eprintln!("intent:     {}", list(&e.intents));
        eprintln!("topic:      {}", list(&e.topics));
        eprintln!("aspect:     {}", list(&e.aspects));
        eprintln!("matters:    {}", list(&e.matters));
        eprintln!(
            "decision:   {} aspect {:?}",
            u.decision.name(),
            u.aspect.map(|a| a.name())
        );
        eprintln!("features for {}:", e.deciding);
        for (label, w) in &e.features {
            eprintln!("  {w:+.3} {label}");
        }
    }
    if args.json {
        writeln!(out, "{}", to_json(config, &u, None))?;
    } else {
        let text = reply::render(&u, &config.catalog, config);
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
        aspect: u.aspect.map(|a| a.contract().name()),
        candidates: u.candidates.iter().map(|&i| items[i].id.as_str()).collect(),
        detail: u.aspect.filter(|a| a.contract() != *a).map(|a| a.name()),
        matter: u
            .matter
            .and_then(|m| config.matters.list().get(m))
            .map(|m| m.id.as_str()),
        reply: reply::render(u, &config.catalog, config),
        error,
    };
    serde_json::to_string(&answer).expect("plain data serialises")
}
