//! `bangban stats`: the statistics' summary table (概况) of a period and scope, from the data
//! directory or — while the bot is running and holds the directory (sled allows one process) —
//! from the running bot over HTTP (`GET /api/v1/stats`, with `BANGBAN_ADMIN_TOKEN` or the local
//! token the bot keeps in the data directory, as `bangban tickets` does).
//!
//! `bangban stats --recount` recounts every counter from the tickets and the recorded questions,
//! prints what differed and writes the recount. Writing needs the bot stopped: while it runs, the
//! bot compares (`GET /api/v1/stats/recount`) and the differences are only printed.

use super::tickets::{default_server, fetch, token};
use crate::config::Config;
use crate::stats::{self, Filter, Period, Report, Scope};
use crate::store::stats::{Mismatch, Recount};
use crate::store::{Store, StoreError};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct Args {
    /// Data directory [default: data_dir of bangban.toml, i.e. data].
    #[arg(long, env = "BANGBAN_DATA")]
    data: Option<PathBuf>,
    /// The running bot, asked when the data directory is in use
    /// [default: http:// + BANGBAN_LISTEN, else server.listen of bangban.toml].
    #[arg(long)]
    server: Option<String>,
    /// First day, YYYY-MM-DD [default: the first of the last day's month].
    #[arg(long)]
    from: Option<String>,
    /// Last day, YYYY-MM-DD [default: today].
    #[arg(long)]
    to: Option<String>,
    /// all, township:ID or village:ID.
    #[arg(long, default_value = "all")]
    scope: String,
    /// Only this item (its id).
    #[arg(long)]
    item: Option<String>,
    /// Also count the console's sandbox (the ledger leaves it out).
    #[arg(long)]
    sandbox: bool,
    /// Recount the counters from the tickets and questions, print what changed and fix it
    /// (the bot must be stopped).
    #[arg(long, conflicts_with_all = ["from", "to", "item", "sandbox"])]
    recount: bool,
}

