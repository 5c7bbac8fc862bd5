//! What the learned models see of a normalised message: hashed keys for character 1–3-grams
//! with boundary marks, the catalog's words found in it (names, aliases, matter names: the
//! longest at each place), toneless pinyin syllables and syllable pairs (so 设保卡 and
//! "shebaoka" meet 社保卡), and cue flags the caller adds.
//!
//! General-purpose segmentation (jieba with the catalog's words added) was measured and added
//! nothing over the character n-grams (cross-validated and held-out scores equal within 0.4
//! points), while loading its dictionary took 135 ms of every start and 40 MB: the domain words
//! are what carries meaning beyond three characters.

use super::normalize::is_cjk;
use super::pinyin::{GAP, SyllableTable};
use aho_corasick::{AhoCorasick, MatchKind};
use std::hash::Hasher;

/// Feature kinds, mixed into each key so a character and a syllable never collide by design.
#[derive(Clone, Copy)]
#[repr(u8)]
pub enum Kind {
    Char = 1,
    Word = 2,
    Syllable = 3,
    Cue = 4,
}

pub fn key(kind: Kind, parts: &[char]) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    h.write_u8(kind as u8);
    for c in parts {
        h.write_u32(*c as u32);
    }
    h.finish()
}

pub struct Featurizer {
    words: AhoCorasick,
}

const START: char = '\u{2402}';
const END: char = '\u{2403}';

impl Featurizer {
    /// `words`: the catalog's names, aliases and matter names, found as whole words.
    pub fn new<'a>(words: impl IntoIterator<Item = &'a str>) -> Featurizer {
        let mut list: Vec<&str> = words
            .into_iter()
            .filter(|w| {
                w.chars().count() >= 2 && w.chars().all(|c| is_cjk(c) || c.is_alphanumeric())
            })
            .collect();
        list.sort_unstable();
        list.dedup();
        let words = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&list)
            .expect("plain words build an automaton");
        Featurizer { words }
    }

    /// Appends the keys of `text` (already normalised) to `out`, unsorted and possibly repeated.
    pub fn keys(&self, text: &str, table: &SyllableTable, out: &mut Vec<u64>) {
        self.each(text, table, |kind, parts| out.push(key(kind, parts)));
    }

    /// The keys of `text` with a readable label each, for `ask --explain`.
    pub fn labelled(&self, text: &str, table: &SyllableTable) -> Vec<(u64, String)> {
        let mut out = Vec::new();
        self.each(text, table, |kind, parts| {
            let label = match kind {
                Kind::Syllable => {
                    let s: Vec<&str> = parts.iter().map(|c| table.spelling(*c)).collect();
                    format!("音:{}", s.join(" "))
                }
                Kind::Word => format!("词:{}", parts.iter().collect::<String>()),
                _ => {
                    let s: String = parts
                        .iter()
                        .map(|c| match *c {
                            START => '^',
                            END => '$',
                            c => c,
                        })
                        .collect();
                    format!("字:{s}")
                }
            };
            out.push((key(kind, parts), label));
        });
        out
    }

    fn each(&self, text: &str, table: &SyllableTable, mut emit: impl FnMut(Kind, &[char])) {
        let mut chars: Vec<char> = Vec::with_capacity(text.len() + 2);
        for segment in text
            .split(|c: char| !(is_cjk(c) || c.is_alphanumeric()))
            .filter(|s| !s.is_empty())
        {
            chars.clear();
            chars.push(START);
            chars.extend(segment.chars());
            chars.push(END);
            for c in &chars[1..chars.len() - 1] {
                emit(Kind::Char, std::slice::from_ref(c));
            }
            for n in 2..=3 {
                for w in chars.windows(n) {
                    emit(Kind::Char, w);
                }
            }
            for m in self.words.find_iter(segment) {
                let w: Vec<char> = segment[m.range()].chars().collect();
                emit(Kind::Word, &w);
            }
        }
        let sound = table.encode(text);
        for run in sound.split(GAP).filter(|r| !r.is_empty()) {
            let codes: Vec<char> = run.chars().collect();
            for c in &codes {
                emit(Kind::Syllable, std::slice::from_ref(c));
            }
            for w in codes.windows(2) {
                emit(Kind::Syllable, w);
            }
        }
    }

    /// The catalog's words found in `text`, for `ask --explain`.
    pub fn words(&self, text: &str) -> Vec<String> {
        self.words
            .find_iter(text)
            .map(|m| text[m.range()].to_string())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(f: &Featurizer, t: &SyllableTable, text: &str) -> Vec<u64> {
        let mut out = Vec::new();
        f.keys(text, t, &mut out);
        out.sort_unstable();
        out.dedup();
        out
    }

    #[test]
    fn homophones_and_latin_pinyin_share_syllable_keys() {
        let t = SyllableTable::new();
        let f = Featurizer::new(["社保卡"]);
        let right = keys(&f, &t, "社保卡");
        let typo = keys(&f, &t, "设保卡");
        let latin = keys(&f, &t, "shebaoka");
        let pair = key(
            Kind::Syllable,
            &t.encode("社保").chars().collect::<Vec<_>>(),
        );
        for k in [&right, &typo, &latin] {
            assert!(k.contains(&pair));
        }
        // The characters differ, so the typo shares only some character keys.
        let shared = typo.iter().filter(|k| right.contains(k)).count();
        assert!(shared < right.len());
    }

    #[test]
    fn catalog_words_are_found_whole_and_longest_first() {
        let t = SyllableTable::new();
        let f = Featurizer::new(["高龄津贴", "津贴"]);
        assert_eq!(f.words("高龄津贴怎么领"), vec!["高龄津贴".to_string()]);
        let k = keys(&f, &t, "高龄津贴怎么领");
        assert!(k.contains(&key(Kind::Word, &"高龄津贴".chars().collect::<Vec<_>>())));
    }

    #[test]
    fn boundaries_mark_where_a_message_starts_and_ends() {
        let t = SyllableTable::new();
        let f = Featurizer::new([]);
        let k = keys(&f, &t, "低保");
        assert!(k.contains(&key(Kind::Char, &[START, '低'])));
        assert!(k.contains(&key(Kind::Char, &['保', END])));
        assert!(keys(&f, &t, "").is_empty());
    }
}
