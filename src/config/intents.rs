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
    /// Notices posted or forwarded into the group: they ask nothing.
    #[serde(default)]
    pub notice: Vec<String>,
    /// Follow-ups that ask an aspect and name no item ("那要多久？").
    #[serde(default)]
    pub followup: Vec<String>,
}

/// `vague.toml`: questions too vague to pick one item, by the family of items they could mean.
/// The bot asks back among the family; the matcher learns that such a question spreads over it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vague {
    #[serde(default)]
    pub vague: Vec<VagueFamily>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VagueFamily {
    /// 2–4 item ids.
    pub items: Vec<String>,
    pub examples: Vec<String>,
}

impl Vague {
    /// Every error names the family and what is expected.
    pub fn validate(
        &self,
        file: &std::path::Path,
        catalog: &crate::catalog::Catalog,
    ) -> Vec<super::ConfigError> {
        let mut errors = Vec::new();
        let mut check = super::checker(file, &mut errors);
        for (i, f) in self.vague.iter().enumerate() {
            check(
                &format!("vague[{i}].items"),
                (2..=4).contains(&f.items.len()),
                "2 to 4 item ids",
            );
            for id in &f.items {
                check(
                    &format!("vague[{i}].items"),
                    catalog.get(id).is_some(),
                    &format!("item ids of the catalog (\"{id}\" is not one)"),
                );
            }
            check(
                &format!("vague[{i}].examples"),
                f.examples.iter().all(|e| !e.trim().is_empty()),
                "non-empty questions",
            );
        }
        drop(check);
        errors
    }
}

impl Intents {
    /// (list name, examples), for checks and training.
    pub fn lists(&self) -> [(&'static str, &[String]); 9] {
        [
            ("help", &self.help),
            ("thanks", &self.thanks),
            ("chatter", &self.chatter),
            ("remark", &self.remark),
            ("case", &self.case),
            ("complaint", &self.complaint),
            ("offtopic", &self.offtopic),
            ("notice", &self.notice),
            ("followup", &self.followup),
        ]
    }
}
