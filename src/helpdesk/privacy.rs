//! The privacy guard: finds ID-card, mobile-phone and bank-card numbers in a message, so that the
//! bot can advise recalling a message posted in a group, and masks them wherever text is logged
//! or shown to a group (agents' notifications, the ledger). Tickets keep the text as posted: the
//! agent may need it, and sees it in a private chat.
//!
//! Digits may be ASCII or full-width and split by single spaces or hyphens (`138 1234 5678`).
//! Landlines (`0711-1234567`) and dates are not personal numbers and are left alone.

use std::ops::Range;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    IdCard,
    Phone,
    BankCard,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::IdCard => "身份证号",
            Kind::Phone => "手机号",
            Kind::BankCard => "银行卡号",
        }
    }
}

/// The personal numbers in `text`: their byte ranges and kinds, in order.
pub fn find(text: &str) -> Vec<(Range<usize>, Kind)> {
    let mut found = Vec::new();
    for run in digit_runs(text) {
        // Groups split by single spaces or hyphens: one number written in parts, or several
        // numbers in a row. Take the longest stretch of groups that is a personal number.
        let groups = &run;
        let mut i = 0;
        while i < groups.len() {
            let hit = (i + 1..=groups.len()).rev().find_map(|j| {
                let digits: String = groups[i..j].iter().map(|g| g.digits.as_str()).collect();
                classify(&digits).map(|kind| (j, kind))
            });
            match hit {
                Some((j, kind)) => {
                    found.push((groups[i].range.start..groups[j - 1].range.end, kind));
                    i = j;
                }
                None => i += 1,
            }
        }
    }
    found
}

/// The kinds of personal numbers in `text`, each once, in a fixed order.
pub fn kinds(text: &str) -> Vec<Kind> {
    let mut kinds: Vec<Kind> = find(text).into_iter().map(|(_, k)| k).collect();
    kinds.sort();
    kinds.dedup();
    kinds
}

/// `身份证号、手机号`: for the advice to residents.
pub fn describe(kinds: &[Kind]) -> String {
    kinds
        .iter()
        .map(|k| k.label())
        .collect::<Vec<_>>()
        .join("、")
}

/// `text` with every personal number masked, keeping the first 3 and last 2 characters
/// (`138******78`), so that logs and groups never carry one.
pub fn mask(text: &str) -> String {
    let found = find(text);
    if found.is_empty() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (range, _) in found {
        out.push_str(&text[at..range.start]);
        let chars: Vec<char> = text[range.clone()]
            .chars()
            .filter(|c| digit(*c).is_some() || matches!(c, 'X' | 'x'))
            .collect();
        let n = chars.len();
        for (i, c) in chars.into_iter().enumerate() {
            out.push(if i < 3 || i + 2 >= n { c } else { '*' });
        }
        at = range.end;
    }
    out.push_str(&text[at..]);
    out
}

/// A group of digits with no separator inside.
struct Group {
    range: Range<usize>,
    /// ASCII digits, with a final `X` for ID cards.
    digits: String,
}

fn digit(c: char) -> Option<char> {
    match c {
        '0'..='9' => Some(c),
        '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32),
        _ => None,
    }
}

/// Runs of digit groups joined by single spaces or hyphens; an `X` right after 17 digits ends an
/// ID-card number's group.
fn digit_runs(text: &str) -> Vec<Vec<Group>> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut runs: Vec<Vec<Group>> = Vec::new();
    let mut run: Vec<Group> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        if let Some(d) = digit(c) {
            let mut group = Group {
                range: at..at + c.len_utf8(),
                digits: String::from(d),
            };
            i += 1;
            while let Some(&(at, c)) = chars.get(i) {
                if let Some(d) = digit(c) {
                    group.digits.push(d);
                } else if matches!(c, 'X' | 'x' | 'Ｘ') && group.digits.len() == 17 {
                    group.digits.push('X');
                    group.range.end = at + c.len_utf8();
                    i += 1;
                    break;
                } else {
                    break;
                }
                group.range.end = at + c.len_utf8();
                i += 1;
            }
            run.push(group);
            let joined = chars
                .get(i)
                .is_some_and(|&(_, c)| matches!(c, ' ' | '-' | '－'))
                && chars.get(i + 1).is_some_and(|&(_, c)| digit(c).is_some());
            if joined {
                i += 1;
                continue;
            }
        } else {
            i += 1;
        }
        if !run.is_empty() {
            runs.push(std::mem::take(&mut run));
        }
    }
    if !run.is_empty() {
        runs.push(run);
    }
    runs
}

fn classify(d: &str) -> Option<Kind> {
    let n = d.len();
    let b = d.as_bytes();
    let mobile = |s: &[u8]| s.len() == 11 && s[0] == b'1' && (b'3'..=b'9').contains(&s[1]);
    if mobile(b) || (n == 13 && d.starts_with("86") && mobile(&b[2..])) {
        return Some(Kind::Phone);
    }
    if n == 18 && birth_date(&d[6..14]) {
        return Some(Kind::IdCard);
    }
    if n == 15 && birth_date(&format!("19{}", &d[6..12])) {
        return Some(Kind::IdCard);
    }
    if (16..=19).contains(&n) && !d.ends_with('X') {
        return Some(Kind::BankCard);
    }
    None
}

/// `YYYYMMDD` that could be a living person's birth date.
fn birth_date(s: &str) -> bool {
    let num = |r: Range<usize>| s.get(r).and_then(|x| x.parse::<u32>().ok());
    match (num(0..4), num(4..6), num(6..8)) {
        (Some(y), Some(m), Some(d)) => {
            (1900..=2099).contains(&y) && (1..=12).contains(&m) && (1..=31).contains(&d)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_three_kinds() {
        assert_eq!(kinds("我身份证420703195501011234"), [Kind::IdCard]);
        assert_eq!(kinds("身份证 42070319550101123X 帮查"), [Kind::IdCard]);
        assert_eq!(kinds("电话138 1234 5678"), [Kind::Phone]);
        assert_eq!(kinds("打+86 13812345678"), [Kind::Phone]);
        assert_eq!(
            kinds("卡号6222０２１２３４５６７８９０１２"),
            [Kind::BankCard]
        );
        assert_eq!(
            kinds("13812345678 和 420703195501011234"),
            [Kind::IdCard, Kind::Phone]
        );
    }

    #[test]
    fn leaves_ordinary_numbers_alone() {
        assert!(kinds("中心电话0711-1234567").is_empty());
        assert!(kinds("2026-12-07去办").is_empty());
        assert!(kinds("工单 12，回复1").is_empty());
        assert!(kinds("12345热线").is_empty());
    }

    #[test]
    fn masks_for_logs() {
        assert_eq!(mask("我电话13812345678"), "我电话138******78");
        assert_eq!(
            mask("号码420703195501011234谢谢"),
            "号码420*************34谢谢"
        );
        assert_eq!(mask("没有号码"), "没有号码");
        assert_eq!(
            describe(&kinds("13812345678 420703195501011234")),
            "身份证号、手机号"
        );
    }
}
