//! Importing the guide from a spreadsheet (or TOML cards): a preview first — each item new,
//! changed (with its diff) or unchanged — and a commit only on confirmation, as one revision per
//! changed item, all in one transaction. A sheet with any bad cell is refused whole, naming the
//! row, the column and what is expected; nothing is half-imported.

use super::auth::User;
use super::items::{self, FieldDiff};
use crate::catalog::fields::{self, Fields};
use crate::catalog::sheet::{self, CellError};
use crate::catalog::{Catalog, Item};
use crate::engine::Engine;
use crate::store::audit::AuditEntry;
use crate::store::catalog::{Revision, Save, SaveRefused};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a preview waits for its confirmation.
const KEEP: Duration = Duration::from_secs(30 * 60);

#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub id: String,
    pub name: String,
    /// `new`, `changed` or `unchanged`.
    pub status: &'static str,
    pub diff: Vec<FieldDiff>,
    #[serde(skip)]
    item: Item,
    #[serde(skip)]
    base: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    /// Confirms this preview (`POST …/confirm`).
    pub token: String,
    pub entries: Vec<Entry>,
}

struct Pending {
    user: String,
    entries: Vec<Entry>,
    at: Instant,
}

#[derive(Default)]
pub struct Imports {
    pending: Mutex<HashMap<String, Pending>>,
}

/// Why an import was not previewed or committed.
#[derive(Debug)]
pub enum ImportRefused {
    /// Bad cells: nothing is imported.
    Cells(Vec<CellError>),
    /// No such preview (or it expired, or it is another user's).
    UnknownPreview,
    /// An item changed since the preview: nothing is imported.
    Changed(String),
    Store(anyhow::Error),
}

impl ImportRefused {
    pub fn code(&self) -> &'static str {
        match self {
            ImportRefused::Cells(_) => "invalid_sheet",
            ImportRefused::UnknownPreview => "unknown_preview",
            ImportRefused::Changed(_) => "stale_revision",
            ImportRefused::Store(_) => "store_error",
        }
    }

    pub fn message(&self) -> String {
        match self {
            ImportRefused::Cells(c) => {
                format!("表格有 {} 处不对，什么都没有导入。请改好后再导入", c.len())
            }
            ImportRefused::UnknownPreview => "这次预览已过期或不存在，请重新上传".into(),
            ImportRefused::Changed(id) => {
                format!("预览之后，事项 {id} 被别人改过，什么都没有导入。请重新上传再确认")
            }
            ImportRefused::Store(_) => "数据保存失败，请稍后再试".into(),
        }
    }
}

impl From<crate::store::StoreError> for ImportRefused {
    fn from(e: crate::store::StoreError) -> Self {
        ImportRefused::Store(e.into())
    }
}

impl From<anyhow::Error> for ImportRefused {
    fn from(e: anyhow::Error) -> Self {
        ImportRefused::Store(e)
    }
}

impl Imports {
    /// Reads `bytes` (XLSX) and keeps the preview for `user` to confirm.
    pub fn preview(
        &self,
        engine: &Engine,
        user: &User,
        bytes: &[u8],
    ) -> Result<Preview, ImportRefused> {
        let rows = sheet::read(bytes).map_err(ImportRefused::Cells)?;
        let store = engine.store();
        let mut errors = Vec::new();
        let mut entries = Vec::new();
        let mut by_id: HashMap<String, usize> = HashMap::new();
        for row in rows {
            let now = store.catalog_item(&row.id)?;
            let mut f: Fields = now
                .as_ref()
                .map(|r| fields::to_fields(&r.item))
                .unwrap_or_default();
            f.extend(row.fields);
            match fields::from_fields(&row.id, &f) {
                Ok(item) => {
                    let status = match &now {
                        None => "new",
                        Some(r) if r.item == item => "unchanged",
                        Some(_) => "changed",
                    };
                    by_id.insert(item.id.clone(), row.row);
                    entries.push(Entry {
                        id: item.id.clone(),
                        name: item.name.clone(),
                        status,
                        diff: items::diff(now.as_ref().map(|r| &r.item), &item),
                        base: now.as_ref().map(|r| r.rev),
                        item,
                    });
                }
                Err(field_errors) => errors.extend(field_errors.into_iter().map(|e| CellError {
                    row: row.row,
                    column: sheet::column_of(&e.field),
                    message: match e.line {
                        Some(l) => format!("第 {l} 行：{}", e.message),
                        None => e.message,
                    },
                })),
            }
        }
        if errors.is_empty() {
            errors.extend(check_with_the_rest(engine, &entries, &by_id)?);
        }
        if !errors.is_empty() {
            return Err(ImportRefused::Cells(errors));
        }
        let token = super::auth::random_token();
        let mut pending = self.pending.lock().expect("imports lock");
        pending.retain(|_, p| p.at.elapsed() < KEEP);
        pending.insert(
            token.clone(),
            Pending {
                user: user.id.clone(),
                entries: entries.clone(),
                at: Instant::now(),
            },
        );
        Ok(Preview { token, entries })
    }

    /// Commits the preview `token`: every new or changed item, in one transaction.
    pub async fn confirm(
        &self,
        engine: &Engine,
        user: &User,
        token: &str,
        from: &str,
    ) -> Result<Vec<Revision>, ImportRefused> {
        let pending = {
            let mut p = self.pending.lock().expect("imports lock");
            match p.get(token) {
                Some(x) if x.user == user.id && x.at.elapsed() < KEEP => p.remove(token),
                _ => None,
            }
        }
        .ok_or(ImportRefused::UnknownPreview)?;
        let at = super::now_ms();
        let note = "表格导入";
        let saves: Vec<Save<'_>> = pending
            .entries
            .iter()
            .filter(|e| e.status != "unchanged")
            .map(|e| Save {
                item: &e.item,
                base: e.base,
                retired: false,
                who: &user.id,
                note,
                at,
            })
            .collect();
        let store = engine.store();
        let revs = match store.save_items(&saves)? {
            Ok(revs) => revs,
            Err((id, SaveRefused::Stale { .. } | SaveRefused::Exists | SaveRefused::Unknown)) => {
                return Err(ImportRefused::Changed(id));
            }
        };
        for r in &revs {
            store.audit(&AuditEntry {
                at,
                who: user.id.clone(),
                from: from.to_owned(),
                action: "item.import".into(),
                target: r.item.id.clone(),
                detail: format!("第 {} 版 {note}", r.rev),
            })?;
        }
        store.flush().await?;
        if !revs.is_empty() {
            engine.guide().reload()?;
        }
        Ok(revs)
    }
}

/// The whole guide with the imported items in it, checked; problems named by row.
fn check_with_the_rest(
    engine: &Engine,
    entries: &[Entry],
    rows: &HashMap<String, usize>,
) -> Result<Vec<CellError>, ImportRefused> {
    let mut items: Vec<Item> = engine
        .store()
        .catalog_current()?
        .into_iter()
        .filter(|r| !r.retired && !rows.contains_key(&r.item.id))
        .map(|r| r.item)
        .collect();
    items.extend(entries.iter().map(|e| e.item.clone()));
    let Err(errors) = Catalog::from_items(items) else {
        return Ok(Vec::new());
    };
    Ok(errors
        .0
        .iter()
        .filter_map(|e| {
            let (id, row) = rows
                .iter()
                .find(|(id, _)| e.key.starts_with(&format!("item {id}:")))?;
            Some(CellError {
                row: *row,
                column: sheet::column_of(&fields::field_of_key(&e.key)),
                message: format!("{}（事项 {id}）", e.message),
            })
        })
        .collect())
}
