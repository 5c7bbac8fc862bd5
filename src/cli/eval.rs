//! `bangban eval`: k-fold cross-validated scores over the training examples, and the scores of
//! labelled held-out sets (default: every `tests/data/*.tsv`), so a change shows whether it
//! generalises. Training on the examples never reads the held-out sets.

use crate::config::Config;
use crate::understand::Matcher;
use crate::understand::eval::{Score, cross_validate, parse_tsv, score, sweep};
use crate::understand::examples;
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// Labelled sets (mode, expect, items, aspect, text); default: tests/data/*.tsv.
    sets: Vec<PathBuf>,
    /// Folds of the cross-validation; 0 skips it.
    #[arg(long, default_value_t = 5)]
    folds: usize,
    /// Score a grid of decision thresholds by cross-validation and print the best ones.
    #[arg(long)]
    sweep: bool,
    /// Print every failed row.
    #[arg(long)]
    show_fails: bool,
}

fn line(name: &str, s: &Score) -> String {
    format!(
        "{name:32} rows {:5}  correct {:.3}  wrong {:.3}  aspect {:.3}",
        s.rows,
        s.correct_rate(),
        s.wrong_rate(),
        s.aspect_rate()
    )
}

pub fn run(config: &Config, args: &Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let matcher = Matcher::new(config);
    println!(
        "trained on {} examples in {} ms",
        matcher.example_count(),
        started.elapsed().as_millis()
    );
    if args.sweep {
        let examples = examples::collect(
            &config.catalog,
            &config.matters,
            &config.intents,
            &config.vague,
        );
        let grid = threshold_grid(&config.tuning);
        let best = sweep(
            &config.catalog,
            &config.matters,
            &config.lexicon,
            &config.tuning,
            &examples,
            args.folds.max(2),
            &grid,
        );
        for (t, s) in best.iter().take(15) {
            println!(
                "{}  answer {:.2}/{:.2} ask {:.2} open {:.2}/{:.2} clarify {:.2} matter {:.2}",
                line("", s),
                t.answer_min_prob,
                t.answer_min_margin,
                t.ask_min_prob,
                t.open_answer_min_prob,
                t.open_ask_min_prob,
                t.clarify_min_mass,
                t.matter_min_prob
            );
        }
        return Ok(());
    }
    if args.folds > 0 {
        let examples = examples::collect(
            &config.catalog,
            &config.matters,
            &config.intents,
            &config.vague,
        );
        let s = cross_validate(
            &config.catalog,
            &config.matters,
            &config.lexicon,
            &config.tuning,
            &examples,
            args.folds,
        );
        println!(
            "{}",
            line(&format!("{}-fold cross-validation", args.folds), &s)
        );
        print_fails(args, &s);
    }
    let sets = if args.sets.is_empty() {
        let mut found: Vec<PathBuf> = std::fs::read_dir("tests/data")
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        found.retain(|p| p.extension().is_some_and(|x| x == "tsv"));
        found.sort();
        found
    } else {
        args.sets.clone()
    };
    for path in &sets {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let rows = parse_tsv(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let s = score(&matcher, &config.catalog, &rows);
        println!("{}", line(&path.display().to_string(), &s));
        print_fails(args, &s);
    }
    Ok(())
}

fn print_fails(args: &Args, s: &Score) {
    if args.show_fails {
        for f in &s.fails {
            println!("  {f}");
        }
    }
}

/// Candidate thresholds around the configured ones.
fn threshold_grid(base: &crate::config::Tuning) -> Vec<crate::config::Tuning> {
    let mut out = Vec::new();
    for answer in [0.35, 0.45, 0.55, 0.65] {
        for margin in [0.1, 0.2, 0.3] {
            for open in [0.5, 0.6, 0.75] {
                for matter in [0.25, 0.35, 0.5] {
                    for mass in [0.35, 0.5] {
                        for ask in [0.4, 0.55] {
                            let mut t = base.clone();
                            t.answer_min_prob = answer;
                            t.answer_min_margin = margin;
                            t.open_answer_min_prob = open;
                            t.open_ask_min_prob = open;
                            t.matter_min_prob = matter;
                            t.clarify_min_mass = mass;
                            t.ask_min_prob = ask;
                            t.candidate_min_prob = t.candidate_min_prob.min(answer);
                            out.push(t);
                        }
                    }
                }
            }
        }
    }
    out
}
