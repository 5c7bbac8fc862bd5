//! `bangban chat`: a terminal sandbox group. Each line is a resident's message; a line starting
//! with "@" is addressed to the bot. A digit answers the bot's last "回复数字" question.

use crate::config::Config;
use crate::reply;
use crate::understand::{Decision, Matcher};
use std::io::{BufRead, Write};

pub fn run(config: &Config) -> anyhow::Result<()> {
    let matcher = Matcher::new(config);
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "帮办沙盒群：输入居民的话，回车发送。以 @ 开头表示@机器人；Ctrl-D 退出。"
    )?;
    let mut pending: Vec<usize> = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let text = line.trim();
        let addressed = text.starts_with('@') || text.starts_with('＠');
        let text = text.trim_start_matches(['@', '＠']);
        let picked = text
            .parse::<usize>()
            .ok()
            .and_then(|n| pending.get(n.wrapping_sub(1)).copied());
        let reply = match picked {
            Some(item) => {
                pending.clear();
                let item = &config.catalog.items()[item];
                reply::answer(
                    item,
                    crate::catalog::Aspect::Overview,
                    None,
                    &config.replies,
                )
            }
            None => {
                let u = matcher.understand(text, addressed);
                pending = if u.decision == Decision::Clarify {
                    u.candidates.clone()
                } else {
                    Vec::new()
                };
                reply::render(&u, &config.catalog, &config.replies)
            }
        };
        if !reply.is_empty() {
            writeln!(out, "帮办小助手：{reply}\n")?;
        }
    }
    Ok(())
}
