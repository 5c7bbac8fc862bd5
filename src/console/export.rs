//! The item guide written out of the data directory — the one code behind `bangban catalog
//! export` (the bot stopped) and the console's export page and `/api/v1/export` (the bot
//! running): the current revision of each item, retired ones only when asked for.
//!
//! - TOML, one card per item ([`card`], `<id>.toml` as in `bot-config/catalog/`): what the CLI
//!   writes into a directory;
//! - TOML, every card in one file ([`bundle`]: `[[items]]` tables, each exactly a card): what the
//!   console hands out as one download;
//! - XLSX ([`sheet`]), one row per item with the columns offices keep (`catalog::sheet`).
//!
//! The import (`console::import`) reads all three back: exported and imported unchanged, every
//! item is "unchanged".

use crate::catalog::{Item, sheet as xlsx};
use crate::store::Store;
use serde::{Deserialize, Serialize};

/// What the guide is written out as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Toml,
    Xlsx,
}

impl Format {
    /// `toml` or `xlsx` (any case).
    pub fn parse(s: &str) -> Option<Format> {
        match s.trim().to_ascii_lowercase().as_str() {
            "toml" => Some(Format::Toml),
            "xlsx" => Some(Format::Xlsx),
            _ => None,
        }
    }
}

/// The items the guide holds now, in id order; retired ones too when `retired`.
pub fn items(store: &Store, retired: bool) -> anyhow::Result<Vec<Item>> {
    Ok(store
        .catalog_current()?
        .into_iter()
        .filter(|r| retired || !r.retired)
        .map(|r| r.item)
        .collect())
}

/// One item's card, as `bot-config/catalog/<id>.toml` holds it.
pub fn card(item: &Item) -> anyhow::Result<String> {
    Ok(toml::to_string(item)?)
}

/// Several cards in one TOML file: `[[items]]`, each table a whole card.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    pub items: Vec<Item>,
}

const BUNDLE_HEAD: &str = "# 帮办事项指南：每个 [[items]] 是一个事项的整张卡片（格式同 bot-config/catalog/ 里的文件）。\n\
     # 改好后在管理页面的“导入”上传这个文件即可。\n\n";

/// Every card of `items` in one TOML file.
pub fn bundle(items: &[Item]) -> anyhow::Result<String> {
    let text = toml::to_string(&Bundle {
        items: items.to_vec(),
    })?;
    Ok(format!("{BUNDLE_HEAD}{text}"))
}

/// Whether a TOML text is a [`Bundle`] rather than one card: its top level has `items` and no
/// `id`. Text that is no TOML at all is not (it is read as a card, for the card's errors).
pub fn is_bundle(text: &str) -> bool {
    toml::from_str::<toml::Table>(text)
        .is_ok_and(|t| t.contains_key("items") && !t.contains_key("id"))
}

/// The workbook of `items`, one row each.
pub fn sheet(items: &[Item]) -> anyhow::Result<Vec<u8>> {
    xlsx::write(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> Vec<Item> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bot-config/catalog");
        crate::catalog::Catalog::load_dir(&dir)
            .unwrap()
            .items()
            .to_vec()
    }

    #[test]
    fn exported_cards_read_back_as_the_same_items() {
        for item in shipped() {
            let text = card(&item).unwrap();
            assert!(!is_bundle(&text), "{}", item.id);
            let back: Item = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", item.id));
            assert_eq!(back, item);
        }
    }

    #[test]
    fn a_bundle_reads_back_as_the_same_items() {
        let items = shipped();
        let text = bundle(&items).unwrap();
        assert!(is_bundle(&text));
        let back: Bundle = toml::from_str(&text).unwrap();
        assert_eq!(back.items, items);
        assert!(!is_bundle("id = [unclosed"));
    }
}
