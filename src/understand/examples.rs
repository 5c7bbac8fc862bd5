//! The training examples, gathered from the configuration: each guide item's names, aliases, FAQ
//! questions and example questions (相似问法, by aspect, own case and complaint); each listed
//! matter's name and examples; and `intents.toml`. `tests/data/` is never read here.

use crate::catalog::{Aspect, Catalog, Matters};
use crate::config::{Intents, Vague};

/// What a message wants, besides which item it is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Intent {
    /// A question the guide (or the list of matters) speaks to.
    Ask,
    /// The resident's own case: status, money not arrived, "帮我查".
    Case,
    Complaint,
    /// A greeting or "what can you do".
    Help,
    Thanks,
    /// Group talk and remarks that ask nothing.
    Chatter,
    /// A question outside government services.
    Offtopic,
}

impl Intent {
    pub const ALL: [Intent; 7] = [
        Intent::Ask,
        Intent::Case,
        Intent::Complaint,
        Intent::Help,
        Intent::Thanks,
        Intent::Chatter,
        Intent::Offtopic,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Intent::Ask => "ask",
            Intent::Case => "case",
            Intent::Complaint => "complaint",
            Intent::Help => "help",
            Intent::Thanks => "thanks",
            Intent::Chatter => "chatter",
            Intent::Offtopic => "offtopic",
        }
    }
}

/// What a message is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topic {
    /// A guide item (index into the catalog).
    Item(usize),
    /// One of these items, the message does not say which (asked back).
    Among(Vec<usize>),
    /// A listed matter without a guide (index into the matters).
    Matter(usize),
    /// Nothing the district does.
    Nothing,
}

/// One labelled example.
#[derive(Debug, Clone)]
pub struct Example {
    pub text: String,
    pub intent: Intent,
    /// None: the example does not teach the topic (a remark may name any item).
    pub topic: Option<Topic>,
    /// None: the example does not teach the aspect.
    pub aspect: Option<Aspect>,
}

impl Example {
    fn new(text: &str, intent: Intent, topic: Option<Topic>, aspect: Option<Aspect>) -> Example {
        Example {
            text: text.to_string(),
            intent,
            topic,
            aspect,
        }
    }
}

pub fn collect(
    catalog: &Catalog,
    matters: &Matters,
    intents: &Intents,
    vague: &Vague,
) -> Vec<Example> {
    let mut out = Vec::new();
    for (i, item) in catalog.items().iter().enumerate() {
        let topic = || Some(Topic::Item(i));
        let short = item.short_name();
        for name in [&item.name, &short].into_iter().chain(&item.aliases) {
            out.push(Example::new(
                name,
                Intent::Ask,
                topic(),
                Some(Aspect::Overview),
            ));
        }
        for faq in &item.faq {
            out.push(Example::new(&faq.q, Intent::Ask, topic(), None));
        }
        for (kind, list) in &item.examples {
            let (intent, aspect) = match kind.as_str() {
                "case" => (Intent::Case, None),
                "complaint" => (Intent::Complaint, None),
                name => (Intent::Ask, Aspect::from_name(name)),
            };
            for q in list {
                out.push(Example::new(q, intent, topic(), aspect));
            }
        }
    }
    for (m, matter) in matters.list().iter().enumerate() {
        let topic = || Some(Topic::Matter(m));
        out.push(Example::new(&matter.name, Intent::Ask, topic(), None));
        for q in &matter.examples {
            out.push(Example::new(q, Intent::Ask, topic(), None));
        }
    }
    for family in &vague.vague {
        let items: Vec<usize> = family
            .items
            .iter()
            .filter_map(|id| catalog.items().iter().position(|i| i.id == *id))
            .collect();
        for q in &family.examples {
            out.push(Example::new(
                q,
                Intent::Ask,
                Some(Topic::Among(items.clone())),
                None,
            ));
        }
    }
    let nothing = || Some(Topic::Nothing);
    for (kind, list) in intents.lists() {
        let (intent, topic) = match kind {
            "help" => (Intent::Help, nothing()),
            "thanks" => (Intent::Thanks, nothing()),
            "chatter" => (Intent::Chatter, nothing()),
            "remark" | "notice" => (Intent::Chatter, None),
            "case" => (Intent::Case, nothing()),
            "complaint" => (Intent::Complaint, nothing()),
            "followup" => (Intent::Ask, nothing()),
            _ => (Intent::Offtopic, nothing()),
        };
        for q in list {
            out.push(Example::new(q, intent, topic.clone(), None));
        }
    }
    out
}

/// Residents without a Chinese input method type toneless pinyin ("shebaoka zenme jihuo"). Every
/// `every`-th example is also taught in pinyin — syllables run together, or spaced, by turns —
/// so that such questions meet the same classes.
pub fn with_pinyin(examples: &[Example], every: usize) -> Vec<Example> {
    use pinyin::ToPinyin;
    let mut out = examples.to_vec();
    for (n, e) in examples
        .iter()
        .enumerate()
        .filter(|(n, _)| n % every.max(1) == 0)
    {
        let spaced = n % (2 * every.max(1)) == 0;
        let mut text = String::with_capacity(e.text.len() * 2);
        for c in e.text.chars() {
            match c.to_pinyin() {
                Some(p) => {
                    if spaced && !text.is_empty() && !text.ends_with(' ') {
                        text.push(' ');
                    }
                    text.push_str(p.plain());
                }
                None if c.is_alphanumeric() => text.push(c),
                None => {
                    if !text.ends_with(' ') {
                        text.push(' ');
                    }
                }
            }
        }
        let text = text.trim().to_string();
        if !text.is_empty() && text != e.text {
            out.push(Example { text, ..e.clone() });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinyin_variants_keep_the_label() {
        let e = Example::new("社保卡怎么激活？", Intent::Ask, Some(Topic::Item(2)), None);
        let out = with_pinyin(&[e.clone(), e], 2);
        assert_eq!(out.len(), 3);
        assert_eq!(out[2].text, "she bao ka zen me ji huo");
        assert_eq!(out[2].topic, Some(Topic::Item(2)));
    }
}
