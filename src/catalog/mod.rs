//! The item guide: loading `bot-config/catalog/*.toml` and checking every item.

pub mod fields;
mod matters;
mod model;
pub mod sheet;
mod validate;

pub use matters::{Matter, Matters};
pub use model::*;
pub use validate::{EXAMPLE_KINDS, is_valid_id};

use crate::config::{ConfigError, ConfigErrors, parse_toml};
use std::collections::HashMap;
use std::path::Path;

/// All items of the guide, in id order.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    items: Vec<Item>,
    index: HashMap<String, usize>,
}

impl Catalog {
    /// Builds a catalog from items already parsed; the items are checked as when loading.
    pub fn from_items(mut items: Vec<Item>) -> Result<Catalog, ConfigErrors> {
        items.sort_by(|a, b| a.id.cmp(&b.id));
        let errors = validate::catalog(&items, &|item| {
            Path::new("catalog").join(format!("{}.toml", item.id))
        });
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        Ok(Catalog::indexed(items))
    }

    /// Items already checked and sorted by id, with their id index.
    fn indexed(items: Vec<Item>) -> Catalog {
        let index = items
            .iter()
            .enumerate()
            .map(|(i, it)| (it.id.clone(), i))
            .collect();
        Catalog { items, index }
    }

    /// Loads every `*.toml` file of `dir`; each holds one item whose id is the file name.
    pub fn load_dir(dir: &Path) -> Result<Catalog, ConfigErrors> {
        let entries = std::fs::read_dir(dir).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                file: dir.to_path_buf(),
                key: "-".into(),
                message: format!("cannot read the catalog directory: {e}"),
            }])
        })?;
        let mut paths: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        let mut errors = Vec::new();
        let mut items = Vec::new();
        for path in &paths {
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) => {
                    errors.push(ConfigError {
                        file: path.clone(),
                        key: "-".into(),
                        message: format!("cannot read the file: {e}"),
                    });
                    continue;
                }
            };
            match parse_toml::<Item>(path, &text) {
                Ok(item) => {
                    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
                    if item.id != stem {
                        errors.push(ConfigError {
                            file: path.clone(),
                            key: format!("item {}: id", item.id),
                            message: format!("expected the file name, \"{stem}\""),
                        });
                    }
                    items.push(item);
                }
                Err(e) => errors.push(e),
            }
        }
        if paths.is_empty() {
            errors.push(ConfigError {
                file: dir.to_path_buf(),
                key: "-".into(),
                message: "no items; expected at least one <id>.toml file".into(),
            });
        }
        let file_of = |item: &Item| dir.join(format!("{}.toml", item.id));
        errors.extend(validate::catalog(&items, &file_of));
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        items.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(Catalog::indexed(items))
    }

    pub fn items(&self) -> &[Item] {
        &self.items
    }

    pub fn get(&self, id: &str) -> Option<&Item> {
        self.index.get(id).map(|&i| &self.items[i])
    }

    /// The index of item `id` in [`Catalog::items`].
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}
