//! Stage 4: which aspect of the item is asked — the aspect whose cue words weigh most.

use super::normalize::Normalizer;
use super::pinyin::SyllableTable;
use super::terms::{Prepared, TermSet};
use crate::catalog::Aspect;
use crate::config::{AspectCues, Tuning};
use std::collections::BTreeMap;

pub struct AspectDetector {
    words: TermSet,
    weights: Vec<Vec<(Aspect, f32)>>,
}

impl AspectDetector {
    pub fn new(
        cues: &AspectCues,
        normalizer: &Normalizer,
        table: &SyllableTable,
        tuning: &Tuning,
    ) -> AspectDetector {
        let mut by_word: BTreeMap<String, Vec<(Aspect, f32)>> = BTreeMap::new();
        for (name, words) in cues.iter() {
            let aspect = Aspect::from_name(name).expect("AspectCues names are aspect names");
            for (word, weight) in words {
                let w = normalizer.normalize(word).text;
                if !w.is_empty() {
                    by_word.entry(w).or_default().push((aspect, *weight));
                }
            }
        }
        let (words, weights): (Vec<String>, Vec<_>) = by_word.into_iter().unzip();
        AspectDetector {
            words: TermSet::new(&words, table, tuning.min_sound_chars.max(2)),
            weights,
        }
    }

    /// The asked aspect; overview when no cue is found.
    pub fn detect(&self, q: &Prepared, sound_factor: f32) -> Aspect {
        let mut total = [0f32; Aspect::ALL.len()];
        for hit in self.words.find(q) {
            let factor = if hit.by_sound { sound_factor } else { 1.0 };
            for &(aspect, w) in &self.weights[hit.term] {
                total[aspect as usize] += w * factor;
            }
        }
        let best = Aspect::ALL
            .into_iter()
            .filter(|a| total[*a as usize] > 0.0)
            .max_by(|a, b| total[*a as usize].total_cmp(&total[*b as usize]));
        best.unwrap_or(Aspect::Overview)
    }
}
