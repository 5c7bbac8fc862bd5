//! `bangban catalog export --format toml|xlsx`: the item guide as the bot answers from it (the
//! data directory's current revisions), written back out — one `<id>.toml` per item, as in
//! `bot-config/catalog/`, or one spreadsheet row per item with the columns offices keep.
//! Run it with the bot stopped (sled lets one process open the data directory).

use crate::catalog::Item;
use crate::catalog::sheet;
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
            std::fs::write(&out, sheet::write(&items)?)?;
            println!("已写出 {} 个事项到 {}", items.len(), out.display());
        }
    }
    Ok(())
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
}
