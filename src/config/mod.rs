//! Loading `bot-config/`: the catalog, the lexicon, the matcher's tuning and the reply wording.
//! Every problem found is reported with the file, the key and what was expected; loading never
//! panics on bad input.

mod intents;
mod lexicon;
pub mod org;
pub mod reach;
mod replies;
pub mod service;
mod toml_key;
mod tuning;

pub use intents::{Intents, Vague, VagueFamily};
pub use lexicon::{AspectCues, AspectPattern, Cues, Lexicon, Rewriter};
pub use replies::Replies;
pub use tuning::Tuning;

use crate::catalog::{Catalog, Matters};
use serde::de::DeserializeOwned;
use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// Where in the file: an item id and field path, a key, or a line.
    pub key: String,
    /// What is wrong, and what is expected instead.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.file.display(), self.key, self.message)
    }
}

/// All problems found while loading; loading reports them all at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Everything the bot's understanding and replies need, loaded from one config directory.
#[derive(Debug, Clone)]
pub struct Config {
    pub dir: PathBuf,
    pub catalog: Catalog,
    /// The district's list of matters without a guide card (`matters/*.toml`).
    pub matters: Matters,
    /// Examples of messages that are not about one item (`intents.toml`).
    pub intents: Intents,
    /// Vague questions by the family of items they could mean (`vague.toml`).
    pub vague: Vague,
    pub lexicon: Lexicon,
    pub tuning: Tuning,
    pub replies: Replies,
    /// The organisation: centres, stations, groups, agents, admins (`org.toml`).
    pub org: org::Org,
    /// How the service runs: listen address, data dir, adapters, pacing (`bangban.toml`).
    pub service: service::Service,
}

impl Config {
    /// Loads and validates `dir` (`catalog/*.toml`, `lexicon.toml`, `matcher.toml`, `replies.toml`).
    pub fn load(dir: &Path) -> Result<Config, ConfigErrors> {
        let mut errors = Vec::new();
        if !dir.is_dir() {
            return Err(ConfigErrors(vec![ConfigError {
                file: dir.to_path_buf(),
                key: "-".into(),
                message: "config directory not found; expected a directory like bot-config/ \
                          (set it with --config DIR or BANGBAN_CONFIG)"
                    .into(),
            }]));
        }
        let catalog = Catalog::load_dir(&dir.join("catalog")).map_err(|e| errors.extend(e.0));
        let matters = match &catalog {
            Ok(c) => Matters::load_dir(&dir.join("matters"), c).map_err(|e| errors.extend(e.0)),
            Err(()) => Err(()),
        };
        let intents_file = dir.join("intents.toml");
        let intents: Result<Intents, _> = if intents_file.exists() {
            read_toml(&intents_file, &mut errors)
        } else {
            Ok(Intents::default())
        };
        let vague_file = dir.join("vague.toml");
        let vague: Result<Vague, _> = if vague_file.exists() {
            read_toml(&vague_file, &mut errors)
        } else {
            Ok(Vague::default())
        };
        if let (Ok(v), Ok(c)) = (&vague, &catalog) {
            errors.extend(v.validate(&vague_file, c));
        }
        let lexicon: Result<Lexicon, _> = read_toml(&dir.join("lexicon.toml"), &mut errors);
        let tuning: Result<Tuning, _> = read_toml(&dir.join("matcher.toml"), &mut errors);
        let replies: Result<Replies, _> = read_toml(&dir.join("replies.toml"), &mut errors);
        let before = errors.len();
        let org = org::load(dir, &mut errors);
        let service = service::load(dir, &mut errors);
        // Only for a well-formed organisation and service: otherwise the other errors say it.
        if errors.len() == before {
            errors.extend(reach::check(&org, &service, &dir.join("org.toml")));
        }
        if let Ok(l) = &lexicon {
            errors.extend(l.validate(&dir.join("lexicon.toml")));
        }
        if let Ok(t) = &tuning {
            errors.extend(t.validate(&dir.join("matcher.toml")));
        }
        match (catalog, matters, intents, vague, lexicon, tuning, replies) {
            (
                Ok(catalog),
                Ok(matters),
                Ok(intents),
                Ok(vague),
                Ok(lexicon),
                Ok(tuning),
                Ok(replies),
            ) if errors.is_empty() => Ok(Config {
                dir: dir.to_path_buf(),
                catalog,
                matters,
                intents,
                vague,
                lexicon,
                tuning,
                replies,
                org,
                service,
            }),
            _ => Err(ConfigErrors(errors)),
        }
    }
}

/// A check that records "KEY: expected …" for `file` when `ok` is false.
pub(crate) fn checker<'a>(
    file: &'a Path,
    errors: &'a mut Vec<ConfigError>,
) -> impl FnMut(&str, bool, &str) + 'a {
    move |key, ok, expected| {
        if !ok {
            errors.push(ConfigError {
                file: file.to_path_buf(),
                key: key.into(),
                message: format!("expected {expected}"),
            });
        }
    }
}

/// Reads and parses one TOML file; a problem is pushed to `errors` with the file named.
pub(crate) fn read_toml<T: DeserializeOwned>(
    path: &Path,
    errors: &mut Vec<ConfigError>,
) -> Result<T, ()> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        errors.push(ConfigError {
            file: path.to_path_buf(),
            key: "-".into(),
            message: format!("cannot read the file: {e}"),
        })
    })?;
    parse_toml(path, &text).map_err(|e| errors.push(e))
}

/// Parses TOML text; the error names the line where the parser stopped and, where it can be
/// told, the key path there: `line 12 (onebot.enabled)`, `line 40 (agents_chats[1].chat)`.
pub(crate) fn parse_toml<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e: toml::de::Error| {
        let at = e.span().map(|s| s.start.min(text.len()));
        let key = at.map_or_else(
            || "-".into(),
            |at| {
                let line = text[..at].matches('\n').count() + 1;
                match toml_key::at(text, at) {
                    Some(key) => format!("line {line} ({key})"),
                    None => format!("line {line}"),
                }
            },
        );
        ConfigError {
            file: path.to_path_buf(),
            key,
            message: e.message().to_string(),
        }
    })
}
