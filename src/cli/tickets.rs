//! `bangban tickets list|export`: the ledger (帮代办服务台账) from the data directory, or — while the
//! bot is running and holds the directory (sled allows one process) — from the running bot over
//! HTTP (`GET /api/tickets…`, see `helpdesk::http`). Either way the command says which it used.
//!
//! Through the bot, the request carries `BANGBAN_ADMIN_TOKEN` when set, else the local token the
//! running bot keeps in the data directory: who may read the data directory may read the ledger.

use crate::config::Config;
use crate::helpdesk::http;
use crate::helpdesk::ledger::{self, Period, Row};
use crate::store::{Store, StoreError};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct Args {
    /// Data directory [default: data_dir of bangban.toml, i.e. data].
    #[arg(long, env = "BANGBAN_DATA", global = true)]
    data: Option<PathBuf>,
    /// The running bot, asked when the data directory is in use
    /// [default: http:// + the listen address: BANGBAN_LISTEN, else server.listen of bangban.toml,
    /// i.e. http://127.0.0.1:8080].
    #[arg(long, global = true)]
    server: Option<String>,
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Print the tickets, one a line.
    List(PeriodArgs),
    /// Write the ledger as CSV or XLSX.
    Export {
        #[arg(long, value_enum, default_value = "csv")]
        format: Format,
        #[command(flatten)]
        period: PeriodArgs,
        /// The file to write [default: CSV to standard output, XLSX to 帮代办服务台账.xlsx].
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct PeriodArgs {
    /// First day, YYYY-MM-DD (tickets opened on or after it).
    #[arg(long)]
    from: Option<String>,
    /// Last day, YYYY-MM-DD (tickets opened on or before it).
    #[arg(long)]
    to: Option<String>,
}

#[derive(clap::ValueEnum, Clone, Copy, PartialEq)]
enum Format {
    Csv,
    Xlsx,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
        }
    }
}

/// Where the ledger comes from.
enum Source {
    Local(Store),
    /// The running bot's address and the token to show it.
    Running(String, Option<String>),
}

pub fn run(config: &Config, args: &Args) -> anyhow::Result<()> {
    let period_args = match &args.command {
        Sub::List(p) => p,
        Sub::Export { period, .. } => period,
    };
    let (from, to) = (period_args.from.as_deref(), period_args.to.as_deref());
    let period = Period::parse(from, to).map_err(anyhow::Error::msg)?;
    let dir = args
        .data
        .clone()
        .unwrap_or_else(|| config.service.data_dir.clone());
    let server = match &args.server {
        Some(url) => url.clone(),
        None => default_server(config)?,
    };
    let source = open(&dir, &server)?;
    match &args.command {
        Sub::List(_) => {
            let rows = match &source {
                Source::Local(store) => ledger::load(config, store, period)?,
                Source::Running(url, token) => {
                    let body = fetch(url, token, "/api/tickets", &query(None, from, to))?;
                    serde_json::from_slice(&body)?
                }
            };
            print_list(&rows)?;
        }
        Sub::Export { format, out, .. } => {
            let bytes = match &source {
                Source::Local(store) => {
                    let rows = ledger::load(config, store, period)?;
                    eprintln!("台账共 {} 件工单。", rows.len());
                    match format {
                        Format::Csv => ledger::csv(&rows)?,
                        Format::Xlsx => ledger::xlsx(&rows)?,
                    }
                }
                Source::Running(url, token) => fetch(
                    url,
                    token,
                    "/api/tickets/export",
                    &query(Some(format.name()), from, to),
                )?,
            };
            let out = out.clone().or_else(|| {
                (*format == Format::Xlsx).then(|| PathBuf::from("帮代办服务台账.xlsx"))
            });
            match out {
                Some(path) => {
                    std::fs::write(&path, &bytes)
                        .map_err(|e| anyhow::anyhow!("写不了 {}：{e}", path.display()))?;
                    eprintln!("已导出到 {}。", path.display());
                }
                None => std::io::stdout().lock().write_all(&bytes)?,
            }
        }
    }
    Ok(())
}

/// The running bot's address, as `bangban run` listens: `BANGBAN_LISTEN`, else `server.listen`
/// of bangban.toml; an unspecified address (0.0.0.0, ::) is reached on loopback.
pub(super) fn default_server(config: &Config) -> anyhow::Result<String> {
    let mut addr = match std::env::var("BANGBAN_LISTEN") {
        Ok(text) if !text.trim().is_empty() => text.trim().parse::<SocketAddr>().map_err(|_| {
            anyhow::anyhow!(
                "BANGBAN_LISTEN 的地址“{text}”不对，要写成 IP:端口，例如 127.0.0.1:8080"
            )
        })?,
        _ => config.service.server.listen,
    };
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            IpAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
            IpAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
        });
    }
    Ok(format!("http://{addr}"))
}

