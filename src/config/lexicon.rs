//! `bot-config/lexicon.toml`: the words the matcher knows beyond the catalog — dialect and
//! synonym rewrites, near-miss characters, the bot's names, and the cue words that tell a
//! question from chatter, a resident's own case from a general question, and which aspect is asked.

use super::ConfigError;
use aho_corasick::{AhoCorasick, MatchKind};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lexicon {
    /// Names residents @-mention the bot by.
    #[serde(default)]
    pub bot_names: Vec<String>,
    /// Dialect, colloquial and synonym forms → canonical form (applied before matching).
    #[serde(default)]
    pub rewrite: BTreeMap<String, String>,
    /// Filler words (语气词 and verbal tics: 啊, 呀, 那个…) removed before matching.
    #[serde(default)]
    pub fillers: Vec<String>,
    /// Near-miss characters (形近字) → the character meant.
    #[serde(default)]
    pub confusable: BTreeMap<String, String>,
    pub cues: Cues,
    pub aspects: AspectCues,
    /// Sentence shapes (regular expressions over the normalised text) that point to an aspect.
    #[serde(default)]
    pub aspect_patterns: Vec<AspectPattern>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AspectPattern {
    pub pattern: String,
    pub aspect: String,
    pub weight: f32,
}

/// Cue words for the decision.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cues {
    /// The message asks something.
    pub question: Vec<String>,
    /// A greeting or a question about the bot itself.
    pub greeting: Vec<String>,
    /// The resident's own case: status, progress, money not arrived, "帮我查".
    pub case: Vec<String>,
    /// A complaint about the service.
    pub complaint: Vec<String>,
    /// The message tells rather than asks (已经…了, 谢谢).
    pub statement: Vec<String>,
    /// Sentence shapes (regular expressions) of the resident's own case: …了没有, 打到我卡上.
    #[serde(default)]
    pub case_patterns: Vec<String>,
    /// Requests to act for the resident (帮我把…): their own case when the message asks nothing.
    #[serde(default)]
    pub request_patterns: Vec<String>,
    /// Sentence shapes (regular expressions) of a complaint: 跑了四趟.
    #[serde(default)]
    pub complaint_patterns: Vec<String>,
    /// Matters outside the guide, next to items it covers: such a question goes to an agent
    /// unless an item's name or alias is in it too.
    #[serde(default)]
    pub uncovered: Vec<String>,
    /// Sentence shapes (regular expressions) of matters outside the guide.
    #[serde(default)]
    pub uncovered_patterns: Vec<String>,
    /// Words that introduce the real question after context (请问, 想问一下): aspect cues after
    /// the last of them count first.
    #[serde(default)]
    pub intro: Vec<String>,
}

/// Cue words per aspect, with weights; the aspect with the highest total wins.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AspectCues {
    /// Phrases that contain cue words but ask no aspect (怎么还没…): they hide the cues inside.
    #[serde(default)]
    pub not_asked: Vec<String>,
    pub materials: BTreeMap<String, f32>,
    pub time_limit: BTreeMap<String, f32>,
    pub basis: BTreeMap<String, f32>,
    pub place: BTreeMap<String, f32>,
    pub process: BTreeMap<String, f32>,
    pub fee: BTreeMap<String, f32>,
    pub conditions: BTreeMap<String, f32>,
    pub contact: BTreeMap<String, f32>,
}

