//! The item guide as a spreadsheet, one row per item, with the columns offices keep: 事项名称,
//! 事项编码, 实施部门, 设定依据, 申请条件, 申请材料, 办理流程, 办理时限, 收费标准, 办理地点, 咨询电话,
//! 别名, 相似问法. Cells hold the card's text fields ([`super::fields`]); a column made of several
//! fields (办理时限, 收费标准) has one `标题：值` line per field. Written with rust_xlsxwriter, read
//! with calamine.

use super::Item;
use super::fields::{self, Fields};
use std::io::Cursor;

/// Each column's heading and the card fields it holds (事项编码 is the item id).
pub const COLUMNS: &[(&str, &[&str])] = &[
    ("事项名称", &["name"]),
    ("事项编码", &[]),
    ("实施部门", &["department"]),
    ("设定依据", &["basis"]),
    ("申请条件", &["conditions"]),
    ("申请材料", &["materials"]),
    ("办理流程", &["process"]),
    (
        "办理时限",
        &[
            "time_legal_days",
            "time_promised_days",
            "time_instant",
            "time_note",
        ],
    ),
    ("收费标准", &["fee_free", "fee_note"]),
    ("办理地点", &["places"]),
    ("咨询电话", &["contacts"]),
    ("别名", &["aliases"]),
    ("相似问法", &["examples"]),
];

/// One cell of a card.
pub fn cell(item: &Item, f: &Fields, column: &str, keys: &[&str]) -> String {
    if column == "事项编码" {
        return item.id.clone();
    }
    let parts: Vec<String> = keys
        .iter()
        .filter_map(|k| {
            let v = f.get(*k).map(String::as_str).unwrap_or("");
            (!v.is_empty()).then(|| match keys.len() {
                1 => v.to_owned(),
                _ => format!("{}：{v}", fields::label(k)),
            })
        })
        .collect();
    parts.join("\n")
}

/// The workbook of `items`.
pub fn write(items: &[Item]) -> anyhow::Result<Vec<u8>> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("事项")?;
    let bold = rust_xlsxwriter::Format::new().set_bold();
    let wrap = rust_xlsxwriter::Format::new().set_text_wrap();
    for (c, (heading, _)) in COLUMNS.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, *heading, &bold)?;
        sheet.set_column_width(c as u16, 24)?;
    }
    for (r, item) in items.iter().enumerate() {
        let f = fields::to_fields(item);
        for (c, (heading, keys)) in COLUMNS.iter().enumerate() {
            let text = crate::helpdesk::ledger::cell(&cell(item, &f, heading, keys));
            sheet.write_string_with_format(r as u32 + 1, c as u16, text, &wrap)?;
        }
    }
    Ok(book.save_to_buffer()?)
}

/// A problem in one cell (or row) of an imported sheet.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CellError {
    /// The sheet's row number, as the spreadsheet shows it (the heading is row 1).
    pub row: usize,
    /// The column heading.
    pub column: String,
    pub message: String,
}

/// One data row: the item id and the fields its cells give.
#[derive(Debug, Clone)]
pub struct Row {
    pub row: usize,
    pub id: String,
    pub fields: Fields,
}

