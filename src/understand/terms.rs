//! Stage 2: find the lexicon's words in a question, exactly and by sound.
//!
//! All words of one kind (item words, or one set of cues) go into one [`TermSet`]. Matching is
//! overlapping: every listed word present counts once, so a long alias and the shorter words
//! inside it both add evidence. A word found only by sound (homophone typo, Latin pinyin) is
//! flagged `by_sound`; words shorter than `min_sound_chars` are matched by sound only where the
//! resident typed Latin pinyin ("yibao zai na jiao" finds 交, but 胶 does not).

use super::pinyin::{GAP, SyllableTable};
use aho_corasick::{AhoCorasick, MatchKind};

/// A question prepared for matching: its canonical text and its sound encoding.
pub struct Prepared {
    pub text: String,
    pub sound: String,
    /// For each sound code, the character it came from (None: Latin pinyin or a gap) and that
    /// character's index in `text`.
    pub sound_source: Vec<(Option<char>, u32)>,
    /// Byte offset of each character of `text`, to turn match offsets into character positions.
    char_starts: Vec<usize>,
}

impl Prepared {
    pub fn new(text: String, table: &SyllableTable) -> Prepared {
        let (sound, sound_source) = table.encode_with_source(&text);
        let char_starts = text.char_indices().map(|(b, _)| b).collect();
        Prepared {
            text,
            sound,
            sound_source,
            char_starts,
        }
    }

    /// The character position of a byte offset of `text`.
    pub fn char_pos(&self, byte: usize) -> u32 {
        self.char_starts.partition_point(|&b| b < byte) as u32
    }
}

/// One word found in a question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    /// Index of the word in the set, in the order given to [`TermSet::new`].
    pub term: usize,
    pub by_sound: bool,
    /// Found by sound with no character in common and no Latin pinyin: 钱一 for 迁移. Such a
    /// hit is only a typo when other words support it (急活 next to 设保卡).
    pub sound_only: bool,
    /// Where the (first) occurrence is, in characters of the question: `start..end`.
    pub start: u32,
    pub end: u32,
}

/// How words that overlap in a question count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlap {
    /// Every word present counts (item evidence: an alias and the words inside it).
    All,
    /// A word inside a longer word found at the same place does not count (cue phrases:
    /// "在哪里" is one place cue, not "在哪" plus "哪里"; "要去哪" still has both "要去" and "去哪").
    Maximal,
}

pub struct TermSet {
    exact: Option<(AhoCorasick, Vec<usize>)>,
    sound: Option<(AhoCorasick, Vec<usize>)>,
    sound_chars: Vec<Vec<char>>,
    /// Sound patterns of words shorter than `min_sound_chars`: Latin pinyin only.
    sound_short: Vec<bool>,
    len: usize,
    overlap: Overlap,
}

impl TermSet {
    pub fn new<S: AsRef<str>>(
        words: &[S],
        table: &SyllableTable,
        min_sound_chars: usize,
        overlap: Overlap,
    ) -> TermSet {
        let build = |pats: Vec<&str>| {
            (!pats.is_empty()).then(|| {
                AhoCorasick::builder()
                    .match_kind(MatchKind::Standard)
                    .build(pats)
                    .expect("plain string patterns")
            })
        };
        // An empty word would match everywhere: it is never looked for.
        let exact_ids: Vec<usize> = (0..words.len())
            .filter(|&i| !words[i].as_ref().is_empty())
            .collect();
        let exact =
            build(exact_ids.iter().map(|&i| words[i].as_ref()).collect()).map(|ac| (ac, exact_ids));
        let mut sound_words = Vec::new();
        let mut sound_ids = Vec::new();
        let mut sound_chars = Vec::new();
        let mut sound_short = Vec::new();
        for (i, w) in words.iter().enumerate() {
            let w = w.as_ref();
            let code = table.encode(w);
            if !code.contains(GAP) && !code.is_empty() {
                sound_words.push(code);
                sound_ids.push(i);
                sound_chars.push(w.chars().collect());
                sound_short.push(w.chars().count() < min_sound_chars);
            }
        }
        let sound =
            build(sound_words.iter().map(String::as_str).collect()).map(|ac| (ac, sound_ids));
        TermSet {
            exact,
            sound,
            sound_chars,
            sound_short,
            len: words.len(),
            overlap,
        }
    }

