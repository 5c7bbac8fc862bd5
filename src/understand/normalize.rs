//! Stage 1: turn what a resident typed into a canonical, matchable string.
//!
//! Full-width forms become half-width, traditional characters simplified, CQ codes, @-mentions,
//! chat placeholders (`[图片]`) and emoji removed, ages rewritten into words the lexicon knows,
//! dialect and colloquial words rewritten to their canonical form, near-miss characters mapped.
//! Punctuation becomes a space; whether the text carried a question mark is kept aside.

use crate::config::Rewriter;
use rustc_hash::FxHashMap;

/// What normalisation made of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    /// Canonical text: simplified, lowercase ASCII, single spaces between runs.
    pub text: String,
    /// The message carried a question mark (? or ？).
    pub question_mark: bool,
    /// What the resident wrote, made comparable but not reworded: simplified, half-width,
    /// lowercase, without markup, mentions, emoji or punctuation, and with no dialect rewrite
    /// (`社保卡么样办` stays itself, while [`Normalized::text`] reads `社保卡怎么办`).
    pub surface: String,
    /// The message began with one of the bot's names ("帮办小助手 早上好"): it speaks to the bot
    /// as an @-mention would.
    pub called_by_name: bool,
}

/// The rewriting tables, built once from the lexicon.
pub struct Normalizer {
    rewrite: Rewriter,
    confusable: FxHashMap<char, char>,
    bot_names: Vec<String>,
}

impl Normalizer {
    /// `rewrite` maps dialect/colloquial words to canonical ones (longest match wins);
    /// `confusable` maps near-miss characters; `bot_names` are the names residents @-mention.
    pub fn new(
        rewrite: &[(String, String)],
        confusable: &[(char, char)],
        bot_names: &[String],
    ) -> Normalizer {
        let rewrite = Rewriter::new(rewrite);
        let mut bot_names: Vec<String> = bot_names.iter().map(|n| n.to_lowercase()).collect();
        bot_names.sort_by_key(|n| std::cmp::Reverse(n.len()));
        Normalizer {
            rewrite,
            confusable: confusable.iter().copied().collect(),
            bot_names,
        }
    }

    /// A resident's message: everything below, and @-mentions and a leading bot name removed.
    pub fn normalize(&self, raw: &str) -> Normalized {
        self.run(raw, true)
    }

    /// A word of the lexicon or the catalog, brought to the same canonical form as messages
    /// (mentions and bot names are not looked for: "机器人" is a word, not a call).
    pub fn normalize_word(&self, word: &str) -> String {
        self.run(word, false).text
    }

    fn run(&self, raw: &str, message: bool) -> Normalized {
        let question_mark = raw.contains('?') || raw.contains('？');
        let text = strip_markup(raw);
        let text = fast2s::convert(&text);
        let text = if message {
            self.strip_mentions(&text)
        } else {
            text
        };
        let trimmed = text.trim_start();
        let called = self.bot_names.iter().filter(|_| message).find(|n| {
            trimmed
                .get(..n.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(n))
        });
        let text = match called {
            Some(name) => &trimmed[name.len()..],
            None => text.as_str(),
        };
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            let c = half_width(c);
            let c = *self.confusable.get(&c).unwrap_or(&c);
            if c.is_ascii_alphanumeric() || is_cjk(c) {
                out.push(c.to_ascii_lowercase());
            } else if !is_emoji(c) && !out.ends_with(' ') && !out.is_empty() {
                out.push(' ');
            }
        }
        out.truncate(out.trim_end().len());
        // A filler rewrites to nothing: the spaces around it must not stay doubled or at an end.
        let text = single_spaced(self.rewrite.apply(&rewrite_ages(&out)));
        Normalized {
            text,
            surface: out,
            question_mark,
            called_by_name: called.is_some(),
        }
    }

    /// Removes `@name` mentions: a configured bot name right after `@`, or else the run of
    /// non-space characters up to the next space.
    fn strip_mentions(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find(['@', '＠']) {
            out.push_str(&rest[..at]);
            let after = &rest[at + rest[at..].chars().next().map_or(1, char::len_utf8)..];
            let name = self.bot_names.iter().find(|n| {
                after
                    .get(..n.len())
                    .is_some_and(|p| p.eq_ignore_ascii_case(n))
            });
            if let Some(name) = name {
                rest = &after[name.len()..];
            } else {
                let end = after
                    .find(|c: char| c.is_whitespace())
                    .unwrap_or(after.len());
                rest = &after[end..];
            }
            out.push(' ');
        }
        out.push_str(rest);
        out
    }
}

