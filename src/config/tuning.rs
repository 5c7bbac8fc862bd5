//! `bot-config/matcher.toml`: the scores and thresholds of question understanding. The file itself
//! explains why each default is what it is.

use super::ConfigError;
use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tuning {
    /// Weight of an item's name or alias found in a question.
    pub alias_weight: f32,
    /// Factor applied to a word found only by sound (homophone typo, Latin pinyin).
    pub sound_factor: f32,
    /// Words shorter than this (in characters) are matched exactly only.
    pub min_sound_chars: usize,
    /// Weight of the FAQ/name similarity (0–1) added to an item's score.
    pub similarity_weight: f32,
    /// An item is answered only with at least this score…
    pub answer_min_score: f32,
    /// …and at least this much ahead of the runner-up.
    pub answer_min_margin: f32,
    /// Items with at least this score are offered when asking back.
    pub candidate_min_score: f32,
    /// At most this many items are offered when asking back.
    pub clarify_max_candidates: usize,
    /// Factor applied to a word right after 没/没有/未/不是 (context, not the asked item).
    pub negated_factor: f32,
    /// The item named last in the question by a word of at least `focus_min_weight` gets this
    /// much more (the asked item usually comes last, after the context).
    pub focus_bonus: f32,
    pub focus_min_weight: f32,
    /// A FAQ question at least this similar to the question is answered with its FAQ answer.
    pub faq_min_similarity: f32,
    /// The same, when an aspect is clearly asked (then the card's aspect is usually the answer).
    pub faq_min_similarity_for_aspect: f32,
}

impl Tuning {
    pub fn validate(&self, file: &Path) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        let mut check = super::checker(file, &mut errors);
        check("alias_weight", self.alias_weight > 0.0, "a number > 0");
        check(
            "sound_factor",
            (0.0..=1.0).contains(&self.sound_factor),
            "a number from 0 to 1",
        );
        check(
            "min_sound_chars",
            self.min_sound_chars >= 1,
            "a whole number ≥ 1",
        );
        check(
            "similarity_weight",
            self.similarity_weight >= 0.0,
            "a number ≥ 0",
        );
        check(
            "answer_min_score",
            self.answer_min_score > 0.0,
            "a number > 0",
        );
        check(
            "answer_min_margin",
            self.answer_min_margin >= 0.0,
            "a number ≥ 0",
        );
        check(
            "candidate_min_score",
            self.candidate_min_score > 0.0 && self.candidate_min_score <= self.answer_min_score,
            "a number > 0 and ≤ answer_min_score",
        );
        check(
            "clarify_max_candidates",
            (2..=9).contains(&self.clarify_max_candidates),
            "a whole number from 2 to 9 (residents reply with one digit)",
        );
        check(
            "negated_factor",
            (0.0..=1.0).contains(&self.negated_factor),
            "a number from 0 to 1",
        );
        check("focus_bonus", self.focus_bonus >= 0.0, "a number ≥ 0");
        check(
            "focus_min_weight",
            self.focus_min_weight > 0.0,
            "a number > 0",
        );
        check(
            "faq_min_similarity",
            (0.0..=1.0).contains(&self.faq_min_similarity),
            "a number from 0 to 1",
        );
        check(
            "faq_min_similarity_for_aspect",
            (self.faq_min_similarity..=1.0).contains(&self.faq_min_similarity_for_aspect),
            "a number from faq_min_similarity to 1",
        );
        drop(check);
        errors
    }
}
