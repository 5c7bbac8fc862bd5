//! Question understanding: from a resident's raw message to a decision — answer one item and
//! aspect, ask back, hand over to an agent, greet, or stay silent.
//!
//! **Invariant: this module does no I/O.** It is built once from a loaded [`Config`] and then is a
//! pure function of (text, addressed). Stages, each in its own file:
//! [`normalize`] → [`pinyin`] sound encoding → [`terms`] word finding → item scoring (here, with
//! [`similarity`]) → [`aspect`] → [`decide`].

mod aspect;
mod decide;
pub mod normalize;
pub mod pinyin;
mod similarity;
mod terms;

pub use decide::{Decision, EscalateReason};

use crate::catalog::{Aspect, Catalog};
use crate::config::{Config, Lexicon, Tuning};
use normalize::Normalizer;
use pinyin::SyllableTable;
use similarity::Similarity;
use std::collections::HashMap;
use terms::{Overlap, Prepared, TermSet};

/// Questions are read up to this many characters; a pasted article is not a question, and the
/// cap keeps a hostile 1 MB message as cheap as a long one.
pub const MAX_QUESTION_CHARS: usize = 1000;

/// What the bot made of one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Understanding {
    pub decision: Decision,
    /// The item answered, or the item a hand-over is about (index into the catalog's items).
    pub item: Option<usize>,
    pub aspect: Option<Aspect>,
    /// Items offered when asking back, best first.
    pub candidates: Vec<usize>,
    /// The FAQ entry (index into the item's `faq`) that answers the question, if one is close.
    pub faq: Option<usize>,
    /// Why the message is handed over, for escalations.
    pub reason: Option<EscalateReason>,
    /// The normalised text (for logs and tickets).
    pub normalized: String,
    /// Item scores above zero, best first (for `--explain` and tuning).
    pub scores: Vec<(usize, f32)>,
    pub signals: Signals,
}

/// An item word found in a question, for `ask --explain`.
pub struct WordFound {
    pub word: String,
    pub by_sound: bool,
    /// (item index, weight) of every item the word points to.
    pub items: Vec<(usize, f32)>,
}

/// Signals found in a message besides the item scores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Signals {
    pub empty: bool,
    pub question: bool,
    pub greeting: bool,
    pub case: bool,
    pub complaint: bool,
    pub statement: bool,
    /// A matter the guide does not cover is named, and no item by its own name or alias.
    pub uncovered: bool,
    /// An aspect is clearly asked (要带什么, 在哪里办, 怎么申请), not merely hinted.
    pub how_to: bool,
}

struct CueSets {
    question: TermSet,
    greeting: TermSet,
    case: TermSet,
    case_patterns: regex::RegexSet,
    request_patterns: regex::RegexSet,
    complaint: TermSet,
    complaint_patterns: regex::RegexSet,
    statement: TermSet,
    uncovered: TermSet,
    uncovered_patterns: regex::RegexSet,
}

/// The understanding step, built once per loaded config and shared.
pub struct Matcher {
    normalizer: Normalizer,
    table: SyllableTable,
    item_words: TermSet,
    item_weights: Vec<Vec<(u32, f32)>>,
    item_words_list: Vec<String>,
    combos: Vec<Combo>,
    item_similarity: Similarity,
    faq_similarity: Similarity,
    faq_owner: Vec<(usize, usize)>,
    cues: CueSets,
    aspects: aspect::AspectDetector,
    tuning: Tuning,
    item_count: usize,
}

impl Matcher {
    pub fn new(config: &Config) -> Matcher {
        Matcher::build(&config.catalog, &config.lexicon, &config.tuning)
    }

