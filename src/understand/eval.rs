//! Measuring understanding: labelled question sets (the format of the shared evaluation's `score.py`,
//! scored by the same rules) and k-fold cross-validation over the configuration's examples, so
//! a change shows whether it generalises. `bangban eval` prints both.

use super::examples::{Example, Intent, Topic};
use super::{Decision, Matcher};
use crate::catalog::{Catalog, Matters};
use crate::config::{Lexicon, Tuning};

/// One labelled question: `mode expect items aspect text`, tab-separated.
#[derive(Debug, Clone)]
pub struct Labelled {
    pub addressed: bool,
    /// answer, clarify, escalate, help or ignore.
    pub expect: String,
    /// Acceptable item ids.
    pub items: Vec<String>,
    /// An aspect name, or `-`.
    pub aspect: String,
    pub text: String,
}

/// Parses a labelled set; the first line is the header.
pub fn parse_tsv(text: &str) -> Result<Vec<Labelled>, String> {
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        let [mode, expect, items, aspect, text] = cols[..] else {
            return Err(format!("line {}: expected 5 tab-separated columns", n + 1));
        };
        if !["at", "open"].contains(&mode) {
            return Err(format!("line {}: mode must be at or open", n + 1));
        }
        rows.push(Labelled {
            addressed: mode == "at",
            expect: expect.to_string(),
            items: items
                .split('|')
                .filter(|i| *i != "-")
                .map(String::from)
                .collect(),
            aspect: aspect.to_string(),
            text: text.to_string(),
        });
    }
    Ok(rows)
}

#[derive(Debug, Default, Clone)]
pub struct Score {
    pub rows: usize,
    pub correct: usize,
    /// Answered with an item that is not among the acceptable ones.
    pub wrong: usize,
    pub aspect_total: usize,
    pub aspect_ok: usize,
    pub fails: Vec<String>,
}

impl Score {
    pub fn correct_rate(&self) -> f64 {
        self.correct as f64 / self.rows.max(1) as f64
    }
    pub fn wrong_rate(&self) -> f64 {
        self.wrong as f64 / self.rows.max(1) as f64
    }
    pub fn aspect_rate(&self) -> f64 {
        self.aspect_ok as f64 / self.aspect_total.max(1) as f64
    }

    fn add(&mut self, other: Score) {
        self.rows += other.rows;
        self.correct += other.correct;
        self.wrong += other.wrong;
        self.aspect_total += other.aspect_total;
        self.aspect_ok += other.aspect_ok;
        self.fails.extend(other.fails);
    }
}

/// Scores `rows` as `score.py` does.
pub fn score(matcher: &Matcher, catalog: &Catalog, rows: &[Labelled]) -> Score {
    let mut s = Score::default();
    for r in rows {
        let u = matcher.understand(&r.text, r.addressed);
        let decision = u.decision.name();
        let item = u.item.map(|i| catalog.items()[i].id.as_str());
        let item_ok = item.is_some_and(|id| r.items.iter().any(|x| x == id));
        s.rows += 1;
        if u.decision == Decision::Answer && !item_ok {
            s.wrong += 1;
        }
        let ok = match r.expect.as_str() {
            "answer" => {
                let ok = decision == "answer" && item_ok;
                if ok && !["-", "overview"].contains(&r.aspect.as_str()) {
                    s.aspect_total += 1;
                    let got = u.aspect.map(|a| a.contract().name());
                    s.aspect_ok += usize::from(got == Some(r.aspect.as_str()));
                }
                ok
            }
            "clarify" => {
                let offered = u
                    .candidates
                    .iter()
                    .any(|&c| r.items.iter().any(|x| *x == catalog.items()[c].id));
                (decision == "clarify" && offered) || (decision == "answer" && item_ok)
            }
            other => decision == other,
        };
        s.correct += usize::from(ok);
        if !ok {
            s.fails.push(format!(
                "expected {} {} got {} {} :: {}",
                r.expect,
                r.items.join("|"),
                decision,
                item.unwrap_or(""),
                r.text
            ));
        }
    }
    s
}

/// What a training example, held out, should get.
fn expected(e: &Example, catalog: &Catalog) -> Labelled {
    let ids = |items: &[usize]| {
        items
            .iter()
            .map(|&i| catalog.items()[i].id.clone())
            .collect()
    };
    let (addressed, expect, items, aspect) = match (e.intent, &e.topic) {
        (Intent::Ask, Some(Topic::Item(i))) => (
            true,
            "answer",
            ids(&[*i]),
            e.aspect.map_or("-", |a| a.contract().name()),
        ),
        (Intent::Ask, Some(Topic::Among(items))) => (true, "clarify", ids(items), "-"),
        (Intent::Ask, _) | (Intent::Case, _) | (Intent::Complaint, _) | (Intent::Offtopic, _) => {
            (true, "escalate", Vec::new(), "-")
        }
        (Intent::Help, _) | (Intent::Thanks, _) => (true, "help", Vec::new(), "-"),
        (Intent::Chatter, _) => (false, "ignore", Vec::new(), "-"),
    };
    Labelled {
        addressed,
        expect: expect.to_string(),
        items,
        aspect: aspect.to_string(),
        text: e.text.clone(),
    }
}

/// k-fold cross-validation: each example is scored by a matcher trained without its fold.
pub fn cross_validate(
    catalog: &Catalog,
    matters: &Matters,
    lexicon: &Lexicon,
    tuning: &Tuning,
    examples: &[Example],
    folds: usize,
) -> Score {
    let mut total = Score::default();
    for (m, held) in fold_matchers(catalog, matters, lexicon, tuning, examples, folds) {
        total.add(score(&m, catalog, &held));
    }
    total
}

/// Cross-validated scores of decision thresholds: the fold models are trained once and every
/// candidate tuning is scored on them. Best first by correct − 5 × wrong (a wrong answer costs
/// a resident a day; a question back costs a message).
pub fn sweep(
    catalog: &Catalog,
    matters: &Matters,
    lexicon: &Lexicon,
    tuning: &Tuning,
    examples: &[Example],
    folds: usize,
    candidates: &[Tuning],
) -> Vec<(Tuning, Score)> {
    let mut fold = fold_matchers(catalog, matters, lexicon, tuning, examples, folds);
    let mut out: Vec<(Tuning, Score)> = candidates
        .iter()
        .map(|t| {
            let mut total = Score::default();
            for (m, held) in &mut fold {
                m.set_tuning(t);
                total.add(score(m, catalog, held));
            }
            total.fails.clear();
            (t.clone(), total)
        })
        .collect();
    let objective = |s: &Score| s.correct_rate() - 5.0 * s.wrong_rate();
    out.sort_by(|a, b| objective(&b.1).total_cmp(&objective(&a.1)));
    out
}

fn fold_matchers(
    catalog: &Catalog,
    matters: &Matters,
    lexicon: &Lexicon,
    tuning: &Tuning,
    examples: &[Example],
    folds: usize,
) -> Vec<(Matcher, Vec<Labelled>)> {
    let folds = folds.max(2);
    let mut out = Vec::new();
    for f in 0..folds {
        let train: Vec<Example> = examples
            .iter()
            .enumerate()
            .filter(|(i, _)| i % folds != f)
            .map(|(_, e)| e.clone())
            .collect();
        let held: Vec<Labelled> = examples
            .iter()
            .enumerate()
            .filter(|(i, _)| i % folds == f)
            .map(|(_, e)| expected(e, catalog))
            .collect();
        out.push((
            Matcher::train(catalog, matters, lexicon, tuning, &train),
            held,
        ));
    }
    out
}