impl Lexicon {
    pub fn validate(&self, file: &Path) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        let mut err = |key: String, message: &str| {
            errors.push(ConfigError {
                file: file.to_path_buf(),
                key,
                message: message.into(),
            })
        };
        let rewriter = Rewriter::new(&self.rewrite_pairs());
        for (i, f) in self.fillers.iter().enumerate() {
            if f.trim().is_empty() {
                err(format!("fillers[{i}]"), "expected a non-empty word");
            }
        }
        for (from, to) in &self.rewrite {
            if from.trim().is_empty() {
                err("rewrite".into(), "expected a non-empty word on the left");
            }
            let again = rewriter.apply(to);
            if &again != to {
                err(
                    format!("rewrite.{from}"),
                    &format!(
                        "\"{to}\" is rewritten again to \"{again}\"; expected a canonical word \
                         (rewrite it directly, or add \"{to}\" = \"{to}\" to keep it)"
                    ),
                );
            }
        }
        for (from, to) in &self.confusable {
            if from.chars().count() != 1 || to.chars().count() != 1 {
                err(
                    format!("confusable.{from}"),
                    "expected one character mapped to one character",
                );
            }
        }
        for (name, words) in self.aspects.iter() {
            for (word, w) in words {
                if !(*w > 0.0 && *w <= 10.0) {
                    err(
                        format!("aspects.{name}.{word}"),
                        "expected a weight in (0, 10]",
                    );
                }
            }
        }
        let lists = [
            ("cues.case_patterns", &self.cues.case_patterns),
            ("cues.request_patterns", &self.cues.request_patterns),
            ("cues.complaint_patterns", &self.cues.complaint_patterns),
            ("cues.uncovered_patterns", &self.cues.uncovered_patterns),
        ];
        for (key, list) in lists {
            for (i, p) in list.iter().enumerate() {
                if let Err(e) = regex::Regex::new(p) {
                    err(
                        format!("{key}[{i}]"),
                        &format!("expected a regular expression: {e}"),
                    );
                }
            }
        }
        for (i, p) in self.aspect_patterns.iter().enumerate() {
            let key = format!("aspect_patterns[{i}]");
            if let Err(e) = regex::Regex::new(&p.pattern) {
                err(
                    format!("{key}.pattern"),
                    &format!("expected a regular expression: {e}"),
                );
            }
            if !matches!(crate::catalog::Aspect::from_name(&p.aspect), Some(a) if a != crate::catalog::Aspect::Overview)
            {
                err(
                    format!("{key}.aspect"),
                    "expected one of materials, time_limit, basis, place, process, fee, conditions, contact",
                );
            }
            if !(p.weight > 0.0 && p.weight <= 10.0) {
                err(format!("{key}.weight"), "expected a weight in (0, 10]");
            }
        }
        errors
    }

    /// Rewrites as pairs, for the normaliser.
    /// Rewrites as pairs, for the normaliser; fillers rewrite to nothing. A longer rewrite wins
    /// over a filler inside it (干嘛 → 干什么 before 嘛 is dropped).
    pub fn rewrite_pairs(&self) -> Vec<(String, String)> {
        let fillers = self
            .fillers
            .iter()
            .filter(|f| !self.rewrite.contains_key(*f))
            .map(|f| (f.clone(), String::new()));
        self.rewrite
            .iter()
            .map(|(a, b)| (a.clone(), b.clone()))
            .chain(fillers)
            .collect()
    }

    /// Near-miss characters as pairs, for the normaliser (validated to be single characters).
    pub fn confusable_pairs(&self) -> Vec<(char, char)> {
        self.confusable
            .iter()
            .filter_map(|(a, b)| Some((a.chars().next()?, b.chars().next()?)))
            .collect()
    }
}

impl AspectCues {
    /// (aspect name, cue words) for every aspect that has cues.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &BTreeMap<String, f32>)> {
        [
            ("materials", &self.materials),
            ("time_limit", &self.time_limit),
            ("basis", &self.basis),
            ("place", &self.place),
            ("process", &self.process),
            ("fee", &self.fee),
            ("conditions", &self.conditions),
            ("contact", &self.contact),
        ]
        .into_iter()
    }
}

/// Applies the `rewrite` table: longest match first, left to right, one pass. The table is
/// checked to be stable (a rewritten word is not rewritten again), so one pass is enough.
pub struct Rewriter {
    ac: Option<AhoCorasick>,
    to: Vec<String>,
}

impl Rewriter {
    pub fn new(pairs: &[(String, String)]) -> Rewriter {
        let ac = (!pairs.is_empty()).then(|| {
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(pairs.iter().map(|(from, _)| from.as_str()))
                .expect("rewrite patterns are plain strings")
        });
        Rewriter {
            ac,
            to: pairs.iter().map(|(_, to)| to.clone()).collect(),
        }
    }

    pub fn apply(&self, text: &str) -> String {
        let Some(ac) = &self.ac else {
            return text.to_string();
        };
        let mut out = String::with_capacity(text.len());
        ac.replace_all_with(text, &mut out, |m, _, dst| {
            dst.push_str(&self.to[m.pattern().as_usize()]);
            true
        });
        out
    }
}