    pub fn build(catalog: &Catalog, lexicon: &Lexicon, tuning: &Tuning) -> Matcher {
        let normalizer = Normalizer::new(
            &lexicon.rewrite_pairs(),
            &lexicon.confusable_pairs(),
            &lexicon.bot_names,
        );
        let table = SyllableTable::new();
        // Item words: names and aliases at alias_weight, keywords at their own weight, "A+B"
        // keywords when all parts are present. Words pass through the normaliser too, so that
        // they meet questions in the same canonical form.
        let mut words = ItemWords::default();
        let mut item_docs = Vec::new();
        let mut faq_docs = Vec::new();
        let mut faq_owner = Vec::new();
        for (i, item) in catalog.items().iter().enumerate() {
            let short = item.short_name();
            for name in [&item.name, &short].into_iter().chain(&item.aliases) {
                let canon = normalizer.normalize_word(name);
                words.add(&canon, i, tuning.alias_weight);
                item_docs.push((i, canon));
            }
            for (word, weight) in &item.keywords {
                let parts: Vec<String> = word
                    .split('+')
                    .map(|p| normalizer.normalize_word(p))
                    .collect();
                if parts.len() == 1 {
                    words.add(&parts[0], i, *weight);
                } else {
                    words.add_combo(&parts, i, *weight);
                }
            }
            for (f, faq) in item.faq.iter().enumerate() {
                let q = normalizer.normalize_word(&faq.q);
                item_docs.push((i, q.clone()));
                faq_docs.push((faq_owner.len(), q));
                faq_owner.push((i, f));
            }
        }
        let cue = |list: &[String]| {
            let canon: Vec<String> = list.iter().map(|w| normalizer.normalize_word(w)).collect();
            TermSet::new(&canon, &table, tuning.min_sound_chars.max(2), Overlap::All)
        };
        let cues = CueSets {
            question: cue(&lexicon.cues.question),
            greeting: cue(&lexicon.cues.greeting),
            case: cue(&lexicon.cues.case),
            case_patterns: regex::RegexSet::new(&lexicon.cues.case_patterns)
                .expect("patterns are checked when the lexicon loads"),
            request_patterns: regex::RegexSet::new(&lexicon.cues.request_patterns)
                .expect("patterns are checked when the lexicon loads"),
            complaint: cue(&lexicon.cues.complaint),
            complaint_patterns: regex::RegexSet::new(&lexicon.cues.complaint_patterns)
                .expect("patterns are checked when the lexicon loads"),
            statement: cue(&lexicon.cues.statement),
            uncovered: cue(&lexicon.cues.uncovered),
            uncovered_patterns: regex::RegexSet::new(&lexicon.cues.uncovered_patterns)
                .expect("patterns are checked when the lexicon loads"),
        };
        let aspects = aspect::AspectDetector::new(lexicon, &normalizer, &table, tuning);
        Matcher {
            item_words: TermSet::new(&words.list, &table, tuning.min_sound_chars, Overlap::All),
            item_weights: words.weights,
            item_words_list: words.list,
            combos: words.combos,
            item_similarity: Similarity::new(&item_docs),
            faq_similarity: Similarity::new(&faq_docs),
            faq_owner,
            cues,
            aspects,
            normalizer,
            table,
            tuning: tuning.clone(),
            item_count: catalog.len(),
        }
    }

