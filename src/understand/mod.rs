//! Question understanding: from a resident's raw message to a decision — answer one item and
//! aspect, ask back, hand over to an agent, greet, thank, or stay silent.
//!
//! **Invariant: this module does no I/O.** [`Matcher::build`] trains the models from the
//! configuration's examples (deterministic, well under a second) and is then a pure function of
//! (text, addressed). Stages, each in its own file: [`normalize`] → [`features`] (character
//! n-grams, the catalog's words, pinyin syllables, cue flags from [`terms`] and [`aspect`]) → three
//! [`linear`] models (intent, topic, aspect) trained on [`examples`] → [`decide`].

mod aspect;
mod decide;
pub mod eval;
pub mod examples;
mod explain;
mod features;
mod linear;
pub mod normalize;
pub mod pinyin;
mod similarity;
mod terms;

pub use decide::{Decision, EscalateReason};
pub use examples::{Example, Intent, Topic};
pub use explain::Explanation;

use crate::catalog::{Aspect, Catalog, Matters};
use crate::config::{Config, Intents, Lexicon, Tuning, Vague};
use features::{Featurizer, Kind};
use linear::{Linear, Params, Row};
use normalize::Normalizer;
use pinyin::SyllableTable;
use rustc_hash::FxHashMap;
use similarity::Similarity;
use terms::{Overlap, Prepared, TermSet};

/// Questions are read up to this many characters; a pasted article is not a question, and the
/// cap keeps a hostile 1 MB message as cheap as a long one.
pub const MAX_QUESTION_CHARS: usize = 1000;

/// The first bytes of a saved trained state; bump when the features or the format change.
const STATE_MAGIC: &[u8] = b"bangban-matcher-3\n";

/// How much a vague example counts, spread over its family: more than one example, since a
/// few vague questions must outweigh the many clear ones that share their topic word.
const VAGUE_WEIGHT: f32 = 3.0;

/// How many items an understanding keeps with their probabilities.
const TOP_ITEMS: usize = 6;

/// One example in this many is also taught in toneless pinyin.
const PINYIN_EVERY: usize = 4;

/// What the bot made of one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Understanding {
    pub decision: Decision,
    /// The item answered, or the item a hand-over is about (index into the catalog's items);
    /// a hand-over names an item only when the understanding was confident.
    pub item: Option<usize>,
    /// The asked aspect, for answers (possibly finer than the contract's nine, see
    /// [`Aspect::contract`]).
    pub aspect: Option<Aspect>,
    /// Items offered when asking back, or the likely items of a hand-over without an item.
    pub candidates: Vec<usize>,
    /// The FAQ entry (index into the item's `faq`) that answers the question, if one matches.
    pub faq: Option<usize>,
    /// Why the message is handed over, for escalations.
    pub reason: Option<EscalateReason>,
    /// The listed matter without a guide the question is about (index into the matters).
    pub matter: Option<usize>,
    pub intent: Intent,
    /// Item probabilities, best first (the top few).
    pub items: Vec<(usize, f32)>,
    /// Probability of a listed matter without a guide.
    pub matter_prob: f32,
    /// The normalised text (for logs and tickets).
    pub normalized: String,
    pub signals: Signals,
}

/// Cue flags found in a message; the models weigh them with the words.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Signals {
    pub empty: bool,
    pub question: bool,
    pub greeting: bool,
    pub case: bool,
    pub complaint: bool,
    pub statement: bool,
    /// A matter the guide does not cover is named by the lexicon's cues.
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

/// A message made ready for the models.
struct Read {
    prepared: Prepared,
    /// See [`normalize::Normalized::surface`]: what taught questions are recognised by.
    surface: String,
    signals: Signals,
    addressed_by_name: bool,
    cue_aspect: Option<Aspect>,
    /// Distinct known feature columns, sorted.
    columns: Vec<u32>,
}

/// The understanding step: trained once per catalog and shared.
pub struct Matcher {
    normalizer: Normalizer,
    table: SyllableTable,
    featurizer: Featurizer,
    cues: CueSets,
    aspects: aspect::AspectDetector,
    vocab: FxHashMap<u64, u32>,
    intent: Linear,
    topic: Linear,
    aspect: Linear,
    matters: Similarity,
    faq_similarity: Similarity,
    faq_owner: Vec<(usize, usize)>,
    /// The normalised FAQ questions, in `faq_owner` order.
    faq_texts: Vec<String>,
    /// Per item: its names and aliases, normalised (what a FAQ question says beyond them counts).
    item_names: Vec<Vec<String>>,
    tuning: Tuning,
    item_count: usize,
    /// Topic classes of matters without a guide: one per guide item they neighbour, one for
    /// the rest (each group learns what tells it apart from its neighbour).
    matter_group: Vec<usize>,
    matter_groups: usize,
    example_count: usize,
    /// The catalog's own example questions, by their surface form (not reworded: a dialect
    /// example must not teach the plain question it rewrites to) → (item, the aspect it is
    /// filed under):
    /// a question asked exactly as an admin taught it is answered as taught, whatever weight
    /// the models give one example among thousands. Empty in cross-validation, which trains
    /// on part of the examples and must not remember the rest.
    taught: FxHashMap<String, (usize, Aspect)>,
}

