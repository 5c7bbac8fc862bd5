//! Importing the guide from a spreadsheet or from TOML cards: a preview first — each item new,
//! changed (with its diff) or unchanged — and a commit only on confirmation, as one revision per
//! changed item, all in one transaction. Only the reading differs: a sheet with any bad cell is
//! refused whole, naming the row, the column and what is expected; a TOML card (one item per
//! file, as `bangban catalog export --format toml` writes them, or all of them in one file as
//! the console's export gives them) with any problem is refused naming the file, the item and
//! the key. Either way nothing is half-imported.

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
use std::path::Path;
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
    /// The revisions' note: what the items were imported from.
    note: &'static str,
    at: Instant,
}

/// One uploaded file: its name (as the browser or `curl -F` gives it) and its bytes.
#[derive(Debug, Clone)]
pub struct Upload {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// A problem in one imported TOML card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CardError {
    /// The file's name as uploaded.
    pub file: String,
    /// The item's id, when the card got far enough to have one.
    pub item: String,
    /// Where in the card: `line 12 (materials[1].form)` for a parse error, the key
    /// (`materials[1].count`) for a check failed after parsing.
    pub key: String,
    /// What is wrong and what is expected.
    pub message: String,
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
    /// Bad TOML cards: nothing is imported.
    Cards(Vec<CardError>),
    /// No file, or files of neither kind (or both kinds at once).
    NoFiles,
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
            ImportRefused::Cards(_) => "invalid_toml",
            ImportRefused::NoFiles => "no_file",
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
            ImportRefused::Cards(c) => {
                format!(
                    "TOML 文件有 {} 处不对，什么都没有导入。请改好后再导入",
                    c.len()
                )
            }
            ImportRefused::NoFiles => {
                "请上传一个 XLSX 表格，或一个或几个 TOML 文件（每个文件一个事项）".into()
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
    /// Previews what was uploaded: one XLSX sheet, or one or more TOML cards.
    pub fn preview_files(
        &self,
        engine: &Engine,
        user: &User,
        files: &[Upload],
    ) -> Result<Preview, ImportRefused> {
        let files: Vec<&Upload> = files.iter().filter(|f| !f.bytes.is_empty()).collect();
        let sheets = files.iter().filter(|f| is_sheet(f)).count();
        match (files.len(), sheets) {
            (0, _) => Err(ImportRefused::NoFiles),
            (1, 1) => self.preview(engine, user, &files[0].bytes),
            (_, 0) => self.preview_toml(engine, user, &files),
            _ => Err(ImportRefused::NoFiles),
        }
    }

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
                    by_id.insert(item.id.clone(), row.row);
                    entries.push(entry(item, now));
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
            errors.extend(
                check_with_the_rest(engine, &entries)?
                    .into_iter()
                    .filter_map(|(id, key, message)| {
                        Some(CellError {
                            row: *by_id.get(&id)?,
                            column: sheet::column_of(&fields::field_of_key(&key)),
                            message: format!("{message}（事项 {id}）"),
                        })
                    }),
            );
        }
        if !errors.is_empty() {
            return Err(ImportRefused::Cells(errors));
        }
        Ok(self.keep(user, entries, "表格导入"))
    }

    /// Reads TOML cards — one item per file, or a whole export (`[[items]]`, see
    /// [`super::export::Bundle`]) — each replacing the item's whole card, and keeps the preview
    /// for `user` to confirm.
    pub fn preview_toml(
        &self,
        engine: &Engine,
        user: &User,
        files: &[&Upload],
    ) -> Result<Preview, ImportRefused> {
        let store = engine.store();
        let mut errors = Vec::new();
        let mut entries = Vec::new();
        let mut file_of: HashMap<String, String> = HashMap::new();
        for f in files {
            let problem = |item: &str, key: &str, message: String| CardError {
                file: f.name.clone(),
                item: item.to_owned(),
                key: key.to_owned(),
                message,
            };
            let Ok(text) = std::str::from_utf8(&f.bytes) else {
                errors.push(problem("", "-", "不是 UTF-8 编码的文本文件".into()));
                continue;
            };
            let path = Path::new(&f.name);
            let read = if super::export::is_bundle(text) {
                crate::config::parse_toml::<super::export::Bundle>(path, text).map(|b| b.items)
            } else {
                crate::config::parse_toml::<Item>(path, text).map(|item| vec![item])
            };
            let items = match read {
                Ok(items) => items,
                Err(e) => {
                    errors.push(problem("", &e.key, in_chinese(&e.message)));
                    continue;
                }
            };
            for item in items {
                if let Some(other) = file_of.insert(item.id.clone(), f.name.clone()) {
                    errors.push(problem(
                        &item.id,
                        "id",
                        format!("文件 {other} 里也有这个事项；一个事项只能导入一次"),
                    ));
                    continue;
                }
                let now = store.catalog_item(&item.id)?;
                entries.push(entry(item, now));
            }
        }
        if errors.is_empty() {
            errors.extend(check_with_the_rest(engine, &entries)?.into_iter().map(
                |(id, key, message)| {
                    CardError {
                        file: file_of.get(&id).cloned().unwrap_or_default(),
                        key: key
                            .strip_prefix(&format!("item {id}: "))
                            .unwrap_or(&key)
                            .to_owned(),
                        item: id,
                        message,
                    }
                },
            ));
        }
        if !errors.is_empty() {
            return Err(ImportRefused::Cards(errors));
        }
        Ok(self.keep(user, entries, "TOML 导入"))
    }

    /// Keeps `entries` for `user` to confirm; the preview with its token.
    fn keep(&self, user: &User, entries: Vec<Entry>, note: &'static str) -> Preview {
        let token = super::auth::random_token();
        let mut pending = self.pending.lock().expect("imports lock");
        pending.retain(|_, p| p.at.elapsed() < KEEP);
        pending.insert(
            token.clone(),
            Pending {
                user: user.id.clone(),
                entries: entries.clone(),
                note,
                at: Instant::now(),
            },
        );
        Preview { token, entries }
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
        let note = pending.note;
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

/// Whether an upload is a spreadsheet (an XLSX file is a ZIP archive).
fn is_sheet(f: &Upload) -> bool {
    let name = f.name.to_lowercase();
    name.ends_with(".xlsx") || (!name.ends_with(".toml") && f.bytes.starts_with(b"PK"))
}

/// An imported item against what is stored now.
fn entry(item: Item, now: Option<Revision>) -> Entry {
    let status = match &now {
        None => "new",
        Some(r) if r.item == item => "unchanged",
        Some(_) => "changed",
    };
    Entry {
        id: item.id.clone(),
        name: item.name.clone(),
        status,
        diff: items::diff(now.as_ref().map(|r| &r.item), &item),
        base: now.as_ref().map(|r| r.rev),
        item,
    }
}

/// The whole guide with the imported items in it, checked: each problem of an imported item as
/// (its id, the check's key, the message).
fn check_with_the_rest(
    engine: &Engine,
    entries: &[Entry],
) -> Result<Vec<(String, String, String)>, ImportRefused> {
    let imported: HashMap<&str, ()> = entries.iter().map(|e| (e.id.as_str(), ())).collect();
    let mut items: Vec<Item> = engine
        .store()
        .catalog_current()?
        .into_iter()
        .filter(|r| !r.retired && !imported.contains_key(r.item.id.as_str()))
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
            let id = entries
                .iter()
                .find(|x| e.key.starts_with(&format!("item {}:", x.id)))?
                .id
                .clone();
            Some((id, e.key.clone(), e.message.clone()))
        })
        .collect())
}