pub fn run(config: &Config, args: &Args) -> anyhow::Result<()> {
    let dir = args
        .data
        .clone()
        .unwrap_or_else(|| config.service.data_dir.clone());
    check_dir(&dir)?;
    let store = match Store::open(&dir) {
        Ok(store) => Some(store),
        Err(StoreError::Locked { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let server = || match &args.server {
        Some(url) => Ok(url.trim_end_matches('/').to_owned()),
        None => default_server(config),
    };
    if args.recount {
        return match store {
            Some(store) => recount(config, &store),
            None => {
                let server = server()?;
                eprintln!(
                    "数据目录 {} 正被运行中的机器人使用，改为请机器人核对（只核对，不改动）。",
                    dir.display()
                );
                let body = fetch(&server, &token(&dir)?, "/api/v1/stats/recount", &[])?;
                check_running(config, &serde_json::from_slice(&body)?)
            }
        };
    }
    let report = match store {
        Some(store) => {
            eprintln!("从数据目录 {} 读取统计。", dir.display());
            local_report(config, &store, args)?
        }
        None => {
            let server = server()?;
            eprintln!(
                "数据目录 {} 正被运行中的机器人使用，改为通过 {server} 向机器人读取统计。",
                dir.display()
            );
            remote_report(&server, &token(&dir)?, args)?
        }
    };
    print_summary(&report)
}

/// A directory without a bangban database is refused: opening it would create an empty one.
fn check_dir(dir: &Path) -> anyhow::Result<()> {
    if !dir.is_dir() {
        anyhow::bail!(
            "没有找到数据目录 {}。用 --data 指定，或设置 BANGBAN_DATA。",
            dir.display()
        );
    }
    if !dir.join("conf").is_file() || !dir.join("db").is_file() {
        anyhow::bail!(
            "{} 里没有机器人的数据（找不到 conf 和 db 文件），没有读取。\n\
             请用 --data 指定机器人的数据目录（bangban.toml 里的 data_dir），或设置 BANGBAN_DATA。",
            dir.display()
        );
    }
    Ok(())
}

fn local_report(config: &Config, store: &Store, args: &Args) -> anyhow::Result<Report> {
    let org = &config.org;
    let scope = Scope::parse(&args.scope, org).map_err(anyhow::Error::msg)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let today = org.hours.local(now).0;
    let period = Period::parse(args.from.as_deref(), args.to.as_deref(), today)
        .map_err(anyhow::Error::msg)?;
    let item = args.item.clone().filter(|i| !i.trim().is_empty());
    if let Some(id) = &item
        && config.catalog.get(id).is_none()
    {
        anyhow::bail!("没有编号为“{id}”的事项");
    }
    let filter = Filter {
        period,
        scope,
        item,
        sandbox: args.sandbox,
    };
    // Days are cut with the offset the counters were kept with; a changed offset is rebuilt at
    // the bot's next start.
    let stored = store.stats()?.offset()?;
    if stored != org.hours.offset {
        eprintln!(
            "注意：统计按 UTC 偏移 {stored} 秒分日，org.toml 现在是 {} 秒；机器人下次启动时会按新的重算。",
            org.hours.offset
        );
    }
    stats::report(store, org, &config.catalog, &filter)
}

/// The percent-encoded query.
fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn remote_report(base: &str, token: &Option<String>, args: &Args) -> anyhow::Result<Report> {
    let mut q = vec![format!("scope={}", encode(&args.scope))];
    for (k, v) in [("from", &args.from), ("to", &args.to), ("item", &args.item)] {
        if let Some(v) = v {
            q.push(format!("{k}={}", encode(v)));
        }
    }
    if args.sandbox {
        q.push("sandbox=1".into());
    }
    let body = fetch(base, token, &format!("/api/v1/stats?{}", q.join("&")), &[])?;
    Ok(serde_json::from_slice(&body)?)
}

fn print_summary(r: &Report) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "指标\t数值")?;
    for (label, value) in stats::export::summary(r) {
        writeln!(out, "{label}\t{value}")?;
    }
    Ok(())
}

/// One difference, in Chinese: where, what, before and after.
fn describe(config: &Config, m: &Mismatch) -> String {
    let n = |v: Option<i64>| v.unwrap_or(0).to_string();
    let Some(b) = &m.key else {
        return format!(
            "无法识别的记录 {}：原来 {}，重算后 {}",
            m.bucket,
            n(m.stored),
            n(m.recounted)
        );
    };
    let village = if b.village.is_empty() {
        "村群以外".to_owned()
    } else {
        config
            .org
            .village(&b.village)
            .map_or_else(|| b.village.clone(), |v| v.name.clone())
    };
    let item = if b.item.is_empty() {
        String::new()
    } else {
        let name = config
            .catalog
            .get(&b.item)
            .map_or_else(|| b.item.clone(), |i| i.name.clone());
        format!(" {name}")
    };
    let sandbox = if b.sandbox { "（沙盒）" } else { "" };
    let what = stats::metric_label(&b.metric);
    let place = format!("{} {village}{sandbox}{item}", stats::date(b.day));
    match m.ticket {
        Some(t) => {
            let ms = |v: Option<i64>| {
                v.map_or_else(
                    || "无".to_owned(),
                    |ms| crate::helpdesk::ledger::duration(ms.max(0) as u64),
                )
            };
            format!(
                "{place} 工单{t}的{what}：原来 {}，重算后 {}",
                ms(m.stored),
                ms(m.recounted)
            )
        }
        None => format!(
            "{place} {what}：原来 {}，重算后 {}",
            n(m.stored),
            n(m.recounted)
        ),
    }
}

fn recount(config: &Config, store: &Store) -> anyhow::Result<()> {
    let s = store.stats()?;
    let offset = config.org.hours.offset;
    let stored_offset = s.offset()?;
    let found = s.recount()?;
    let mut out = std::io::stdout().lock();
    if found.mismatches.is_empty() && stored_offset == offset {
        writeln!(
            out,
            "统计与 {} 件工单、{} 条提问记录一致，没有改动。",
            found.tickets, found.questions
        )?;
        return Ok(());
    }
    for m in &found.mismatches {
        writeln!(out, "{}", describe(config, m))?;
    }
    if stored_offset != offset {
        writeln!(
            out,
            "分日用的 UTC 偏移从 {stored_offset} 秒改为 org.toml 的 {offset} 秒，全部按新的分日。"
        )?;
    }
    s.rebuild(offset)?;
    store.flush_blocking()?;
    let after = s.recount()?;
    if !after.mismatches.is_empty() {
        anyhow::bail!(
            "重算后仍有 {} 处不一致，请联系技术人员。",
            after.mismatches.len()
        );
    }
    writeln!(
        out,
        "已按 {} 件工单、{} 条提问记录重算，改正了 {} 处。",
        found.tickets,
        found.questions,
        found.mismatches.len()
    )?;
    Ok(())
}

/// What the running bot found: the differences, if any, are printed and left for a recount
/// with the bot stopped (an error, so that scripts notice).
fn check_running(config: &Config, found: &Recount) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if !found.settled {
        anyhow::bail!("机器人一直在处理消息，没能核对完。请稍后再试，或停下机器人再运行。");
    }
    if found.mismatches.is_empty() {
        writeln!(
            out,
            "统计与 {} 件工单、{} 条提问记录一致。",
            found.tickets, found.questions
        )?;
        return Ok(());
    }
    for m in &found.mismatches {
        writeln!(out, "{}", describe(config, m))?;
    }
    anyhow::bail!(
        "有 {} 处不一致，机器人运行时不改动。请停下机器人后再运行 bangban stats --recount 改正。",
        found.mismatches.len()
    )
}
