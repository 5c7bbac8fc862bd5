//! What admins do to the item guide, whichever way they come (web page, JSON API): search,
//! save a card from its fields, create, retire, restore a revision, compare two revisions. Each
//! write is checked against the whole guide, stored as a revision, flushed, audited, and then
//! taken in by the live guide ([`crate::guide`]).

use super::auth::User;
use crate::catalog::fields::{self, FieldError, Fields};
use crate::catalog::{Catalog, Item};
use crate::engine::Engine;
use crate::guide::Guide;
use crate::store::Store;
use crate::store::audit::AuditEntry;
use crate::store::catalog::{Revision, Save, SaveRefused};
use serde::Serialize;
use std::sync::Arc;

/// One line of the item list.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub id: String,
    pub name: String,
    pub department: String,
    pub rev: u64,
    pub retired: bool,
    pub verified: bool,
}

/// Why a write was not made.
#[derive(Debug)]
pub enum Refused {
    /// No such item (or revision).
    Unknown,
    /// An item with this id exists already.
    Exists,
    /// The id is not lowercase ASCII words joined by `-`.
    BadId,
    /// Fields that do not make a valid card, each with what is expected.
    Invalid(Vec<FieldError>),
    /// Someone saved in between: the current revision, so the editor can see their change.
    Stale(Box<Revision>),
    Store(anyhow::Error),
}

impl Refused {
    /// A machine code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            Refused::Unknown => "unknown_item",
            Refused::Exists => "item_exists",
            Refused::BadId => "invalid_id",
            Refused::Invalid(_) => "invalid_field",
            Refused::Stale(_) => "stale_revision",
            Refused::Store(_) => "store_error",
        }
    }

    /// What to tell the admin, in Chinese.
    pub fn message(&self) -> String {
        match self {
            Refused::Unknown => "没有这个事项（或这个版本）".into(),
            Refused::Exists => "已经有这个编号的事项了，请换一个编号".into(),
            Refused::BadId => "事项编号只能用小写英文字母、数字和“-”，如 sbk-apply".into(),
            Refused::Invalid(e) => format!("有 {} 处填写不对，请看各栏的提示", e.len()),
            Refused::Stale(r) => format!(
                "保存前，{} 已经改过这个事项（第 {} 版）。您的修改没有保存，请看他的改动后再改",
                r.who, r.rev
            ),
            Refused::Store(_) => "数据保存失败，请稍后再试，或联系技术人员".into(),
        }
    }
}

impl From<crate::store::StoreError> for Refused {
    fn from(e: crate::store::StoreError) -> Self {
        Refused::Store(e.into())
    }
}

impl From<anyhow::Error> for Refused {
    fn from(e: anyhow::Error) -> Self {
        Refused::Store(e)
    }
}

pub fn list(engine: &Engine, query: &str) -> Result<Vec<Summary>, Refused> {
    let q = query.trim();
    let mut out = Vec::new();
    for r in engine.store().catalog_current()? {
        let it = &r.item;
        let hit = q.is_empty()
            || it.id.contains(q)
            || it.name.contains(q)
            || it.aliases.iter().any(|a| a.contains(q))
            || it.examples.values().flatten().any(|e| e.contains(q))
            || it.faq.iter().any(|f| f.q.contains(q));
        if hit {
            out.push(Summary {
                id: it.id.clone(),
                name: it.name.clone(),
                department: it.department.clone(),
                rev: r.rev,
                retired: r.retired,
                verified: it.review.status == crate::catalog::ReviewStatus::Verified,
            });
        }
    }
    Ok(out)
}

pub fn current(engine: &Engine, id: &str) -> Result<Revision, Refused> {
    engine.store().catalog_item(id)?.ok_or(Refused::Unknown)
}

/// What an admin asks to change.
pub struct Change<'a> {
    pub user: &'a User,
    /// Where the request came from, for the audit log.
    pub from: &'a str,
    pub note: &'a str,
    /// The revision the edit started from; `None` for a new item.
    pub base: Option<u64>,
}

/// Saves `fields` as the card of `id`.
pub async fn save_fields(
    engine: &Engine,
    id: &str,
    fields: &Fields,
    change: &Change<'_>,
) -> Result<Revision, Refused> {
    if change.base.is_none() && !crate::catalog::is_valid_id(id) {
        return Err(Refused::BadId);
    }
    let item = fields::from_fields(id, fields).map_err(Refused::Invalid)?;
    let retired = match change.base {
        Some(_) => current(engine, id)?.retired,
        None => false,
    };
    write(engine, &item, retired, change, "item.save").await
}

/// Saves `item` (from the API's JSON) as the card of its id.
pub async fn save_item(
    engine: &Engine,
    item: &Item,
    change: &Change<'_>,
) -> Result<Revision, Refused> {
    if change.base.is_none() && !crate::catalog::is_valid_id(&item.id) {
        return Err(Refused::BadId);
    }
    let retired = match change.base {
        Some(_) => current(engine, &item.id)?.retired,
        None => false,
    };
    write(engine, item, retired, change, "item.save").await
}