impl Matcher {
    pub fn new(config: &Config) -> Matcher {
        Matcher::build(
            &config.catalog,
            &config.matters,
            &config.intents,
            &config.vague,
            &config.lexicon,
            &config.tuning,
        )
    }

    /// Trains on the catalog's, the matters' and the intents' examples.
    pub fn build(
        catalog: &Catalog,
        matters: &Matters,
        intents: &Intents,
        vague: &Vague,
        lexicon: &Lexicon,
        tuning: &Tuning,
    ) -> Matcher {
        let examples = examples::collect(catalog, matters, intents, vague);
        let mut m = Matcher::train(catalog, matters, lexicon, tuning, &examples);
        m.remember_taught(catalog);
        m
    }

    /// Fills [`Matcher::taught`] from every item's examples filed under an aspect; a question
    /// filed under two items is left to the models.
    fn remember_taught(&mut self, catalog: &Catalog) {
        let mut taught: FxHashMap<String, Option<(usize, Aspect)>> = FxHashMap::default();
        for (i, item) in catalog.items().iter().enumerate() {
            for (key, questions) in &item.examples {
                let Some(aspect) = Aspect::from_name(key) else {
                    continue;
                };
                for q in questions {
                    let text = self.read_keys(q).0.surface;
                    taught
                        .entry(text)
                        .and_modify(|e| {
                            if e.is_some_and(|(other, _)| other != i) {
                                *e = None;
                            }
                        })
                        .or_insert(Some((i, aspect)));
                }
            }
        }
        self.taught = taught
            .into_iter()
            .filter_map(|(t, e)| Some((t, e?)))
            .collect();
    }

    /// Trains on the given examples (cross-validation leaves some out).
    pub fn train(
        catalog: &Catalog,
        matters: &Matters,
        lexicon: &Lexicon,
        tuning: &Tuning,
        examples: &[Example],
    ) -> Matcher {
        let normalizer = Normalizer::new(
            &lexicon.rewrite_pairs(),
            &lexicon.confusable_pairs(),
            &lexicon.bot_names,
        );
        let table = SyllableTable::new();
        let mut words: Vec<String> = Vec::new();
        let mut item_names = Vec::new();
        let mut faq_docs = Vec::new();
        let mut faq_owner = Vec::new();
        for (i, item) in catalog.items().iter().enumerate() {
            let names: Vec<String> = [&item.name, &item.short_name()]
                .into_iter()
                .chain(&item.aliases)
                .map(|n| normalizer.normalize_word(n))
                .collect();
            words.extend(names.iter().cloned());
            item_names.push(names);
            for (f, faq) in item.faq.iter().enumerate() {
                faq_docs.push((faq_owner.len(), normalizer.normalize_word(&faq.q)));
                faq_owner.push((i, f));
            }
        }
        let mut matter_docs = Vec::new();
        for (m, matter) in matters.list().iter().enumerate() {
            let name = normalizer.normalize_word(&matter.name);
            words.push(name.clone());
            matter_docs.push((m, name));
            for q in &matter.examples {
                matter_docs.push((m, normalizer.normalize_word(q)));
            }
        }
        let featurizer = Featurizer::new(words.iter().map(String::as_str));
        let cue = |list: &[String]| {
            let canon: Vec<String> = list.iter().map(|w| normalizer.normalize_word(w)).collect();
            TermSet::new(&canon, &table, tuning.min_sound_chars.max(2), Overlap::All)
        };
        let patterns = |list: &[String]| {
            regex::RegexSet::new(list).expect("patterns are checked when the lexicon loads")
        };
        let cues = CueSets {
            question: cue(&lexicon.cues.question),
            greeting: cue(&lexicon.cues.greeting),
            case: cue(&lexicon.cues.case),
            case_patterns: patterns(&lexicon.cues.case_patterns),
            request_patterns: patterns(&lexicon.cues.request_patterns),
            complaint: cue(&lexicon.cues.complaint),
            complaint_patterns: patterns(&lexicon.cues.complaint_patterns),
            statement: cue(&lexicon.cues.statement),
            uncovered: cue(&lexicon.cues.uncovered),
            uncovered_patterns: patterns(&lexicon.cues.uncovered_patterns),
        };
        let aspects = aspect::AspectDetector::new(lexicon, &normalizer, &table, tuning);
        let mut m = Matcher {
            normalizer,
            table,
            featurizer,
            cues,
            aspects,
            vocab: FxHashMap::default(),
            intent: Linear::train(&[], 0, 0, &params(tuning)),
            topic: Linear::train(&[], 0, 0, &params(tuning)),
            aspect: Linear::train(&[], 0, 0, &params(tuning)),
            matters: Similarity::new(&matter_docs),
            faq_similarity: Similarity::new(&faq_docs),
            faq_texts: faq_docs.into_iter().map(|(_, t)| t).collect(),
            faq_owner,
            item_names,
            tuning: tuning.clone(),
            item_count: catalog.len(),
            matter_group: Vec::new(),
            matter_groups: 0,
            example_count: examples.len(),
            taught: FxHashMap::default(),
        };
        let mut groups: Vec<Option<&str>> = Vec::new();
        for matter in matters.list() {
            let key = matter.neighbours.first().map(String::as_str);
            let g = match groups.iter().position(|k| *k == key) {
                Some(g) => g,
                None => {
                    groups.push(key);
                    groups.len() - 1
                }
            };
            m.matter_group.push(g);
        }
        m.matter_groups = groups.len().max(1);
        m.fit(&examples::with_pinyin(examples, PINYIN_EVERY));
        m
    }

