//! The district's list of matters (事项清单): every matter residents ask about, most without a
//! guide card. A question about a listed matter without a card is handed to an agent, and the
//! resident is told which department handles it — never answered from the nearest card.
//! Loaded from `bot-config/matters/*.toml`.

use super::Catalog;
use crate::config::{ConfigError, ConfigErrors, parse_toml};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Matter {
    /// Lowercase ASCII words joined by `-`, unique among matters and items.
    pub id: String,
    pub name: String,
    /// The department residents go to.
    pub department: String,
    /// A public hotline, or empty.
    #[serde(default)]
    pub phone: String,
    /// Guide items residents confuse this matter with.
    #[serde(default)]
    pub neighbours: Vec<String>,
    /// Example questions the matcher learns the matter from.
    #[serde(default)]
    pub examples: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MatterFile {
    #[serde(default)]
    matter: Vec<Matter>,
}

#[derive(Debug, Clone, Default)]
pub struct Matters {
    list: Vec<Matter>,
}

impl Matters {
    pub fn new(list: Vec<Matter>) -> Matters {
        Matters { list }
    }

    pub fn list(&self) -> &[Matter] {
        &self.list
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Loads every `*.toml` of `dir` (a missing directory is an empty list) and checks the
    /// matters against the catalog.
    pub fn load_dir(dir: &Path, catalog: &Catalog) -> Result<Matters, ConfigErrors> {
        if !dir.exists() {
            return Ok(Matters::default());
        }
        let mut errors = Vec::new();
        let mut paths: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect(),
            Err(e) => {
                return Err(ConfigErrors(vec![ConfigError {
                    file: dir.to_path_buf(),
                    key: "-".into(),
                    message: format!("cannot read the matters directory: {e}"),
                }]));
            }
        };
        paths.sort();
        let mut list = Vec::new();
        let mut files = Vec::new();
        for path in &paths {
            let parsed = std::fs::read_to_string(path)
                .map_err(|e| ConfigError {
                    file: path.clone(),
                    key: "-".into(),
                    message: format!("cannot read the file: {e}"),
                })
                .and_then(|text| parse_toml::<MatterFile>(path, &text));
            match parsed {
                Ok(f) => {
                    for m in f.matter {
                        files.push(path.clone());
                        list.push(m);
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        errors.extend(validate(&list, &|i| files[i].clone(), catalog));
        if errors.is_empty() {
            Ok(Matters { list })
        } else {
            Err(ConfigErrors(errors))
        }
    }
}

/// Every error names the matter and the field.
pub fn validate(
    list: &[Matter],
    file_of: &dyn Fn(usize) -> PathBuf,
    catalog: &Catalog,
) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, m) in list.iter().enumerate() {
        let mut err = |field: &str, message: String| {
            errors.push(ConfigError {
                file: file_of(i),
                key: format!("matter {}: {field}", m.id),
                message,
            })
        };
        if !super::validate::is_valid_id(&m.id) {
            err(
                "id",
                "expected lowercase ASCII words joined by '-', e.g. maternity-allowance".into(),
            );
        }
        if catalog.get(&m.id).is_some() {
            err(
                "id",
                "is a guide item's id; expected a matter without a card".into(),
            );
        }
        if *seen.entry(&m.id).and_modify(|n| *n += 1).or_insert(1) == 2 {
            err("id", "used by another matter; expected a unique id".into());
        }
        for (field, value) in [("name", &m.name), ("department", &m.department)] {
            if value.trim().is_empty() {
                err(field, "expected a non-empty text".into());
            }
        }
        for n in &m.neighbours {
            if catalog.get(n).is_none() {
                err(
                    "neighbours",
                    format!("\"{n}\" is not an item id of the catalog"),
                );
            }
        }
        if m.examples.iter().any(|e| e.trim().is_empty()) {
            err("examples", "expected non-empty questions".into());
        }
    }
    errors
}