/// The TOML reader's message in Chinese where its shape is known; the original otherwise.
fn in_chinese(message: &str) -> String {
    let quoted =
        |s: &str| -> Vec<String> { s.split('`').skip(1).step_by(2).map(str::to_owned).collect() };
    let m = message.trim();
    if let Some(rest) = m.strip_prefix("missing field ") {
        let name = quoted(rest).into_iter().next().unwrap_or_default();
        return format!("缺少必填的“{name}”");
    }
    for (prefix, what) in [("unknown field ", "键"), ("unknown variant ", "值")] {
        if let Some(rest) = m.strip_prefix(prefix) {
            let q = quoted(rest);
            let (given, allowed) = q
                .split_first()
                .map_or(("", &[][..]), |(g, a)| (g.as_str(), a));
            return match allowed {
                [] => format!("不认识的{what}“{given}”"),
                a => format!("不认识的{what}“{given}”，应为 {} 之一", a.join("、")),
            };
        }
    }
    if m.starts_with("invalid type") {
        return format!("类型不对（{m}）");
    }
    format!("写法不对（{m}）")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_reader_messages_are_said_in_chinese_with_what_is_expected() {
        assert_eq!(in_chinese("missing field `summary`"), "缺少必填的“summary”");
        assert_eq!(
            in_chinese("unknown variant `手抄本`, expected one of `original`, `copy`"),
            "不认识的值“手抄本”，应为 original、copy 之一"
        );
        assert_eq!(
            in_chinese("unknown field `nmae`, expected one of `id`, `name`"),
            "不认识的键“nmae”，应为 id、name 之一"
        );
        assert!(in_chinese("invalid type: string \"x\", expected u32").starts_with("类型不对"));
    }
}
