//! Sound-alike matching: text is re-encoded as a string of syllable codes so that homophone
//! typos (设保卡 → 社保卡, 急活 → 激活) and pinyin typed in Latin letters ("shebaoka") meet the
//! same words. Each syllable (toneless, first reading) becomes one private-use character.

use pinyin::ToPinyin;
use std::collections::HashMap;

const CJK_START: u32 = 0x4E00;
const CJK_END: u32 = 0x9FFF;
const CODE_BASE: u32 = 0xE000;
const NO_SYLLABLE: u16 = u16::MAX;
/// The code for characters that have no sound (digits, punctuation, non-pinyin Latin).
pub const GAP: char = '\u{EFFF}';
/// Longer Latin runs are not read as pinyin (no resident types 60 letters of it).
const MAX_PINYIN_WORD: usize = 60;

/// Maps characters and Latin pinyin to syllable codes. Built once (a few milliseconds).
pub struct SyllableTable {
    by_char: Vec<u16>,
    by_spelling: HashMap<&'static str, u16>,
    longest_spelling: usize,
}

impl SyllableTable {
    pub fn new() -> SyllableTable {
        let mut by_spelling: HashMap<&'static str, u16> = HashMap::new();
        let mut by_char = Vec::with_capacity((CJK_END - CJK_START + 1) as usize);
        for cp in CJK_START..=CJK_END {
            let code = char::from_u32(cp)
                .and_then(|c| c.to_pinyin())
                .map(|p| {
                    let next = by_spelling.len() as u16;
                    *by_spelling.entry(p.plain()).or_insert(next)
                })
                .unwrap_or(NO_SYLLABLE);
            by_char.push(code);
        }
        let longest_spelling = by_spelling.keys().map(|s| s.len()).max().unwrap_or(0);
        SyllableTable {
            by_char,
            by_spelling,
            longest_spelling,
        }
    }

    fn code_of_char(&self, c: char) -> Option<char> {
        let cp = c as u32;
        if !(CJK_START..=CJK_END).contains(&cp) {
            return None;
        }
        match self.by_char[(cp - CJK_START) as usize] {
            NO_SYLLABLE => None,
            code => char::from_u32(CODE_BASE + code as u32),
        }
    }

    /// The toneless spelling of a syllable code ("?" for anything else).
    pub fn spelling(&self, code: char) -> &'static str {
        let n = (code as u32).wrapping_sub(CODE_BASE);
        self.by_spelling
            .iter()
            .find(|(_, c)| u32::from(**c) == n)
            .map_or("?", |(s, _)| *s)
    }

    /// Encodes normalised text: Chinese characters become their syllable code, runs of Latin
    /// letters that spell pinyin syllables become codes too, spaces are dropped, anything else
    /// becomes a [`GAP`]. Every code is one 3-byte character.
    pub fn encode(&self, text: &str) -> String {
        self.encode_with_source(text).0
    }

    /// Like [`encode`](Self::encode), and for each code the character it came from (None for
    /// Latin pinyin and gaps) and that character's index in `text`, so that a match by sound
    /// can tell where it is and which characters also match.
    pub fn encode_with_source(&self, text: &str) -> (String, Vec<(Option<char>, u32)>) {
        let mut out = String::with_capacity(text.len());
        let mut source = Vec::with_capacity(text.len());
        let chars: Vec<char> = text.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if let Some(code) = self.code_of_char(c) {
                out.push(code);
                source.push((Some(c), i as u32));
                i += 1;
            } else if c.is_ascii_lowercase() {
                let run = chars[i..]
                    .iter()
                    .take_while(|c| c.is_ascii_lowercase())
                    .count();
                let word: String = chars[i..i + run].iter().collect();
                let split = (run <= MAX_PINYIN_WORD).then(|| self.split_pinyin(&word));
                let codes = split.flatten().unwrap_or_else(|| vec![GAP]);
                source.extend(std::iter::repeat_n((None, i as u32), codes.len()));
                out.extend(codes);
                i += run;
            } else {
                // Spaces are dropped: residents typing pinyin put them between syllables or
                // words ("dai shenme"); a gap only marks characters that have no sound.
                if !c.is_whitespace() && !out.ends_with(GAP) {
                    out.push(GAP);
                    source.push((None, i as u32));
                }
                i += 1;
            }
        }
        (out, source)
    }

    /// Splits a Latin word into pinyin syllables, preferring long syllables but backtracking so
    /// that "xian" style ambiguity and "jihuo" both split fully. None if the word is not pinyin.
    fn split_pinyin(&self, word: &str) -> Option<Vec<char>> {
        // Depth-first with a memo of positions known not to split, so hostile input stays linear.
        fn go(
            t: &SyllableTable,
            word: &str,
            at: usize,
            out: &mut Vec<char>,
            dead: &mut [bool],
        ) -> bool {
            if at == word.len() {
                return true;
            }
            if dead[at] {
                return false;
            }
            for len in (1..=t.longest_spelling.min(word.len() - at)).rev() {
                if let Some(&code) = t.by_spelling.get(&word[at..at + len]) {
                    out.push(char::from_u32(CODE_BASE + code as u32).unwrap_or(' '));
                    if go(t, word, at + len, out, dead) {
                        return true;
                    }
                    out.pop();
                }
            }
            dead[at] = true;
            false
        }
        let mut out = Vec::new();
        let mut dead = vec![false; word.len()];
        go(self, word, 0, &mut out, &mut dead).then_some(out)
    }
}

impl Default for SyllableTable {
    fn default() -> Self {
        SyllableTable::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn homophones_share_codes() {
        let t = SyllableTable::new();
        assert_eq!(t.encode("设保卡"), t.encode("社保卡"));
        assert_eq!(t.encode("急活"), t.encode("激活"));
        assert_ne!(t.encode("社保卡"), t.encode("医保卡"));
    }

    #[test]
    fn latin_pinyin_meets_characters() {
        let t = SyllableTable::new();
        assert_eq!(t.encode("shebaoka"), t.encode("社保卡"));
        assert_eq!(t.encode("jihuo"), t.encode("激活"));
        assert_eq!(t.encode("laonianka"), t.encode("老年卡"));
        assert_eq!(t.encode("dai shen me"), t.encode("带什么"));
    }

    #[test]
    fn non_pinyin_latin_is_a_gap() {
        let t = SyllableTable::new();
        assert_eq!(t.encode("qqq"), GAP.to_string());
        let (codes, source) = t.encode_with_source("社保 ka");
        assert_eq!(codes.chars().count(), source.len());
        assert_eq!(source, vec![(Some('社'), 0), (Some('保'), 1), (None, 3)]);
    }
}