    /// Every word of the set present in the question, each once; exact matches win over sound.
    /// `by_sound`: also look for words by sound.
    pub fn find(&self, q: &Prepared, by_sound: bool) -> Vec<Hit> {
        let mut seen = vec![0u8; self.len];
        let mut hits = Vec::new();
        if let Some((ac, ids)) = &self.exact {
            for m in self.matches(ac, &q.text) {
                let t = ids[m.pattern().as_usize()];
                if seen[t] == 0 {
                    seen[t] = 1;
                    hits.push(Hit {
                        term: t,
                        by_sound: false,
                        sound_only: false,
                        start: q.char_pos(m.start()),
                        end: q.char_pos(m.end()),
                    });
                }
            }
        }
        if let Some((ac, ids)) = self.sound.as_ref().filter(|_| by_sound) {
            for m in self.matches(ac, &q.sound) {
                let p = m.pattern().as_usize();
                let t = ids[p];
                // Every code is 3 bytes, so byte offsets divide into code positions.
                let (at, to) = (m.start() / 3, m.end() / 3);
                let latin =
                    || (at..to).all(|i| q.sound_source.get(i).is_some_and(|s| s.0.is_none()));
                if self.sound_short[p] && !latin() {
                    continue;
                }
                if seen[t] == 0 {
                    seen[t] = 1;
                    let shares = self.sound_chars[p].iter().enumerate().any(|(k, c)| {
                        q.sound_source
                            .get(at + k)
                            .is_none_or(|src| src.0.is_none_or(|s| s == *c))
                    });
                    let pos = |i: usize| q.sound_source.get(i).map_or(0, |s| s.1);
                    hits.push(Hit {
                        term: t,
                        by_sound: true,
                        sound_only: !shares,
                        start: pos(at),
                        end: pos(to.saturating_sub(1)) + 1,
                    });
                }
            }
        }
        hits
    }

    fn matches(&self, ac: &AhoCorasick, text: &str) -> Vec<aho_corasick::Match> {
        let all: Vec<aho_corasick::Match> = ac.find_overlapping_iter(text).collect();
        match self.overlap {
            Overlap::All => all,
            Overlap::Maximal => all
                .iter()
                .filter(|m| {
                    !all.iter()
                        .any(|o| o.start() <= m.start() && m.end() <= o.end() && o.len() > m.len())
                })
                .copied()
                .collect(),
        }
    }

    /// Whether any word of the set is in the question (`by_sound`: also by sound).
    pub fn any(&self, q: &Prepared, by_sound: bool) -> bool {
        self.exact
            .as_ref()
            .is_some_and(|(ac, _)| ac.is_match(&q.text))
            || (by_sound
                && self
                    .sound
                    .as_ref()
                    .is_some_and(|(ac, _)| ac.is_match(&q.sound)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prep(t: &SyllableTable, s: &str) -> Prepared {
        Prepared::new(s.to_string(), t)
    }

    #[test]
    fn exact_overlapping_and_by_sound() {
        let t = SyllableTable::new();
        let set = TermSet::new(&["社保卡", "社保卡激活", "激活", "交"], &t, 2, Overlap::All);
        let hits = set.find(&prep(&t, "社保卡激活"), true);
        assert_eq!(hits.len(), 3);
        assert!(hits.iter().all(|h| !h.by_sound));
        let hits = set.find(&prep(&t, "设保卡急活"), true);
        let terms: Vec<usize> = hits.iter().map(|h| h.term).collect();
        assert!(terms.contains(&0) && terms.contains(&1) && terms.contains(&2));
        assert!(hits.iter().all(|h| h.by_sound));
        assert!(set.find(&prep(&t, "设保卡急活"), false).is_empty());
        assert!(
            hits.iter().all(|h| !h.sound_only),
            "设保卡 shares 保卡, 急活 shares 活"
        );
    }

    #[test]
    fn an_empty_word_matches_nothing() {
        let t = SyllableTable::new();
        let set = TermSet::new(&["", "低保"], &t, 2, Overlap::All);
        assert!(!set.any(&prep(&t, "今天天气好"), true));
        assert_eq!(set.find(&prep(&t, "低保"), true)[0].term, 1);
    }

    #[test]
    fn sound_alikes_with_no_common_character_are_flagged() {
        let t = SyllableTable::new();
        let set = TermSet::new(&["迁移"], &t, 2, Overlap::All);
        let hits = set.find(&prep(&t, "这 钱一个人"), true);
        assert_eq!(hits.len(), 1);
        assert!(hits[0].sound_only);
        assert_eq!(
            (hits[0].start, hits[0].end),
            (2, 4),
            "positions are characters of the text"
        );
        let hits = set.find(&prep(&t, "qianyi"), true);
        assert!(!hits[0].sound_only, "Latin pinyin is spelled on purpose");
    }

    #[test]
    fn maximal_drops_words_inside_longer_ones_only() {
        let t = SyllableTable::new();
        let set = TermSet::new(
            &["在哪", "哪里", "在哪里", "要去", "去哪"],
            &t,
            2,
            Overlap::Maximal,
        );
        let hits = set.find(&prep(&t, "在哪里办"), false);
        assert_eq!(hits.iter().map(|h| h.term).collect::<Vec<_>>(), vec![2]);
        assert_eq!((hits[0].start, hits[0].end), (0, 3));
        let terms: Vec<usize> = set
            .find(&prep(&t, "要去哪"), false)
            .iter()
            .map(|h| h.term)
            .collect();
        assert_eq!(terms, vec![3, 4]);
    }

    #[test]
    fn single_characters_match_by_sound_only_in_latin_pinyin() {
        let t = SyllableTable::new();
        let set = TermSet::new(&["交"], &t, 2, Overlap::All);
        assert!(set.find(&prep(&t, "胶"), true).is_empty());
        assert_eq!(set.find(&prep(&t, "交"), true).len(), 1);
        let hits = set.find(&prep(&t, "zai na jiao"), true);
        assert_eq!(
            hits.len(),
            1,
            "typed in Latin pinyin, one syllable is enough"
        );
    }
}