    fn fit(&mut self, examples: &[Example]) {
        let n = self.item_count;
        let mut keyed: Vec<Vec<u64>> = Vec::with_capacity(examples.len());
        for e in examples {
            let (read, keys) = self.read_keys(&e.text);
            drop(read);
            for &k in &keys {
                let next = self.vocab.len() as u32;
                self.vocab.entry(k).or_insert(next);
            }
            keyed.push(keys);
        }
        let columns: Vec<Vec<u32>> = keyed.iter().map(|k| self.columns(k)).collect();
        let (mut intent, mut topic, mut aspect) = (Vec::new(), Vec::new(), Vec::new());
        for (e, cols) in examples.iter().zip(&columns) {
            let row = |class: usize| Row {
                features: cols.clone(),
                class: class as u32,
                weight: 1.0,
            };
            let i = Intent::ALL.iter().position(|x| *x == e.intent).unwrap_or(0);
            intent.push(row(i));
            match &e.topic {
                Some(Topic::Item(i)) => topic.push(row(*i)),
                Some(Topic::Matter(m)) => topic.push(row(n + self.matter_group[*m])),
                Some(Topic::Nothing) => topic.push(row(n + self.matter_groups)),
                // A soft label: the probability spread over the family.
                Some(Topic::Among(items)) => {
                    for &i in items {
                        topic.push(Row {
                            weight: VAGUE_WEIGHT / items.len() as f32,
                            ..row(i)
                        });
                    }
                }
                None => {}
            }
            if let Some(a) = e.aspect {
                aspect.push(row(a as usize));
            }
        }
        let p = params(&self.tuning);
        let balance = self.tuning.class_balance;
        for rows in [&mut intent, &mut topic, &mut aspect] {
            balance_classes(rows, balance);
        }
        let features = self.vocab.len();
        let topics = n + self.matter_groups + 1;
        // The three models are independent: trained side by side.
        let (a, b, c) = std::thread::scope(|s| {
            let topic = s.spawn(|| Linear::train(&topic, features, topics, &p));
            let aspect = s.spawn(|| Linear::train(&aspect, features, Aspect::ALL.len(), &p));
            let intent = Linear::train(&intent, features, Intent::ALL.len(), &p);
            (
                intent,
                topic.join().expect("training does not panic"),
                aspect.join().expect("training does not panic"),
            )
        });
        (self.intent, self.topic, self.aspect) = (a, b, c);
    }

    /// The trained state (vocabulary and the three models), for the model cache. Training is
    /// deterministic, so a state saved for the same inputs is the state training would make.
    pub fn trained_state(&self) -> Vec<u8> {
        let mut out = STATE_MAGIC.to_vec();
        linear::put(&mut out, self.example_count as u32);
        linear::put(&mut out, self.vocab.len() as u32);
        let mut vocab: Vec<(&u64, &u32)> = self.vocab.iter().collect();
        vocab.sort_by_key(|(_, c)| **c);
        for (k, c) in vocab {
            out.extend_from_slice(&k.to_le_bytes());
            linear::put(&mut out, *c);
        }
        for m in [&self.intent, &self.topic, &self.aspect] {
            m.write(&mut out);
        }
        out
    }

