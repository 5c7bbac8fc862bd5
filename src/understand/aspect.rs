//! Stage 4: which aspect of the item is asked — the aspect whose cues weigh most. Cues are
//! phrases (a phrase inside a longer one found there does not count, so "在哪里" counts once) and patterns for sentence shapes that
//! phrases cannot catch ("能…吗" asks about conditions).

use super::normalize::Normalizer;
use super::pinyin::SyllableTable;
use super::terms::{Overlap, Prepared, TermSet};
use crate::catalog::Aspect;
use crate::config::{Lexicon, Tuning};
use regex::RegexSet;
use std::collections::BTreeMap;

pub struct AspectDetector {
    words: TermSet,
    weights: Vec<Vec<(Aspect, f32)>>,
    patterns: RegexSet,
    pattern_weights: Vec<(Aspect, f32)>,
}

impl AspectDetector {
    pub fn new(
        lexicon: &Lexicon,
        normalizer: &Normalizer,
        table: &SyllableTable,
        tuning: &Tuning,
    ) -> AspectDetector {
        let mut by_word: BTreeMap<String, Vec<(Aspect, f32)>> = BTreeMap::new();
        for (name, words) in lexicon.aspects.iter() {
            let aspect = Aspect::from_name(name).expect("AspectCues names are aspect names");
            for (word, weight) in words {
                let w = normalizer.normalize(word).text;
                if !w.is_empty() {
                    by_word.entry(w).or_default().push((aspect, *weight));
                }
            }
        }
        let (words, weights): (Vec<String>, Vec<_>) = by_word.into_iter().unzip();
        let patterns = &lexicon.aspect_patterns;
        AspectDetector {
            words: TermSet::new(
                &words,
                table,
                tuning.min_sound_chars.max(2),
                Overlap::Maximal,
            ),
            weights,
            patterns: RegexSet::new(patterns.iter().map(|p| p.pattern.as_str()))
                .expect("patterns are checked when the lexicon loads"),
            pattern_weights: patterns
                .iter()
                .map(|p| {
                    (
                        Aspect::from_name(&p.aspect).unwrap_or(Aspect::Overview),
                        p.weight,
                    )
                })
                .collect(),
        }
    }

    /// The asked aspect; overview when no cue is found. `by_sound`: cues may match by sound
    /// (for Latin pinyin; in Chinese text sound-alike cues misfire: 机器人 sounds like 气人).
    pub fn detect(&self, q: &Prepared, by_sound: bool) -> Aspect {
        let mut total = [0f32; Aspect::ALL.len()];
        for hit in self.words.find(q, by_sound) {
            for &(aspect, w) in &self.weights[hit.term] {
                total[aspect as usize] += w;
            }
        }
        for i in self.patterns.matches(&q.text).iter() {
            let (aspect, w) = self.pattern_weights[i];
            total[aspect as usize] += w;
        }
        let best = Aspect::ALL
            .into_iter()
            .filter(|a| total[*a as usize] > 0.0)
            .max_by(|a, b| total[*a as usize].total_cmp(&total[*b as usize]));
        best.unwrap_or(Aspect::Overview)
    }
}