/// Reads the first sheet: its rows, or every problem found (nothing is taken from a sheet with
/// a problem).
pub fn read(bytes: &[u8]) -> Result<Vec<Row>, Vec<CellError>> {
    use calamine::{Data, Reader, Xlsx};
    let whole = |message: String| {
        vec![CellError {
            row: 1,
            column: String::new(),
            message,
        }]
    };
    let mut book: Xlsx<_> =
        Xlsx::new(Cursor::new(bytes)).map_err(|e| whole(format!("不是能读的 XLSX 文件：{e}")))?;
    let range = match book.worksheet_range_at(0) {
        Some(Ok(r)) => r,
        Some(Err(e)) => return Err(whole(format!("第一个工作表读不出来：{e}"))),
        None => return Err(whole("文件里没有工作表".into())),
    };
    let text = |d: &Data| match d {
        Data::Empty => String::new(),
        Data::String(s) => s.trim().to_owned(),
        Data::Float(f) if f.fract() == 0.0 => format!("{}", *f as i64),
        other => other.to_string().trim().to_owned(),
    };
    let mut rows = range.rows();
    let Some(head) = rows.next() else {
        return Err(whole("工作表是空的".into()));
    };
    let head: Vec<String> = head.iter().map(text).collect();
    let mut errors = Vec::new();
    let at = |name: &str| head.iter().position(|h| h == name);
    let Some(id_col) = at("事项编码") else {
        return Err(whole(
            "第 1 行缺少“事项编码”列：每一行靠它对应到事项".into(),
        ));
    };
    for h in &head {
        if !h.is_empty() && !COLUMNS.iter().any(|(c, _)| c == h) {
            errors.push(CellError {
                row: 1,
                column: h.clone(),
                message: format!(
                    "不认识这一列；应为 {}",
                    COLUMNS.iter().map(|c| c.0).collect::<Vec<_>>().join("、")
                ),
            });
        }
    }
    let mut out = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for (i, cells) in rows.enumerate() {
        let row = i + 2;
        let cells: Vec<String> = cells.iter().map(text).collect();
        if cells.iter().all(String::is_empty) {
            continue;
        }
        let id = cells.get(id_col).cloned().unwrap_or_default();
        if !super::is_valid_id(&id) {
            errors.push(CellError {
                row,
                column: "事项编码".into(),
                message: format!("“{id}”不是事项编码：应为小写英文字母、数字和“-”，如 sbk-apply"),
            });
            continue;
        }
        if let Some(first) = seen.insert(id.clone(), row) {
            errors.push(CellError {
                row,
                column: "事项编码".into(),
                message: format!("和第 {first} 行重复"),
            });
            continue;
        }
        let mut fields = Fields::new();
        for (c, value) in cells.iter().enumerate() {
            let Some((heading, keys)) = head
                .get(c)
                .and_then(|h| COLUMNS.iter().find(|(n, _)| n == h))
            else {
                continue;
            };
            match split_cell(value, keys) {
                Ok(parts) => fields.extend(parts),
                Err(message) => errors.push(CellError {
                    row,
                    column: (*heading).to_owned(),
                    message,
                }),
            }
        }
        out.push(Row { row, id, fields });
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// A cell's fields: the whole cell for a one-field column, else its `标题：值` lines.
fn split_cell(value: &str, keys: &[&str]) -> Result<Fields, String> {
    let mut out = Fields::new();
    match keys {
        [] => {}
        [key] => {
            out.insert((*key).to_owned(), value.to_owned());
        }
        keys => {
            for k in keys.iter() {
                out.insert((*k).to_owned(), String::new());
            }
            for line in value.lines().map(str::trim).filter(|l| !l.is_empty()) {
                let Some((label, v)) = line.split_once(['：', ':']) else {
                    return Err(format!("“{line}”应写成“标题：值”，标题为 {}", labels(keys)));
                };
                let Some(k) = keys.iter().find(|k| fields::label(k) == label.trim()) else {
                    return Err(format!("不认识“{}”，应为 {}", label.trim(), labels(keys)));
                };
                out.insert((*k).to_owned(), v.trim().to_owned());
            }
        }
    }
    Ok(out)
}

fn labels(keys: &[&str]) -> String {
    keys.iter()
        .map(|k| fields::label(k))
        .collect::<Vec<_>>()
        .join("、")
}

/// The column that holds `field` (for naming a card problem found after reading).
pub fn column_of(field: &str) -> String {
    COLUMNS
        .iter()
        .find(|(_, keys)| keys.contains(&field))
        .map_or_else(|| fields::label(field).to_owned(), |(h, _)| (*h).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> Vec<Item> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bot-config/catalog");
        super::super::Catalog::load_dir(&dir)
            .unwrap()
            .items()
            .to_vec()
    }

    #[test]
    fn a_written_sheet_reads_back_as_the_same_fields() {
        let items = shipped();
        let rows = read(&write(&items).unwrap()).unwrap();
        assert_eq!(rows.len(), items.len());
        for (row, item) in rows.iter().zip(&items) {
            assert_eq!(row.id, item.id);
            let mut f = fields::to_fields(item);
            // Fields with no column keep the card's own value on import.
            f.retain(|k, _| COLUMNS.iter().any(|(_, keys)| keys.contains(&k.as_str())));
            assert_eq!(row.fields, f, "{}", item.id);
        }
    }

    #[test]
    fn spreadsheet_cells_follow_the_offices_columns() {
        let item = shipped()
            .into_iter()
            .find(|i| i.id == "birth-register")
            .unwrap();
        let f = fields::to_fields(&item);
        assert_eq!(cell(&item, &f, "事项编码", &[]), "birth-register");
        assert!(cell(&item, &f, "申请材料", &["materials"]).contains("结婚证｜原件｜1"));
        let time = cell(&item, &f, "办理时限", COLUMNS[7].1);
        assert!(time.contains("即办（是/否）：是"), "{time}");
        assert_eq!(
            split_cell("收费说明：不收费\n颜色：红", COLUMNS[8].1).unwrap_err(),
            "不认识“颜色”，应为 免费（是/否）、收费说明"
        );
        assert_eq!(column_of("time_note"), "办理时限");
    }
}