/// Retires (or brings back) an item: it stays stored, the bot stops (or starts again) answering
/// from it.
pub async fn set_retired(
    engine: &Engine,
    id: &str,
    retired: bool,
    change: &Change<'_>,
) -> Result<Revision, Refused> {
    let now = current(engine, id)?;
    let action = if retired {
        "item.retire"
    } else {
        "item.unretire"
    };
    write(engine, &now.item, retired, change, action).await
}

/// Restores revision `rev` of `id` as a new revision.
pub async fn restore(
    engine: &Engine,
    id: &str,
    rev: u64,
    change: &Change<'_>,
) -> Result<Revision, Refused> {
    let old = engine
        .store()
        .catalog_revision(id, rev)?
        .ok_or(Refused::Unknown)?;
    let note = if change.note.is_empty() {
        format!("恢复到第 {rev} 版")
    } else {
        change.note.to_owned()
    };
    let change = Change {
        note: &note,
        ..*change
    };
    write(engine, &old.item, old.retired, &change, "item.restore").await
}

async fn write(
    engine: &Engine,
    item: &Item,
    retired: bool,
    change: &Change<'_>,
    action: &str,
) -> Result<Revision, Refused> {
    write_to(
        engine.store(),
        engine.guide(),
        item,
        retired,
        change,
        action,
    )
    .await
}

/// Saves `item` (not retired) as a revision of `guide`'s store, audited as `action` (the
/// admin chat commands' way in: they have the store and the guide, not the engine).
pub async fn save_to(
    store: &Store,
    guide: &Arc<Guide>,
    item: &Item,
    change: &Change<'_>,
    action: &str,
) -> Result<Revision, Refused> {
    write_to(store, guide, item, false, change, action).await
}

async fn write_to(
    store: &Store,
    guide: &Arc<Guide>,
    item: &Item,
    retired: bool,
    change: &Change<'_>,
    action: &str,
) -> Result<Revision, Refused> {
    if !retired {
        check_with_the_rest(store, item)?;
    }
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let saved = store.save_item(&Save {
        item,
        base: change.base,
        retired,
        who: &change.user.id,
        note: change.note,
        at,
    })?;
    let rev = match saved {
        Ok(rev) => rev,
        Err(SaveRefused::Stale { current }) => return Err(Refused::Stale(current)),
        Err(SaveRefused::Exists) => return Err(Refused::Exists),
        Err(SaveRefused::Unknown) => return Err(Refused::Unknown),
    };
    store.audit(&AuditEntry {
        at,
        who: change.user.id.clone(),
        from: change.from.to_owned(),
        action: action.to_owned(),
        target: item.id.clone(),
        detail: format!("第 {} 版 {}", rev.rev, change.note),
    })?;
    store.flush().await?;
    guide.reload()?;
    Ok(rev)
}

/// Checks `item` with the other items the bot answers from (ids, aliases another item has…),
/// naming the field of each problem.
pub fn check_with_the_rest(store: &Store, item: &Item) -> Result<(), Refused> {
    let mut items: Vec<Item> = store
        .catalog_current()?
        .into_iter()
        .filter(|r| !r.retired && r.item.id != item.id)
        .map(|r| r.item)
        .collect();
    items.push(item.clone());
    match Catalog::from_items(items) {
        Ok(_) => Ok(()),
        Err(errors) => {
            let prefix = format!("item {}:", item.id);
            let mine: Vec<FieldError> = errors
                .0
                .iter()
                .filter(|e| e.key.starts_with(&prefix) || e.message.contains(&item.id))
                .map(|e| FieldError {
                    field: fields::field_of_key(&e.key),
                    line: fields::line_of_key(&e.key),
                    message: e.message.clone(),
                })
                .collect();
            if mine.is_empty() {
                Ok(())
            } else {
                Err(Refused::Invalid(mine))
            }
        }
    }
}

/// One changed field between two revisions, as a line diff of its text.
#[derive(Debug, Clone, Serialize)]
pub struct FieldDiff {
    pub field: String,
    pub label: String,
    /// `(tag, line)`: tag is `-` (removed), `+` (added) or ` ` (unchanged).
    pub lines: Vec<(char, String)>,
}

pub fn diff(before: Option<&Item>, after: &Item) -> Vec<FieldDiff> {
    let empty = Fields::new();
    let old = before.map(fields::to_fields).unwrap_or_default();
    let old = if before.is_some() { &old } else { &empty };
    let new = fields::to_fields(after);
    let mut out = Vec::new();
    for (key, label) in fields::FIELDS {
        let a = old.get(*key).map_or("", String::as_str);
        let b = new.get(*key).map_or("", String::as_str);
        if a == b {
            continue;
        }
        let d = similar::TextDiff::from_lines(a, b);
        let lines = d
            .iter_all_changes()
            .map(|c| {
                let tag = match c.tag() {
                    similar::ChangeTag::Delete => '-',
                    similar::ChangeTag::Insert => '+',
                    similar::ChangeTag::Equal => ' ',
                };
                (tag, c.value().trim_end_matches('\n').to_owned())
            })
            .collect();
        out.push(FieldDiff {
            field: (*key).to_owned(),
            label: (*label).to_owned(),
            lines,
        });
    }
    out
}
