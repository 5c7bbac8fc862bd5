//! The training examples, gathered from the configuration: each guide item's names, aliases, FAQ
//! questions and example questions (相似问法, by aspect, own case and complaint); each listed
//! matter's name and examples; and `intents.toml`. `tests/data/` is never read here.

use crate::catalog::{Aspect, Catalog, Matters};
use crate::config::Intents;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// A guide item (index into the catalog).
    Item(usize),
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

pub fn collect(catalog: &Catalog, matters: &Matters, intents: &Intents) -> Vec<Example> {
    let mut out = Vec::new();
    for (i, item) in catalog.items().iter().enumerate() {
        let topic = Some(Topic::Item(i));
        let short = item.short_name();
        for name in [&item.name, &short].into_iter().chain(&item.aliases) {
            out.push(Example::new(name, Intent::Ask, topic, Some(Aspect::Overview)));
        }
        for faq in &item.faq {
            out.push(Example::new(&faq.q, Intent::Ask, topic, None));
        }
        for (kind, list) in &item.examples {
            let (intent, aspect) = match kind.as_str() {
                "case" => (Intent::Case, None),
                "complaint" => (Intent::Complaint, None),
                name => (Intent::Ask, Aspect::from_name(name)),
            };
            for q in list {
                out.push(Example::new(q, intent, topic, aspect));
            }
        }
    }
    for (m, matter) in matters.list().iter().enumerate() {
        let topic = Some(Topic::Matter(m));
        out.push(Example::new(&matter.name, Intent::Ask, topic, None));
        for q in &matter.examples {
            out.push(Example::new(q, Intent::Ask, topic, None));
        }
    }
    let nothing = Some(Topic::Nothing);
    for (kind, list) in intents.lists() {
        let (intent, topic) = match kind {
            "help" => (Intent::Help, nothing),
            "thanks" => (Intent::Thanks, nothing),
            "chatter" => (Intent::Chatter, nothing),
            "remark" => (Intent::Chatter, None),
            "case" => (Intent::Case, nothing),
            "complaint" => (Intent::Complaint, nothing),
            _ => (Intent::Offtopic, nothing),
        };
        for q in list {
            out.push(Example::new(q, intent, topic, None));
        }
    }
    out
}