    /// Builds the matcher from a state saved by [`Matcher::trained_state`] instead of training;
    /// None when the bytes are not a state for this configuration's shape.
    pub fn from_state(
        catalog: &Catalog,
        matters: &Matters,
        lexicon: &Lexicon,
        tuning: &Tuning,
        state: &[u8],
    ) -> Option<Matcher> {
        let mut m = Matcher::train(catalog, matters, lexicon, tuning, &[]);
        let mut r = linear::Reader(state.strip_prefix(STATE_MAGIC)?);
        m.example_count = r.u32()? as usize;
        let n = r.u32()? as usize;
        let mut vocab = FxHashMap::default();
        vocab.reserve(n.min(r.left() / 12));
        for _ in 0..n {
            let k = r.u64()?;
            let c = r.u32()?;
            if c as usize >= n {
                return None;
            }
            vocab.insert(k, c);
        }
        let (intent, topic, aspect) = (
            Linear::read(&mut r)?,
            Linear::read(&mut r)?,
            Linear::read(&mut r)?,
        );
        let classes_ok = intent.classes() == Intent::ALL.len()
            && topic.classes() == m.item_count + m.matter_groups + 1
            && aspect.classes() == Aspect::ALL.len()
            && [&intent, &topic, &aspect].iter().all(|l| l.features() == n);
        if !classes_ok || r.left() != 0 {
            return None;
        }
        (m.vocab, m.intent, m.topic, m.aspect) = (vocab, intent, topic, aspect);
        m.remember_taught(catalog);
        Some(m)
    }

    /// Replaces the decision thresholds (the models stay as trained), for threshold sweeps.
    pub fn set_tuning(&mut self, tuning: &Tuning) {
        self.tuning = tuning.clone();
    }

    /// How many examples the models were trained on.
    pub fn example_count(&self) -> usize {
        self.example_count
    }

    /// Understands one message. `addressed`: the bot was @-mentioned, or the chat is private.
    /// Only the first [`MAX_QUESTION_CHARS`] characters are read.
    pub fn understand(&self, text: &str, addressed: bool) -> Understanding {
        let read = self.read(text);
        let addressed = addressed || read.addressed_by_name;
        let intent = self.intent.predict(&read.columns);
        let topic = self.topic.predict(&read.columns);
        let n = self.item_count;
        let mut items: Vec<(usize, f32)> = topic[..n].iter().copied().enumerate().collect();
        let best_first =
            |a: &(usize, f32), b: &(usize, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        // The top few only: a 1,000-item catalog must not sort a thousand per question.
        if items.len() > TOP_ITEMS {
            items.select_nth_unstable_by(TOP_ITEMS, best_first);
            items.truncate(TOP_ITEMS);
        }
        items.sort_by(best_first);
        let matter_prob = topic[n..n + self.matter_groups].iter().sum();
        let probs = decide::Probs {
            intent: &intent,
            items: &items,
            matter: matter_prob,
        };
        let mut verdict = decide::decide(&probs, read.signals.empty, addressed, &self.tuning);
        let taught = self.taught.get(&read.surface).copied();
        if let Some((item, _)) = taught
            && addressed
        {
            verdict = decide::Verdict::answer(item);
        }
        let aspect = (verdict.decision == Decision::Answer).then(|| match taught {
            Some((item, aspect)) if verdict.item == Some(item) => aspect,
            _ => self.aspect_of(&read),
        });
        let faq = match (verdict.decision, verdict.item) {
            (Decision::Answer, Some(item)) => self.matching_faq(&read.prepared.text, item),
            _ => None,
        };
        let matter = verdict
            .matter
            .then(|| self.matters.query(&read.prepared.text).first().map(|m| m.0))
            .flatten();
        Understanding {
            decision: verdict.decision,
            item: verdict.item,
            aspect,
            candidates: verdict.candidates,
            faq,
            reason: verdict.reason,
            matter,
            intent: probs.intent().0,
            items,
            matter_prob,
            normalized: read.prepared.text,
            signals: read.signals,
        }
    }

    /// The aspect: an aspect the lexicon's cues clearly ask (要带什么, 在哪办) wins; the model
    /// decides otherwise, and always when it finds a finer aspect the cues cannot tell (交多少 is
    /// the premium, 能领多少 the benefit, 几时截止 the window).
    fn aspect_of(&self, read: &Read) -> Aspect {
        let p = self.aspect.predict(&read.columns);
        let (best, prob) = p
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or((0, 0.0), |x| (x.0, *x.1));
        let model = Aspect::ALL[best];
        match read.cue_aspect {
            _ if model.contract() != model && prob >= 0.5 => model,
            Some(cue) => cue,
            None => model,
        }
    }

    fn read(&self, text: &str) -> Read {
        let (read, keys) = self.read_keys(text);
        Read {
            columns: self.columns(&keys),
            ..read
        }
    }

    /// Normalises, finds the cues and lists the feature keys of a message.
    fn read_keys(&self, text: &str) -> (Read, Vec<u64>) {
        let text = match text.char_indices().nth(MAX_QUESTION_CHARS) {
            Some((cut, _)) => &text[..cut],
            None => text,
        };
        let norm = self.normalizer.normalize(text);
        let q = Prepared::new(norm.text, &self.table);
        // Latin pinyin is spelled on purpose: only there are cue words looked for by sound.
        let latin = !q.text.chars().any(normalize::is_cjk);
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
                || self.cues.uncovered.any(&q, latin),
            how_to,
        };
        let mut keys = Vec::with_capacity(q.text.len() * 3);
        self.featurizer.keys(&q.text, &self.table, &mut keys);
        if !signals.empty {
            for (flag, on) in cue_flags(&signals) {
                if on {
                    keys.push(features::key(Kind::Cue, &[flag]));
                }
            }
            if aspect != Aspect::Overview {
                let tag = if how_to { 'A' } else { 'a' };
                keys.push(features::key(Kind::Cue, &[tag, aspect as u8 as char]));
            }
        }
        let read = Read {
            prepared: q,
            surface: norm.surface,
            signals,
            addressed_by_name: norm.called_by_name,
            cue_aspect: how_to.then_some(aspect),
            columns: Vec::new(),
        };
        (read, keys)
    }

