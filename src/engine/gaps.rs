//! Noting what the guide did not serve, for the console's gap page (`store::gaps`): a question
//! escalated as outside the guide, an asking back nobody picked from, an answer the resident
//! called wrong. Only residents' questions in resident chats count; a store error only logs:
//! the gap page is a help to admins, never a reason not to answer.

use super::dialogue::{Context, Key};
use crate::catalog::Catalog;
use crate::helpdesk::privacy;
use crate::store::Store;
use crate::store::gaps::{Gap, GapKind, GapStatus};
use bangban_contract::Incoming;

/// What a resident says right after an answer that did not help. Whole messages only (after
/// punctuation is dropped): "不对劲的地方在哪" is a question, not a verdict.
const WRONG: &[&str] = &[
    "不对",
    "不对啊",
    "不是",
    "不是这个",
    "不是这个意思",
    "答非所问",
    "没用",
    "没有用",
    "没得用",
    "有什么用",
    "说的不对",
    "你说的不对",
    "错了",
    "不是问这个",
];

/// Whether `text` says the previous answer was wrong or useless.
pub fn says_wrong(text: &str) -> bool {
    let bare: String = text
        .chars()
        .filter(|c| !c.is_ascii_punctuation() && !"，。！？、…~～ ".contains(*c))
        .collect();
    let bare = bare.trim_end_matches(['啊', '呀', '吧', '哦', '嘛']);
    WRONG
        .iter()
        .any(|w| bare == *w || bare == w.trim_end_matches('啊'))
}

/// Records gaps for one message; the village is `village` (None outside resident groups).
pub struct Recorder<'a> {
    pub store: &'a Store,
    pub event: &'a Incoming,
    pub village: Option<String>,
    pub at: u64,
}

impl Recorder<'_> {
    fn gap(&self, text: &str, kind: GapKind, item: Option<String>) -> Gap {
        Gap {
            at: self.at,
            platform: crate::store::seen::platform_name(self.event.platform).to_owned(),
            village: self.village.clone(),
            text: privacy::mask(text),
            kind,
            item,
            status: GapStatus::Open,
        }
    }

    pub fn uncovered(&self, text: &str, item: Option<String>) {
        let gap = self.gap(text, GapKind::Uncovered, item);
        log(self.store.record_gap(&gap).map(drop));
    }

    pub fn asked_back(&self, key: &Key, text: &str, first: Option<String>) {
        let gap = self.gap(text, GapKind::AskedBack, first);
        log(self.store.record_asked_back(key.bytes(), &gap).map(drop));
    }

    pub fn picked(&self, key: &Key) {
        log(self.store.picked(key.bytes()));
    }

    /// The answer given in `context` was called wrong.
    pub fn unhelpful(&self, context: &Context, catalog: &Catalog) {
        let item = context
            .item
            .and_then(|i| catalog.items().get(i))
            .map(|i| i.id.clone());
        let gap = self.gap(&context.question, GapKind::Unhelpful, item);
        log(self.store.record_gap(&gap).map(drop));
    }
}

fn log(result: Result<(), crate::store::StoreError>) {
    if let Err(e) = result {
        tracing::warn!(error = %e, "a gap for the console was not stored");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_whole_verdict_counts_as_saying_the_answer_was_wrong() {
        for text in [
            "不对",
            "不对！",
            "没用啊",
            "答非所问。",
            "不是这个",
            "你说的不对",
        ] {
            assert!(says_wrong(text), "{text}");
        }
        for text in [
            "不对劲的地方在哪",
            "没用过医保怎么报",
            "不是本地户口能办吗",
            "对",
        ] {
            assert!(!says_wrong(text), "{text}");
        }
    }
}
