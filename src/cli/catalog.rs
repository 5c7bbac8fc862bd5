//! `bangban catalog export --format toml|xlsx`: the item guide as the bot answers from it (the
//! data directory's current revisions), written back out — one `<id>.toml` per item, as in
//! `bot-config/catalog/`, or one spreadsheet row per item with the columns offices keep.
//! Run it with the bot stopped (sled lets one process open the data directory); while the bot
//! runs, the console's export page (`/admin/export`) hands out the same, from the same code
//! (`console::export`).

use crate::config::Config;
use crate::console::export;
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
            "数据目录 {} 正被运行中的机器人使用。请先停止机器人，或在管理页面的“导出”下载。",
            dir.display()
        ),
        e => e.into(),
    })?;
    let items = export::items(&store, *retired)?;
    match format {
        Format::Toml => {
            let out = output.clone().unwrap_or_else(|| "catalog-export".into());
            std::fs::create_dir_all(&out)?;
            for item in &items {
                let path = out.join(format!("{}.toml", item.id));
                std::fs::write(&path, export::card(item)?)?;
            }
            println!("已写出 {} 个事项到 {}", items.len(), out.display());
        }
        Format::Xlsx => {
            let out = output.clone().unwrap_or_else(|| "事项清单.xlsx".into());
            std::fs::write(&out, export::sheet(&items)?)?;
            println!("已写出 {} 个事项到 {}", items.len(), out.display());
        }
    }
    Ok(())
}
