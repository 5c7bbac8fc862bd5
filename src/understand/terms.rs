//! Stage 2: find the lexicon's words in a question, exactly and by sound.
//!
//! All words of one kind (item words, or one set of cues) go into one [`TermSet`]. Matching is
//! overlapping: every listed word present counts once, so a long alias and the shorter words
//! inside it both add evidence. A word found only by sound (homophone typo, Latin pinyin) is
//! flagged `by_sound`; words shorter than `min_sound_chars` are never matched by sound.

use super::pinyin::SyllableTable;
use aho_corasick::{AhoCorasick, MatchKind};

/// A question prepared for matching: its canonical text and its sound encoding.
pub struct Prepared {
    pub text: String,
    pub sound: String,
}

/// One word found in a question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    /// Index of the word in the set, in the order given to [`TermSet::new`].
    pub term: usize,
    pub by_sound: bool,
}

pub struct TermSet {
    exact: Option<AhoCorasick>,
    sound: Option<(AhoCorasick, Vec<usize>)>,
    len: usize,
}

impl TermSet {
    pub fn new<S: AsRef<str>>(words: &[S], table: &SyllableTable, min_sound_chars: usize) -> TermSet {
        let build = |pats: Vec<&str>| {
            (!pats.is_empty()).then(|| {
                AhoCorasick::builder()
                    .match_kind(MatchKind::Standard)
                    .build(pats)
                    .expect("plain string patterns")
            })
        };
        let exact = build(words.iter().map(|w| w.as_ref()).collect());
        let mut sound_words = Vec::new();
        let mut sound_ids = Vec::new();
        for (i, w) in words.iter().enumerate() {
            let w = w.as_ref();
            let code = table.encode(w);
            if w.chars().count() >= min_sound_chars && !code.contains(' ') && !code.is_empty() {
                sound_words.push(code);
                sound_ids.push(i);
            }
        }
        let sound = build(sound_words.iter().map(String::as_str).collect()).map(|ac| (ac, sound_ids));
        TermSet {
            exact,
            sound,
            len: words.len(),
        }
    }

    /// Every word of the set present in the question, each once; exact matches win over sound.
    pub fn find(&self, q: &Prepared) -> Vec<Hit> {
        let mut seen = vec![0u8; self.len];
        let mut hits = Vec::new();
        if let Some(ac) = &self.exact {
            for m in ac.find_overlapping_iter(&q.text) {
                let t = m.pattern().as_usize();
                if seen[t] == 0 {
                    seen[t] = 1;
                    hits.push(Hit {
                        term: t,
                        by_sound: false,
                    });
                }
            }
        }
        if let Some((ac, ids)) = &self.sound {
            for m in ac.find_overlapping_iter(&q.sound) {
                let t = ids[m.pattern().as_usize()];
                if seen[t] == 0 {
                    seen[t] = 1;
                    hits.push(Hit {
                        term: t,
                        by_sound: true,
                    });
                }
            }
        }
        hits
    }

    /// Whether any word of the set is in the question, exactly or by sound.
    pub fn any(&self, q: &Prepared) -> bool {
        self.exact.as_ref().is_some_and(|ac| ac.is_match(&q.text))
            || self.sound.as_ref().is_some_and(|(ac, _)| ac.is_match(&q.sound))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prep(t: &SyllableTable, s: &str) -> Prepared {
        Prepared {
            text: s.to_string(),
            sound: t.encode(s),
        }
    }

    #[test]
    fn exact_overlapping_and_by_sound() {
        let t = SyllableTable::new();
        let set = TermSet::new(&["社保卡", "社保卡激活", "激活", "交"], &t, 2);
        let hits = set.find(&prep(&t, "社保卡激活"));
        assert_eq!(hits.len(), 3);
        assert!(hits.iter().all(|h| !h.by_sound));
        let hits = set.find(&prep(&t, "设保卡急活"));
        let terms: Vec<usize> = hits.iter().map(|h| h.term).collect();
        assert!(terms.contains(&0) && terms.contains(&1) && terms.contains(&2));
        assert!(hits.iter().all(|h| h.by_sound));
    }

    #[test]
    fn single_characters_never_match_by_sound() {
        let t = SyllableTable::new();
        let set = TermSet::new(&["交"], &t, 2);
        assert!(set.find(&prep(&t, "胶")).is_empty());
        assert_eq!(set.find(&prep(&t, "交")).len(), 1);
    }
}
