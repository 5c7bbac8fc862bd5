//! `bangban chat`: a terminal sandbox group of village v01, served by the real engine (dialogue
//! context, help desk) on a throw-away data directory unless `--data` is given. Each line is a
//! resident's message; a line starting with "@" is addressed to the bot; a line starting with "#"
//! is typed by the village's agent in the agents' chat (接单 1, 回复 1 …, 办结 1). What the engine
//! sends to the agents' chat is shown too.

use crate::config::Config;
use crate::engine::Engine;
use crate::store::Store;
use bangban_contract::{Chat, Incoming, Outgoing, Platform};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::Arc;

/// The sandbox chat's id; `org.toml` maps it to a village.
pub const SANDBOX_GROUP: &str = "sandbox";
/// The sandbox agents' chat and the sandbox user id of village v01's agent (`org.toml`).
const AGENTS_CHAT: &str = "sandbox-agents";
const AGENT: &str = "agent";

#[derive(clap::Args)]
pub struct Args {
    /// Keep the sandbox's tickets in this data directory (default: a temporary one).
    #[arg(long)]
    data: Option<PathBuf>,
}

pub fn run(config: Config, args: &Args) -> anyhow::Result<()> {
    let temp;
    let dir = match &args.data {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let store = Store::open(&dir)?;
    let engine = Engine::new(Arc::new(config), store);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Message ids must be new in every session: with --data a second session must not look like
    // a replay of the first one's messages.
    let session = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "帮办沙盒群（大湖村）：输入居民的话，回车发送。以 @ 开头表示@机器人，以 # 开头表示专员在专员群里发（如 #接单 1）；Ctrl-D 退出。"
    )?;
    for (n, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line?;
        let text = line.trim();
        let addressed = text.starts_with(['@', '＠']);
        let agent = text.starts_with(['#', '＃']);
        let (chat, sender, name) = if agent {
            (AGENTS_CHAT, AGENT, "大湖村专员")
        } else {
            (SANDBOX_GROUP, "resident", "居民")
        };
        let event = Incoming {
            platform: Platform::Sandbox,
            account: "sandbox".into(),
            chat: Chat::Group(chat.into()),
            sender: sender.into(),
            sender_name: Some(name.into()),
            message_id: format!("chat-{session}-{n}"),
            text: text.trim_start_matches(['@', '＠', '#', '＃']).to_string(),
            mentions_bot: addressed,
            reply_to: None,
        };
        for action in runtime.block_on(engine.handle(&event))? {
            let Outgoing::SendText {
                platform,
                chat,
                text,
                ..
            } = action;
            if platform == Platform::Sandbox && chat.id() == SANDBOX_GROUP {
                writeln!(out, "帮办小助手：{text}\n")?;
            } else {
                writeln!(out, "（发给专员 {platform:?} {}：{text}）\n", chat.id())?;
            }
        }
    }
    Ok(())
}
