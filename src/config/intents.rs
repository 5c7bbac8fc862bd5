//! `intents.toml`: example messages for what is not a question about one guide item — greetings,
//! thanks, group chatter, remarks, own cases and complaints that name no item, and questions
//! outside government services. The matcher learns these classes from them.

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Intents {
    /// Greetings and "what can you do", addressed to the bot.
    #[serde(default)]
    pub help: Vec<String>,
    /// Thanks and acknowledgements.
    #[serde(default)]
    pub thanks: Vec<String>,
    /// Group talk that asks the bot nothing.
    #[serde(default)]
    pub chatter: Vec<String>,
    /// Remarks that mention a service but ask nothing.
    #[serde(default)]
    pub remark: Vec<String>,
    /// Own cases that name no item.
    #[serde(default)]
    pub case: Vec<String>,
    /// Complaints that name no item.
    #[serde(default)]
    pub complaint: Vec<String>,
    /// Questions outside government services.
    #[serde(default)]
    pub offtopic: Vec<String>,
}

impl Intents {
    /// (list name, examples), for checks and training.
    pub fn lists(&self) -> [(&'static str, &[String]); 7] {
        [
            ("help", &self.help),
            ("thanks", &self.thanks),
            ("chatter", &self.chatter),
            ("remark", &self.remark),
            ("case", &self.case),
            ("complaint", &self.complaint),
            ("offtopic", &self.offtopic),
        ]
    }
}
