//! `bot-config/replies.toml`: the fixed wording residents see, editable without touching code.

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replies {
    /// Answer to a greeting or "what can you do".
    pub help: String,
    /// Said when the guide cannot answer and an agent will follow up.
    pub escalate: String,
    /// Said to thanks.
    pub thanks: String,
    /// Said before `escalate` for a listed matter without a guide: `{matter}`, `{department}`,
    /// `{phone}` (the `matter_phone` text, or nothing when the matter has no public phone).
    pub matter_pointer: String,
    /// `{phone}`.
    pub matter_phone: String,
    /// Said for a complaint; an agent will follow up.
    pub escalate_complaint: String,
    /// Said for a resident's own case (status, money not arrived).
    pub escalate_case: String,
    /// First line when asking back; the numbered list follows.
    pub clarify: String,
    /// Last line when asking back.
    pub clarify_footer: String,
    /// Last line of an answer: how to ask for the rest of the card. `{item}` is the item's short name.
    pub more: String,
    /// Said when the card has nothing for the asked aspect; the summary follows.
    pub aspect_missing: String,
    /// Marks sample content not yet reviewed by the district.
    pub sample_notice: String,
    /// Said when a question should become a ticket and the ticket cannot be stored (a full
    /// disk): it was not handed over, so no ticket number is given. Optional in the file.
    #[serde(default = "store_failed")]
    pub store_failed: String,
}

fn store_failed() -> String {
    "系统暂时出了点问题，您的问题没能转给专员，请过几分钟再问一次。".into()
}
