//! `bangban catalog export --format toml|xlsx`: the item guide as the bot answers from it (the
//! data directory's current revisions), written back out — one `<id>.toml` per item, as in
//! `bot-config/catalog/`, or one spreadsheet row per item with the columns offices keep.
//! Run it with the bot stopped (sled lets one process open the data directory).

use crate::catalog::Item;
use crate::catalog::fields::{self, Fields};
use crate::config::Config;
use crate::store::Store;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Write the guide out of the data directory.
    Export {
        #[arg(long, value_enum, default_value = "toml")]
        format: Format,
        /// toml: a directory (default `catalog-export`); xlsx: a file (default `事项清单.xlsx`).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Data directory [default: data_dir of bangban.toml].
        #[arg(long, env = "BANGBAN_DATA")]
        data: Option<PathBuf>,
        /// Also write retired items.
        #[arg(long)]
        retired: bool,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Toml,
    Xlsx,
}

/// The spreadsheet's columns: heading, and how a card fills it.
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

pub fn run(config: &Config, args: &Args) -> anyhow::Result<()> {
    let Command::Export {
        format,
        output,
        data,
        retired,
    } = &args.command;
    let dir = data
        .clone()
        .unwrap_or_else(|| config.service.data_dir.clone());
    if !dir.join("conf").is_file() {
        anyhow::bail!(
            "{} 里没有机器人的数据。机器人第一次启动前，事项就是 {} 里的文件。",
            dir.display(),
            config.dir.join("catalog").display()
        );
    }
    let store = Store::open(&dir).map_err(|e| match e {
        crate::store::StoreError::Locked { .. } => anyhow::anyhow!(
            "数据目录 {} 正被运行中的机器人使用。请先停止机器人，或在管理页面查看事项。",
            dir.display()
        ),
        e => e.into(),
    })?;
    let items: Vec<Item> = store
        .catalog_current()?
        .into_iter()
        .filter(|r| *retired || !r.retired)
        .map(|r| r.item)
        .collect();
    match format {
        Format::Toml => {
            let out = output.clone().unwrap_or_else(|| "catalog-export".into());
            std::fs::create_dir_all(&out)?;
            for item in &items {
                let path = out.join(format!("{}.toml", item.id));
                std::fs::write(&path, toml::to_string(item)?)?;
            }
            println!("已写出 {} 个事项到 {}", items.len(), out.display());
        }
        Format::Xlsx => {
            let out = output.clone().unwrap_or_else(|| "事项清单.xlsx".into());
            std::fs::write(&out, xlsx(&items)?)?;
            println!("已写出 {} 个事项到 {}", items.len(), out.display());
        }
    }
    Ok(())
}

/// One cell of a card: the fields of the column, joined; 事项编码 is the item id.
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

fn xlsx(items: &[Item]) -> anyhow::Result<Vec<u8>> {
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
    fn exported_toml_reads_back_as_the_same_items() {
        for item in shipped() {
            let text = toml::to_string(&item).unwrap();
            let back: Item = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", item.id));
            assert_eq!(back, item);
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
        assert!(xlsx(&[item]).unwrap().starts_with(b"PK"));
    }
}