    fn columns(&self, keys: &[u64]) -> Vec<u32> {
        let mut cols: Vec<u32> = keys
            .iter()
            .filter_map(|k| self.vocab.get(k).copied())
            .collect();
        cols.sort_unstable();
        cols.dedup();
        cols
    }

    /// The FAQ entry of `item` whose question is the asked one: similar overall, and what it
    /// says beyond the item's name is in the question ("残疾证咋办" is not "残疾证丢了怎么补办").
    fn matching_faq(&self, text: &str, item: usize) -> Option<usize> {
        let t = &self.tuning;
        let names = &self.item_names[item];
        let asked = bigrams(text);
        self.faq_similarity
            .query(text)
            .into_iter()
            .filter(|(doc, sim)| self.faq_owner[*doc].0 == item && *sim >= t.faq_min_similarity)
            .find(|(doc, _)| {
                let beyond: Vec<(char, char)> = bigrams(&self.faq_texts[*doc])
                    .into_iter()
                    .filter(|g| !names.iter().any(|n| contains_bigram(n, *g)))
                    .collect();
                let held = beyond.iter().filter(|g| asked.contains(g)).count();
                beyond.is_empty() || held as f32 / beyond.len() as f32 >= t.faq_min_coverage
            })
            .map(|(doc, _)| self.faq_owner[doc].1)
    }
}

/// Weighs each example by (mean class size / its class's size)^`power`: 0 leaves the classes
/// as they are, 1 makes every class weigh alike. Without it the many matters and questions
/// would make "a listed matter" and "a question" the answer to anything unclear.
fn balance_classes(rows: &mut [Row], power: f32) {
    let mut counts: FxHashMap<u32, f32> = FxHashMap::default();
    for r in rows.iter() {
        *counts.entry(r.class).or_default() += r.weight;
    }
    let total: f32 = counts.values().sum();
    let mean = total / counts.len().max(1) as f32;
    for r in rows.iter_mut() {
        r.weight *= (mean / counts[&r.class]).powf(power);
    }
}

fn params(t: &Tuning) -> Params {
    Params {
        epochs: t.epochs,
        learning_rate: t.learning_rate,
        l2: t.l2,
    }
}

/// The cue flags as feature characters.
fn cue_flags(s: &Signals) -> [(char, bool); 7] {
    [
        ('q', s.question),
        ('g', s.greeting),
        ('c', s.case),
        ('p', s.complaint),
        ('s', s.statement),
        ('u', s.uncovered),
        ('h', s.how_to),
    ]
}

fn bigrams(text: &str) -> Vec<(char, char)> {
    let chars: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
    chars.windows(2).map(|w| (w[0], w[1])).collect()
}

fn contains_bigram(word: &str, g: (char, char)) -> bool {
    bigrams(word).contains(&g)
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
