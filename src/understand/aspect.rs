//! Stage 4: which aspect of the item is asked — the aspect whose cues weigh most. Cues are
//! phrases (a phrase inside a longer one found there does not count, so "在哪里" counts once) and patterns for sentence shapes that
//! phrases cannot catch ("能…吗" asks about conditions).

use super::normalize::Normalizer;
use super::pinyin::SyllableTable;
use super::terms::{Overlap, Prepared, TermSet};
use crate::catalog::Aspect;
use crate::config::{Lexicon, Tuning};
use regex::{Regex, RegexSet};
use std::collections::BTreeMap;

pub struct AspectDetector {
    words: TermSet,
    weights: Vec<Vec<(Aspect, f32)>>,
    patterns: RegexSet,
    pattern_list: Vec<Regex>,
    pattern_weights: Vec<(Aspect, f32)>,
    intro: TermSet,
}

/// An aspect total this high means the aspect was clearly asked (one outright cue).
const CLEARLY_ASKED: f32 = 2.0;

impl AspectDetector {
    pub fn new(
        lexicon: &Lexicon,
        normalizer: &Normalizer,
        table: &SyllableTable,
        tuning: &Tuning,
    ) -> AspectDetector {
        let mut by_word: BTreeMap<String, Vec<(Aspect, f32)>> = BTreeMap::new();
        for word in &lexicon.aspects.not_asked {
            let w = normalizer.normalize_word(word);
            if !w.is_empty() {
                by_word.entry(w).or_default();
            }
        }
        for (name, words) in lexicon.aspects.iter() {
            let aspect = Aspect::from_name(name).expect("AspectCues names are aspect names");
            for (word, weight) in words {
                let w = normalizer.normalize_word(word);
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
            pattern_list: patterns
                .iter()
                .map(|p| {
                    Regex::new(&p.pattern).expect("patterns are checked when the lexicon loads")
                })
                .collect(),
            intro: {
                let intro: Vec<String> = lexicon
                    .cues
                    .intro
                    .iter()
                    .map(|w| normalizer.normalize_word(w))
                    .collect();
                TermSet::new(&intro, table, usize::MAX, Overlap::All)
            },
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
    ///
    /// When several aspects are asked ("要带什么 几天能好"), the first one clearly asked wins,
    /// as an agent would answer it first; cues after an intro (请问, 想问一下) speak for the
    /// question over the context before it.
    /// Also returns whether the aspect was clearly asked (a how-to question, not just a hint).
    pub fn detect(&self, q: &Prepared, by_sound: bool) -> (Aspect, bool) {
        let mut cues: Vec<(Aspect, f32, u32)> = Vec::new();
        for hit in self.words.find(q, by_sound) {
            for &(aspect, w) in &self.weights[hit.term] {
                cues.push((aspect, w, hit.start));
            }
        }
        for i in self.patterns.matches(&q.text).iter() {
            let (aspect, w) = self.pattern_weights[i];
            let at = self.pattern_list[i]
                .find(&q.text)
                .map_or(0, |m| q.char_pos(m.start()));
            cues.push((aspect, w, at));
        }
        if let Some(after) = self.intro.find(q, false).iter().map(|h| h.end).max()
            && cues.iter().any(|c| c.2 >= after)
        {
            cues.retain(|c| c.2 >= after);
        }
        let mut total = [0f32; Aspect::ALL.len()];
        let mut first = [u32::MAX; Aspect::ALL.len()];
        for (aspect, w, at) in cues {
            total[aspect as usize] += w;
            first[aspect as usize] = first[aspect as usize].min(at);
        }
        let asked = || Aspect::ALL.into_iter().filter(|a| total[*a as usize] > 0.0);
        let clearly = asked()
            .filter(|a| total[*a as usize] >= CLEARLY_ASKED)
            .min_by(|a, b| {
                first[*a as usize]
                    .cmp(&first[*b as usize])
                    .then(total[*b as usize].total_cmp(&total[*a as usize]))
            });
        match clearly {
            Some(aspect) => (aspect, true),
            None => (
                asked()
                    .max_by(|a, b| total[*a as usize].total_cmp(&total[*b as usize]))
                    .unwrap_or(Aspect::Overview),
                false,
            ),
        }
    }
}
