//! Long texts split into several messages: QQ folds long ones behind "展开" and old phones show
//! them badly, and some platforms refuse a message over a number of bytes. Cuts fall at a line
//! end, else a sentence end, else a comma or space, in the last half of the allowed length; a
//! hard cut only when there is none.

use bangban_contract::Outgoing;

/// The most one message may hold: `chars` characters and, where the platform counts them,
/// `bytes` bytes of UTF-8. A plain number is a limit in characters only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub chars: usize,
    pub bytes: Option<usize>,
}

impl From<usize> for Limit {
    fn from(chars: usize) -> Limit {
        Limit { chars, bytes: None }
    }
}

impl Limit {
    /// At most `chars` characters and `bytes` bytes.
    pub fn bytes(chars: usize, bytes: usize) -> Limit {
        Limit {
            chars,
            bytes: Some(bytes),
        }
    }

    /// Whether `text` fits in one message.
    pub fn fits(&self, text: &str) -> bool {
        self.end(text).is_none()
    }

    /// Where the longest start of `text` within the limit ends, or `None` when all of it fits.
    /// Never 0 for a non-empty text: at least one character always goes (a limit of under one
    /// character or four bytes counts as that much).
    fn end(&self, text: &str) -> Option<usize> {
        let chars = self.chars.max(1);
        let bytes = self.bytes.unwrap_or(usize::MAX).max(4);
        text.char_indices()
            .enumerate()
            .find(|&(n, (i, c))| n == chars || i + c.len_utf8() > bytes)
            .map(|(_, (i, _))| i)
    }
}

/// `text` in parts within `limit`, trimmed, none empty.
pub fn split_text(text: &str, limit: impl Into<Limit>) -> Vec<String> {
    let limit = limit.into();
    let mut parts = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let Some(limit) = limit.end(rest) else {
            parts.push(rest.to_owned());
            break;
        };
        let window = &rest[..limit];
        let half = window
            .char_indices()
            .nth(window.chars().count() / 2)
            .map_or(0, |(i, _)| i);
        let cut = [
            &['\n'][..],
            &['。', '！', '？', '；', '!', '?', ';'],
            &['，', '、', ',', ' '],
        ]
        .iter()
        .find_map(|breaks| {
            window
                .rfind(*breaks)
                .filter(|&i| i >= half)
                .map(|i| i + window[i..].chars().next().map_or(1, char::len_utf8))
        })
        .unwrap_or(limit);
        let part = rest[..cut].trim();
        if !part.is_empty() {
            parts.push(part.to_owned());
        }
        rest = rest[cut..].trim_start();
    }
    parts
}

/// `action` as the messages to send: a text over `limit` becomes several, the first quoting
/// and mentioning as the original did, the rest plain.
pub fn split_action(action: Outgoing, limit: impl Into<Limit>) -> Vec<Outgoing> {
    let limit = limit.into();
    let Outgoing::SendText {
        platform,
        account,
        chat,
        text,
        quote,
        mention,
    } = action;
    if limit.fits(&text) {
        return vec![Outgoing::SendText {
            platform,
            account,
            chat,
            text,
            quote,
            mention,
        }];
    }
    split_text(&text, limit)
        .into_iter()
        .enumerate()
        .map(|(i, part)| Outgoing::SendText {
            platform,
            account: account.clone(),
            chat: chat.clone(),
            text: part,
            quote: if i == 0 { quote.clone() } else { None },
            mention: if i == 0 { mention.clone() } else { None },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bangban_contract::{Chat, Platform};

    #[test]
    fn short_texts_stay_whole() {
        assert_eq!(split_text("带身份证。", 10), ["带身份证。"]);
        assert_eq!(split_text("  ", 10), Vec::<String>::new());
    }

    #[test]
    fn cuts_prefer_lines_then_sentences_then_commas() {
        assert_eq!(
            split_text("第一行内容\n第二句。第三句很长很长", 12),
            ["第一行内容\n第二句。", "第三句很长很长"]
        );
        assert_eq!(
            split_text("材料：身份证。户口本，照片两张，申请表", 12),
            ["材料：身份证。", "户口本，照片两张，申请表"]
        );
        assert_eq!(
            split_text("一二三四五六，七八九十一二三四", 8),
            ["一二三四五六，", "七八九十一二三四"]
        );
        // No break in the last half: a hard cut.
        assert_eq!(
            split_text("一二三四五六七八九十", 4),
            ["一二三四", "五六七八", "九十"]
        );
    }

    #[test]
    fn every_part_fits_and_nothing_is_lost() {
        let text = "社保卡激活：带身份证和社保卡到合作银行网点，设置密码后即可使用。\n".repeat(40);
        let parts = split_text(&text, 100);
        assert!(parts.iter().all(|p| p.chars().count() <= 100));
        let squeeze = |s: &str| s.split_whitespace().collect::<String>();
        assert_eq!(squeeze(&parts.join("\n")), squeeze(&text));
    }

    #[test]
    fn a_byte_limit_cuts_by_bytes_and_never_inside_a_character() {
        // 办 is 3 bytes, 𠀀 4: ten characters fit the character limit but not 16 bytes.
        let limit = Limit::bytes(10, 16);
        assert!(!limit.fits("办办办办办办"));
        assert!(limit.fits("办办办办办"));
        assert_eq!(split_text("办办办办办办办", limit), ["办办办办办", "办办"]);
        assert_eq!(split_text("𠀀𠀀𠀀𠀀𠀀", limit), ["𠀀𠀀𠀀𠀀", "𠀀"]);
        // Cuts still prefer a sentence end in the last half.
        assert_eq!(
            split_text("带身份证。户口本照片", Limit::bytes(100, 21)),
            ["带身份证。", "户口本照片"]
        );
        let text = "社保卡激活：带身份证和社保卡到合作银行网点，设置密码后即可使用。\n".repeat(40);
        let parts = split_text(&text, Limit::bytes(800, 2048));
        assert!(parts.len() > 1);
        assert!(
            parts
                .iter()
                .all(|p| p.len() <= 2048 && p.chars().count() <= 800)
        );
        let squeeze = |s: &str| s.split_whitespace().collect::<String>();
        assert_eq!(squeeze(&parts.join("\n")), squeeze(&text));
        // Limits too small for one character still make progress.
        assert_eq!(split_text("办a", Limit::bytes(0, 0)), ["办", "a"]);
    }

    #[test]
    fn only_the_first_part_quotes_and_mentions() {
        let action = Outgoing::SendText {
            platform: Platform::Onebot,
            account: "1".into(),
            chat: Chat::Group("900001".into()),
            text: "一二三。四五六。七八九。".into(),
            quote: Some("42".into()),
            mention: Some("7".into()),
        };
        let parts = split_action(action, 5);
        assert_eq!(parts.len(), 3);
        let Outgoing::SendText { quote, mention, .. } = &parts[0];
        assert_eq!(
            (quote.as_deref(), mention.as_deref()),
            (Some("42"), Some("7"))
        );
        let Outgoing::SendText {
            quote,
            mention,
            text,
            ..
        } = &parts[2];
        assert_eq!((quote, mention, text.as_str()), (&None, &None, "七八九。"));
    }
}