/// Opens the data directory, or falls back to the running bot when it holds the directory.
/// A directory without a bangban database is refused: opening it would create an empty one and
/// report an empty ledger.
fn open(dir: &Path, server: &str) -> anyhow::Result<Source> {
    if !dir.is_dir() {
        anyhow::bail!(
            "没有找到数据目录 {}。用 --data 指定，或设置 BANGBAN_DATA。",
            dir.display()
        );
    }
    // sled keeps `conf` and `db` in every database directory it created.
    if !dir.join("conf").is_file() || !dir.join("db").is_file() {
        anyhow::bail!(
            "{} 里没有机器人的数据（找不到 conf 和 db 文件），没有读取。\n\
             请用 --data 指定机器人的数据目录（bangban.toml 里的 data_dir），或设置 BANGBAN_DATA。",
            dir.display()
        );
    }
    match Store::open(dir) {
        Ok(store) => {
            eprintln!("从数据目录 {} 读取台账。", dir.display());
            Ok(Source::Local(store))
        }
        Err(StoreError::Locked { .. }) => {
            eprintln!(
                "数据目录 {} 正被运行中的机器人使用，改为通过 {server} 向机器人读取台账。",
                dir.display()
            );
            Ok(Source::Running(
                server.trim_end_matches('/').to_string(),
                token(dir)?,
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// The token to show the running bot: `BANGBAN_ADMIN_TOKEN` if set, else the local token the
/// bot wrote into the data directory (`None` when there is none yet: the bot will say 401).
pub(super) fn token(dir: &Path) -> anyhow::Result<Option<String>> {
    if let Ok(token) = std::env::var("BANGBAN_ADMIN_TOKEN")
        && !token.trim().is_empty()
    {
        return Ok(Some(token.trim().to_owned()));
    }
    let path = http::local_token_path(dir);
    match std::fs::read_to_string(&path) {
        Ok(token) => Ok(Some(token.trim().to_owned()).filter(|t| !t.is_empty())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => anyhow::bail!(
            "读不了 {}（{e}）。请用运行机器人的同一个系统用户执行，或设置环境变量 BANGBAN_ADMIN_TOKEN。",
            path.display()
        ),
    }
}

fn query(
    format: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
) -> Vec<(&'static str, String)> {
    let mut q = Vec::new();
    if let Some(f) = format {
        q.push(("format", f.to_string()));
    }
    if let Some(f) = from {
        q.push(("from", f.to_string()));
    }
    if let Some(t) = to {
        q.push(("to", t.to_string()));
    }
    q
}

/// GETs `path` (with `query` added) from the running bot, showing `token`.
pub(super) fn fetch(
    base: &str,
    token: &Option<String>,
    path: &str,
    query: &[(&str, String)],
) -> anyhow::Result<Vec<u8>> {
    // The values are checked dates and format names: nothing to escape.
    let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let url = if query.is_empty() {
        format!("{base}{path}")
    } else {
        format!("{base}{path}?{}", query.join("&"))
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut req = reqwest::Client::new().get(&url);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let res = req.send().await.map_err(|e| {
            anyhow::anyhow!(
                "连不上运行中的机器人 {base}（{e}）。\n请确认机器人在运行（bangban run），地址用 --server 指定；\
                 或者先停下机器人再试。"
            )
        })?;
        let status = res.status();
        let body = res.bytes().await?.to_vec();
        if status == reqwest::StatusCode::UNAUTHORIZED {
            anyhow::bail!(
                "机器人拒绝了请求（{status}）：没有有效的令牌。请在机器人所在的机器上、用运行机器人的\
                 同一个系统用户执行（会读取数据目录里的 {}），或设置环境变量 BANGBAN_ADMIN_TOKEN。",
                http::LOCAL_TOKEN_FILE
            );
        }
        if !status.is_success() {
            let message = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_owned());
            anyhow::bail!("机器人拒绝了请求（{status}）：{message}");
        }
        Ok(body)
    })
}

fn print_list(rows: &[Row]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "工单号\t阶段\t建单时间\t村\t居民\t事项\t受理人\t评价\t问题"
    )?;
    for r in rows {
        writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            r.id,
            r.stage,
            r.created_at,
            r.village,
            r.resident,
            r.item,
            r.claimed_by,
            r.rating,
            r.question.replace(['\n', '\t'], " ")
        )?;
    }
    writeln!(out, "共 {} 件。", rows.len())?;
    Ok(())
}
