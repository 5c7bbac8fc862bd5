//! `bangban users passwd NAME | token NAME | list`: console credentials of the admins and
//! agents of `org.toml`, kept in the data directory (argon2id password hashes, API tokens as
//! SHA-256 digests). Run it with the bot stopped: sled lets one process open the directory.

use crate::config::Config;
use crate::console::auth;
use crate::store::Store;
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Data directory [default: data_dir of bangban.toml].
    #[arg(long, env = "BANGBAN_DATA", global = true)]
    data: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Set NAME's console password (asked twice on a terminal; else one line from stdin).
    Passwd { name: String },
    /// Issue NAME a new API token (shown once) for `Authorization: Bearer`.
    Token {
        name: String,
        /// Withdraw NAME's earlier tokens.
        #[arg(long)]
        revoke_others: bool,
    },
    /// List the users and what credentials each has.
    List,
}

pub fn run(config: &Config, args: &Args) -> anyhow::Result<()> {
    let dir = args
        .data
        .clone()
        .unwrap_or_else(|| config.service.data_dir.clone());
    let store = Store::open(&dir).map_err(|e| match e {
        crate::store::StoreError::Locked { .. } => anyhow::anyhow!(
            "数据目录 {} 正被运行中的机器人使用。请先停止机器人，设置好后再启动。",
            dir.display()
        ),
        e => e.into(),
    })?;
    let org = &config.org;
    let known = |name: &str| {
        auth::person(org, name).ok_or_else(|| {
            anyhow::anyhow!(
                "{} 里没有编号为 {name} 的管理员或专员",
                config.dir.join("org.toml").display()
            )
        })
    };
    let at = crate::console::now_ms();
    let audit = |action: &str, name: &str| {
        store.audit(&crate::store::audit::AuditEntry {
            at,
            who: "cli".into(),
            from: "cli".into(),
            action: action.into(),
            target: name.into(),
            detail: String::new(),
        })
    };
    match &args.command {
        Command::Passwd { name } => {
            let (person, role) = known(name)?;
            let password = read_password()?;
            if password.chars().count() < 8 {
                anyhow::bail!("密码太短：至少 8 个字符");
            }
            let mut c = store.credentials(name)?;
            c.password = Some(auth::hash_password(&password)?);
            store.set_credentials(name, &c)?;
            audit("user.passwd", name)?;
            println!("已为 {person}（{}）设置密码。", role.label());
        }
        Command::Token {
            name,
            revoke_others,
        } => {
            let (person, _) = known(name)?;
            let token = auth::random_token();
            let mut c = store.credentials(name)?;
            if *revoke_others {
                c.tokens.clear();
            }
            c.tokens.push(auth::digest(&token));
            store.set_credentials(name, &c)?;
            audit("user.token", name)?;
            eprintln!("{person} 的 API 令牌（只显示这一次，请妥善保存）：");
            println!("{token}");
        }
        Command::List => {
            for (id, name, role) in org
                .admins
                .iter()
                .map(|a| (&a.id, &a.name, auth::Role::Admin))
                .chain(
                    org.agents
                        .iter()
                        .map(|a| (&a.id, &a.name, auth::Role::Agent)),
                )
            {
                let c = store.credentials(id)?;
                println!(
                    "{id}\t{name}\t{}\t{}\t{} 个令牌",
                    role.label(),
                    if c.password.is_some() {
                        "有密码"
                    } else {
                        "无密码"
                    },
                    c.tokens.len()
                );
            }
        }
    }
    store.flush_blocking()?;
    Ok(())
}

fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("新密码：")?;
        let again = rpassword::prompt_password("再输一次：")?;
        if first != again {
            anyhow::bail!("两次输入的密码不一样，没有设置");
        }
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