    /// Understands one message. `addressed`: the bot was @-mentioned, or the chat is private.
    /// Only the first [`MAX_QUESTION_CHARS`] characters are read.
    pub fn understand(&self, text: &str, addressed: bool) -> Understanding {
        let text = match text.char_indices().nth(MAX_QUESTION_CHARS) {
            Some((cut, _)) => &text[..cut],
            None => text,
        };
        let norm = self.normalizer.normalize(text);
        let addressed = addressed || norm.called_by_name;
        let q = Prepared::new(norm.text, &self.table);
        // Latin pinyin is spelled on purpose, not a typo: its sound matches count in full, and
        // only there are cue words looked for by sound.
        let latin = !q.text.chars().any(normalize::is_cjk);
        let sound_factor = if latin { 1.0 } else { self.tuning.sound_factor };
        let (scores, named) = self.score_items(&q, sound_factor);
        let (aspect, how_to) = self.aspects.detect(&q, latin);
        let question =
            norm.question_mark || self.cues.question.any(&q, latin) || asks_yes_no(&q.text);
        let request = !question && self.cues.request_patterns.is_match(&q.text);
        let signals = Signals {
            empty: q.text.trim().is_empty(),
            question,
            greeting: self.cues.greeting.any(&q, latin),
            case: request
                || self.cues.case.any(&q, latin)
                || self.cues.case_patterns.is_match(&q.text),
            complaint: self.cues.complaint.any(&q, latin)
                || self.cues.complaint_patterns.is_match(&q.text),
            statement: self.cues.statement.any(&q, latin),
            uncovered: self.cues.uncovered_patterns.is_match(&q.text)
                || (!named && self.cues.uncovered.any(&q, latin)),
            how_to,
        };
        let verdict = decide::decide(&scores, signals, addressed, &self.tuning);
        let faq = match (verdict.decision, verdict.item) {
            (Decision::Answer, Some(item)) => {
                // A clearly asked aspect is answered from the card unless a FAQ entry is
                // nearly the same question: "老年卡在哪办" wants the places, not the FAQ
                // "老年卡丢了在哪补办".
                let min = if how_to {
                    self.tuning.faq_min_similarity_for_aspect
                } else {
                    self.tuning.faq_min_similarity
                };
                self.closest_faq(&q.text, item, min)
            }
            _ => None,
        };
        Understanding {
            decision: verdict.decision,
            item: verdict.item,
            aspect: (verdict.decision == Decision::Answer).then_some(aspect),
            candidates: verdict.candidates,
            faq,
            reason: verdict.reason,
            normalized: q.text,
            scores,
            signals,
        }
    }

    /// Item scores above zero, best first, and whether an item was named by its name or alias.
    fn score_items(&self, q: &Prepared, sound_factor: f32) -> (Vec<(usize, f32)>, bool) {
        let hits = self.item_words.find(q, true);
        let chars: Vec<char> = q.text.chars().collect();
        // Every (item, weight, hit) that counts: supported hits first; a sound-only hit then
        // counts only for items the others already point to.
        let mut parts: Vec<(usize, f32, &terms::Hit)> = Vec::new();
        let mut factor_of = vec![0f32; self.item_weights.len()];
        let mut supported = vec![false; self.item_count];
        for hit in hits.iter().filter(|h| !h.sound_only) {
            let mut factor = if hit.by_sound { sound_factor } else { 1.0 };
            if negated(&chars, hit.start) {
                factor *= self.tuning.negated_factor;
            }
            factor_of[hit.term] = factor;
            for &(item, weight) in &self.item_weights[hit.term] {
                parts.push((item as usize, weight * factor, hit));
                supported[item as usize] = true;
            }
        }
        for hit in hits.iter().filter(|h| h.sound_only) {
            for &(item, weight) in &self.item_weights[hit.term] {
                if supported[item as usize] {
                    parts.push((item as usize, weight * sound_factor, hit));
                }
            }
        }
        // A word inside a longer word found at the same place adds nothing: 吃低保 counts once
        // for dibao, not again as 低保; 代办点 is a place, not 代办 (the home-visit service).
        let counted: Vec<&(usize, f32, &terms::Hit)> = parts
            .iter()
            .filter(|(_, _, h)| {
                !parts.iter().any(|(_, _, o)| {
                    o.start <= h.start && h.end <= o.end && o.end - o.start > h.end - h.start
                })
            })
            .collect();
        let mut score = vec![0f32; self.item_count];
        for (item, weight, _) in &counted {
            score[*item] += weight;
        }
        let named = counted.iter().any(|(item, _, h)| {
            self.item_weights[h.term]
                .iter()
                .any(|&(i, w)| i as usize == *item && w >= self.tuning.alias_weight)
        });
        for combo in &self.combos {
            let factor = combo
                .parts
                .iter()
                .map(|&p| factor_of[p])
                .fold(1f32, f32::min);
            score[combo.item as usize] += combo.weight * factor;
        }
        // Focus: residents give context first and name what they ask about last ("有残疾证，没吃
        // 低保，能领残疾人生活补贴吗"), so the item named last by a strong word gets a small lead.
        let last = counted
            .iter()
            .filter(|(_, w, _)| *w >= self.tuning.focus_min_weight)
            .map(|(_, _, h)| h.end)
            .max();
        if let Some(end) = last {
            for (item, w, h) in &counted {
                if h.end == end && *w >= self.tuning.focus_min_weight {
                    score[*item] += self.tuning.focus_bonus;
                }
            }
        }
        for (item, sim) in self.item_similarity.query(&q.text) {
            score[item] += self.tuning.similarity_weight * sim;
        }
        let mut ranked: Vec<(usize, f32)> = score
            .into_iter()
            .enumerate()
            .filter(|(_, s)| *s > 0.0)
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        (ranked, named)
    }