/// Removes CQ codes (`[CQ:at,qq=1]`) and chat placeholders such as `[图片]`, `[表情]`, `[动画表情]`.
fn strip_markup(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let tail = &rest[open..];
        match tail.find(']') {
            Some(close) if is_markup(&tail[1..close]) => {
                out.push(' ');
                rest = &tail[close + 1..];
            }
            _ => {
                out.push('[');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn is_markup(inner: &str) -> bool {
    inner.starts_with("CQ:")
        || (!inner.is_empty() && inner.chars().count() <= 6 && inner.chars().all(is_cjk))
}

/// Rewrites ages so that the lexicon can name them: "九十岁", "八十多岁", "满60" become "90岁",
/// "80岁", "60岁", followed by the age-band word `高龄` from 80 on.
fn rewrite_ages(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 8);
    let mut i = 0;
    while i < chars.len() {
        let (age, len) = read_number(&chars[i..]);
        if len > 0 {
            let mut end = i + len;
            if chars.get(end) == Some(&'多') {
                end += 1;
            }
            let suffix = match (chars.get(end), chars.get(end + 1)) {
                (Some('岁'), _) => 1,
                (Some('周'), Some('岁')) => 2,
                _ => 0,
            };
            let after_man = i > 0 && chars[i - 1] == '满';
            if (suffix > 0 || after_man) && (1..=120).contains(&age) {
                out.push_str(&age.to_string());
                out.push('岁');
                if age >= 80 {
                    out.push_str("高龄");
                }
                i = end + suffix;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// Reads an ASCII or Chinese number (up to 999) at the start; returns (value, chars read).
fn read_number(chars: &[char]) -> (u32, usize) {
    let digits = chars.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits > 0 {
        let s: String = chars[..digits.min(3)].iter().collect();
        return (s.parse().unwrap_or(0), digits);
    }
    let digit = |c: char| "零一二三四五六七八九".chars().position(|d| d == c);
    let (mut value, mut pending, mut n) = (0u32, 0u32, 0usize);
    for &c in chars {
        if let Some(d) = digit(c) {
            pending = d as u32;
        } else if c == '两' {
            pending = 2;
        } else if c == '十' {
            value += pending.max(1) * 10;
            pending = 0;
        } else if c == '百' {
            value += pending.max(1) * 100;
            pending = 0;
        } else {
            break;
        }
        n += 1;
    }
    (value + pending, n)
}

fn half_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

/// `text` with single spaces between runs and none at the ends.
fn single_spaced(text: String) -> String {
    if !text.starts_with(' ') && !text.ends_with(' ') && !text.contains("  ") {
        return text;
    }
    text.split(' ')
        .filter(|run| !run.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn is_cjk(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}')
}

fn is_emoji(c: char) -> bool {
    matches!(c,
        '\u{1F000}'..='\u{1FAFF}' | '\u{2600}'..='\u{27BF}' | '\u{2B00}'..='\u{2BFF}'
        | '\u{FE00}'..='\u{FE0F}' | '\u{200D}' | '\u{20E3}' | '\u{E0020}'..='\u{E007F}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        let n = Normalizer::new(
            &[
                ("么样".into(), "怎么".into()),
                ("社会保障卡".into(), "社保卡".into()),
            ],
            &[],
            &["帮办小助手".into()],
        );
        n.normalize(s).text
    }

    #[test]
    fn full_width_and_case() {
        assert_eq!(norm("ＡＢＣ１２３"), "abc123");
    }

    #[test]
    fn traditional_to_simplified() {
        assert_eq!(norm("社會保障卡怎麼辦"), "社保卡怎么办");
    }

    #[test]
    fn cq_codes_mentions_placeholders_and_emoji_removed() {
        assert_eq!(
            norm("[CQ:at,qq=123456] 老年卡[图片]要带啥🌞"),
            "老年卡 要带啥"
        );
        assert_eq!(norm("@帮办小助手社保卡"), "社保卡");
        assert_eq!(norm("@张三 你好"), "你好");
        assert_eq!(norm("[CQ:face,id=1]"), "");
    }

    #[test]
    fn keeps_brackets_that_are_not_markup() {
        assert_eq!(norm("[abc]"), "abc");
    }

    #[test]
    fn a_message_opening_with_the_bot_name_calls_it() {
        let n = Normalizer::new(&[], &[], &["帮办小助手".into()]);
        let r = n.normalize("帮办小助手 早上好");
        assert!(r.called_by_name);
        assert_eq!(r.text, "早上好");
        assert!(!n.normalize("早上好 帮办小助手").called_by_name);
    }

    #[test]
    fn fillers_dropped_as_rewrites_to_nothing() {
        let n = Normalizer::new(
            &[("啊".into(), String::new()), ("哈喽".into(), "哈喽".into())],
            &[],
            &[],
        );
        assert_eq!(n.normalize("老年卡啊要带什么啊").text, "老年卡要带什么");
        assert_eq!(n.normalize("哈喽").text, "哈喽");
    }

    #[test]
    fn a_filler_between_spaces_leaves_single_spaces() {
        // Found by the `normalize` fuzz target: the filler went, its spaces stayed.
        let n = Normalizer::new(&[("啊".into(), String::new())], &[], &[]);
        assert_eq!(n.normalize("啊 社保卡").text, "社保卡");
        assert_eq!(n.normalize("社保卡 啊 怎么办").text, "社保卡 怎么办");
        assert_eq!(n.normalize("社保卡 啊").text, "社保卡");
    }

    #[test]
    fn dialect_rewritten() {
        assert_eq!(norm("么样搞"), "怎么搞");
    }

    #[test]
    fn question_mark_detected_and_punctuation_spaced() {
        let n = Normalizer::new(&[], &[], &[]);
        let r = n.normalize("老年卡，要带什么？");
        assert!(r.question_mark);
        assert_eq!(r.text, "老年卡 要带什么");
    }

    #[test]
    fn ages_get_band_words() {
        assert_eq!(norm("我奶奶90岁了"), "我奶奶90岁高龄了");
        assert_eq!(norm("爷爷八十多岁"), "爷爷80岁高龄");
        assert_eq!(norm("我今年满六十了"), "我今年满60岁了");
        assert_eq!(norm("交了十五年"), "交了十五年");
    }
}
