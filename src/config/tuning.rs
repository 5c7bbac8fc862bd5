//! `bot-config/matcher.toml`: how the models are trained and the probability thresholds of the
//! decisions. The file itself explains why each default is what it is; `bangban eval` measures
//! what a change does.

use super::ConfigError;
use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tuning {
    /// Passes of stochastic gradient descent over the examples.
    pub epochs: u32,
    /// Initial SGD step; it decays linearly to a tenth.
    pub learning_rate: f32,
    /// L2 regularisation per step.
    pub l2: f32,
    /// How far classes are balanced: 0 as the examples fall, 1 every class alike.
    pub class_balance: f32,
    /// Cue words shorter than this (in characters) are matched exactly only.
    pub min_sound_chars: usize,
    /// An item is answered only when its probability is at least this…
    pub answer_min_prob: f32,
    /// …and at least this much above the next item's.
    pub answer_min_margin: f32,
    /// …and the message is a question with at least this probability (not an own case, etc.).
    pub ask_min_prob: f32,
    /// Not addressed to the bot: it speaks only above these, stricter, bars.
    pub open_answer_min_prob: f32,
    pub open_ask_min_prob: f32,
    /// Items at least this likely are offered when asking back…
    pub candidate_min_prob: f32,
    /// …at most this many…
    pub clarify_max_candidates: usize,
    /// …and only when together they are at least this likely.
    pub clarify_min_mass: f32,
    /// A listed matter without a guide at least this likely (and above every item) is handed
    /// to an agent with a pointer to its department.
    pub matter_min_prob: f32,
    /// A ticket is labelled with an item only when the item is at least this likely.
    pub ticket_item_min_prob: f32,
    /// A FAQ entry answers only when its question is this similar to the asked one…
    pub faq_min_similarity: f32,
    /// …and the question holds this share of what the FAQ question says beyond the item's name.
    pub faq_min_coverage: f32,
}

impl Tuning {
    pub fn validate(&self, file: &Path) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        let mut check = super::checker(file, &mut errors);
        check(
            "epochs",
            (1..=100).contains(&self.epochs),
            "a whole number from 1 to 100",
        );
        check(
            "learning_rate",
            self.learning_rate > 0.0 && self.learning_rate <= 10.0,
            "a number in (0, 10]",
        );
        check("l2", (0.0..0.1).contains(&self.l2), "a number in [0, 0.1)");
        check(
            "class_balance",
            (0.0..=1.0).contains(&self.class_balance),
            "a number from 0 to 1",
        );
        check(
            "min_sound_chars",
            self.min_sound_chars >= 1,
            "a whole number ≥ 1",
        );
        let prob = |v: f32| (0.0..=1.0).contains(&v);
        for (key, v) in [
            ("answer_min_prob", self.answer_min_prob),
            ("answer_min_margin", self.answer_min_margin),
            ("ask_min_prob", self.ask_min_prob),
            ("open_answer_min_prob", self.open_answer_min_prob),
            ("open_ask_min_prob", self.open_ask_min_prob),
            ("candidate_min_prob", self.candidate_min_prob),
            ("clarify_min_mass", self.clarify_min_mass),
            ("matter_min_prob", self.matter_min_prob),
            ("ticket_item_min_prob", self.ticket_item_min_prob),
            ("faq_min_similarity", self.faq_min_similarity),
            ("faq_min_coverage", self.faq_min_coverage),
        ] {
            check(key, prob(v), "a probability from 0 to 1");
        }
        check(
            "candidate_min_prob",
            self.candidate_min_prob <= self.answer_min_prob,
            "a probability ≤ answer_min_prob",
        );
        check(
            "clarify_max_candidates",
            (2..=9).contains(&self.clarify_max_candidates),
            "a whole number from 2 to 9 (residents reply with one digit)",
        );
        drop(check);
        errors
    }
}