    /// The item words found in `text` with the items they point to, for `ask --explain`.
    pub fn explain_words(&self, text: &str) -> Vec<WordFound> {
        let text = self.normalizer.normalize_word(text);
        let q = Prepared::new(text, &self.table);
        self.item_words
            .find(&q, true)
            .into_iter()
            .map(|hit| {
                let items = self.item_weights[hit.term]
                    .iter()
                    .map(|&(i, w)| (i as usize, w))
                    .collect();
                WordFound {
                    word: self.item_words_list[hit.term].clone(),
                    by_sound: hit.by_sound,
                    items,
                }
            })
            .collect()
    }

    fn closest_faq(&self, text: &str, item: usize, min_similarity: f32) -> Option<usize> {
        self.faq_similarity
            .query(text)
            .into_iter()
            .find(|(doc, _)| self.faq_owner[*doc].0 == item)
            .filter(|(_, sim)| *sim >= min_similarity)
            .map(|(doc, _)| self.faq_owner[doc].1)
    }
}

/// A yes/no question without a question word: "A不A" (上不上班, 要不要) or a clause ending in
/// 不 or 没 (能办不, 交了没).
fn asks_yes_no(text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    let a_not_a = chars
        .windows(3)
        .any(|w| w[1] == '不' && w[0] == w[2] && normalize::is_cjk(w[0]));
    a_not_a
        || text
            .split(' ')
            .any(|clause| clause.chars().count() > 2 && clause.ends_with(['不', '没']))
}

/// Whether the word at `start` (a character position) is negated: 没有结婚证, 没吃低保, 未激活.
/// A negated word is context ("I do not have X"), rarely the thing asked about.
/// 有没有 and 是不是 ask, they do not negate.
fn negated(chars: &[char], start: u32) -> bool {
    let before = &chars[..(start as usize).min(chars.len())];
    let asks = before.ends_with(&['有', '没', '有']) || before.ends_with(&['是', '不', '是']);
    !asks
        && (before.ends_with(&['没'])
            || before.ends_with(&['未'])
            || before.ends_with(&['没', '有'])
            || before.ends_with(&['不', '是']))
}

/// A keyword that counts only when all its parts are in the question.
struct Combo {
    parts: Vec<usize>,
    item: u32,
    weight: f32,
}

/// The item words being collected: each distinct word once, with the items it points to.
#[derive(Default)]
struct ItemWords {
    list: Vec<String>,
    weights: Vec<Vec<(u32, f32)>>,
    index: HashMap<String, usize>,
    combos: Vec<Combo>,
}

impl ItemWords {
    fn term(&mut self, word: &str) -> usize {
        if let Some(&t) = self.index.get(word) {
            return t;
        }
        self.list.push(word.to_string());
        self.weights.push(Vec::new());
        self.index.insert(word.to_string(), self.list.len() - 1);
        self.list.len() - 1
    }

    fn add(&mut self, word: &str, item: usize, weight: f32) {
        if word.is_empty() {
            return;
        }
        let t = self.term(word);
        match self.weights[t].iter_mut().find(|(i, _)| *i == item as u32) {
            Some(e) => e.1 = e.1.max(weight),
            None => self.weights[t].push((item as u32, weight)),
        }
    }

    fn add_combo(&mut self, parts: &[String], item: usize, weight: f32) {
        if parts.iter().any(String::is_empty) {
            return;
        }
        let parts = parts.iter().map(|p| self.term(p)).collect();
        self.combos.push(Combo {
            parts,
            item: item as u32,
            weight,
        });
    }
}
