//! Admins' chat commands, carried out where admins already are (the agents' group, or a private
//! chat with the bot): add an alias or an example question to an item, or look at its current
//! revision. A change is first shown and waits for the admin's `确认` ([`KEEP_MS`]); it is then
//! saved as a revision by that admin, audited and taken in by the live guide exactly as a save in
//! the console ([`crate::console::items`]). Anyone else is refused; an unconfirmed change
//! expires and changes nothing.

use super::Desk;
use super::commands::AdminCommand;
use crate::catalog::Item;
use crate::catalog::fields::example_kind_label;
use crate::config::org::Person;
use crate::console::auth::User;
use crate::console::items::{self, Change, Refused};
use crate::engine::reply_to;
use crate::store::seen::platform_name;
use bangban_contract::{Chat, Incoming, Outgoing, Platform};
use std::collections::HashMap;
use std::sync::Mutex;

/// How long a change waits for its `确认`.
pub const KEEP_MS: u64 = 5 * 60 * 1000;

/// What admins are told when they ask for help or mistype a command.
pub const USAGE: &str = "管理员命令（在专员群或私聊机器人时用）：
加别名 事项 别名 —— 例如：加别名 elder-card 老人卡
加问法 事项 [方面] 问法 —— 例如：加问法 elder-card 老人卡咋办（方面可写 申请材料、办理地点 等，不写就是“怎么办”）
看事项 事项 —— 看事项现在是第几版、谁改的
事项写编号（如 elder-card）或名称、别名都可以。改动要回复“确认”才生效，5 分钟内有效；回复“取消”作罢。";

const NOT_ADMIN: &str = "这个命令只有管理员能用。";
const NOT_HERE: &str = "管理命令请在专员群里或私聊机器人时使用。";
const NOTHING_PENDING: &str = "现在没有待确认的修改。";

/// A change shown to an admin and waiting for their `确认`.
struct Pending {
    card: Item,
    base: u64,
    /// The audit action: `chat.alias` or `chat.example`.
    action: &'static str,
    /// What changes, as the admin was shown it.
    what: String,
    until: u64,
}

/// The changes waiting for confirmation, one per admin (a new command replaces it), and the
/// answer to each confirmation already carried out, so a replayed `确认` is answered the same.
#[derive(Default)]
pub struct Pendings {
    waiting: Mutex<HashMap<(Platform, String), Pending>>,
    done: Mutex<HashMap<String, String>>,
}

impl Desk {
    /// Carries out an admin command from `event`. `None`: not for the admin desk (a `确认` or
    /// `取消` from someone who is not an admin, or typed where residents read), so the message
    /// is handled as any other.
    pub async fn admin(
        &self,
        event: &Incoming,
        command: AdminCommand,
        now: u64,
    ) -> anyhow::Result<Option<Vec<Outgoing>>> {
        let org = &self.config.org;
        let admin = match org.person(event.platform, &event.sender) {
            Some(Person::Admin(a)) => Some(a),
            _ => None,
        };
        let here = match &event.chat {
            Chat::Private(_) => true,
            Chat::Group(id) => org.is_agents_chat(event.platform, id),
        };
        let answer = |text: &str| Ok(Some(vec![reply_to(event, text.to_owned())]));
        let yes_or_no = matches!(command, AdminCommand::Confirm | AdminCommand::Cancel);
        let Some(admin) = admin else {
            if yes_or_no {
                return Ok(None);
            }
            tracing::info!(platform = ?event.platform, chat = %event.chat.id(),
                "admin command from someone not listed as an admin; refused");
            return answer(NOT_ADMIN);
        };
        if !here {
            return if yes_or_no {
                Ok(None)
            } else {
                answer(NOT_HERE)
            };
        }
        let who = (event.platform, event.sender.clone());
        let text = match command {
            AdminCommand::Help => USAGE.to_owned(),
            AdminCommand::Show { item } => self.show_item(&item)?,
            AdminCommand::Cancel => {
                match self.pendings.waiting.lock().expect("lock").remove(&who) {
                    Some(_) => "已取消，什么都没有改。".to_owned(),
                    None => NOTHING_PENDING.to_owned(),
                }
            }
            AdminCommand::AddAlias { item, alias } => {
                self.propose(who, &item, now, Proposal::Alias(alias))?
            }
            AdminCommand::AddExample {
                item,
                kind,
                question,
            } => self.propose(
                who,
                &item,
                now,
                Proposal::Example(kind.unwrap_or("overview"), question),
            )?,
            AdminCommand::Confirm => {
                let source = crate::store::tickets::source_key(
                    event.platform,
                    &event.account,
                    &event.message_id,
                );
                if let Some(said) = self.pendings.done.lock().expect("lock").get(&source) {
                    return answer(said);
                }
                let user = User::of(org, &admin.id, None).expect("an admin of org.toml");
                let from = format!("{}:{}", platform_name(event.platform), event.chat.id());
                let said = self.confirm(&who, &user, &from, now).await?;
                self.pendings
                    .done
                    .lock()
                    .expect("lock")
                    .insert(source, said.clone());
                said
            }
        };
        answer(&text)
    }

    /// The item an admin names: its id, name, short name or one of its aliases.
    fn find_item(&self, name: &str) -> Option<Item> {
        let live = self.guide.load();
        let catalog = &live.catalog;
        catalog
            .get(name)
            .or_else(|| {
                catalog.items().iter().find(|i| {
                    i.name == name || i.short_name() == name || i.aliases.iter().any(|a| a == name)
                })
            })
            .cloned()
    }

    fn show_item(&self, name: &str) -> anyhow::Result<String> {
        let Some(item) = self.find_item(name) else {
            return Ok(unknown(name));
        };
        let Some(rev) = self.store.catalog_item(&item.id)? else {
            return Ok(unknown(name));
        };
        let at = self
            .config
            .org
            .hours
            .format_datetime((rev.at / 1000) as i64);
        let note = if rev.note.is_empty() {
            String::new()
        } else {
            format!("（{}）", rev.note)
        };
        let examples: usize = rev.item.examples.values().map(Vec::len).sum();
        let aliases = if rev.item.aliases.is_empty() {
            "无".to_owned()
        } else {
            rev.item.aliases.join("、")
        };
        Ok(format!(
            "“{}”（{}）现在是第 {} 版：{} 于 {at} 保存{note}。\n别名：{aliases}\n相似问法 {examples} 句，常见问题 {} 条。",
            rev.item.name,
            rev.item.id,
            rev.rev,
            rev.who,
            rev.item.faq.len()
        ))
    }

    /// Shows what `proposal` would change and keeps it for the admin's `确认`.
    fn propose(
        &self,
        who: (Platform, String),
        name: &str,
        now: u64,
        proposal: Proposal,
    ) -> anyhow::Result<String> {
        let Some(found) = self.find_item(name) else {
            return Ok(unknown(name));
        };
        let Some(current) = self.store.catalog_item(&found.id)? else {
            return Ok(unknown(name));
        };
        let mut card = current.item.clone();
        let label = format!("“{}”（{}，第 {} 版）", card.name, card.id, current.rev);
        let (action, what) = match &proposal {
            Proposal::Alias(alias) => {
                if card.name == *alias || card.aliases.contains(alias) {
                    return Ok(format!("{label}已经有别名“{alias}”了，不用再加。"));
                }
                card.aliases.push(alias.clone());
                ("chat.alias", format!("给{label}加别名：{alias}"))
            }
            Proposal::Example(kind, question) => {
                let list = card.examples.entry((*kind).to_owned()).or_default();
                if list.contains(question) {
                    return Ok(format!("{label}已经有这个问法了，不用再加。"));
                }
                list.push(question.clone());
                (
                    "chat.example",
                    format!(
                        "给{label}加问法（{}）：{question}",
                        example_kind_label(kind)
                    ),
                )
            }
        };
        match items::check_with_the_rest(&self.store, &card) {
            Ok(()) => {}
            Err(Refused::Invalid(errors)) => {
                let why: Vec<String> = errors.into_iter().map(|e| e.message).collect();
                return Ok(format!("改不了：{}", why.join("；")));
            }
            Err(e) => return Err(anyhow::anyhow!("{}", e.message())),
        }
        let text = format!("将{what}。\n回复“确认”生效（5 分钟内有效），回复“取消”作罢。");
        self.pendings.waiting.lock().expect("lock").insert(
            who,
            Pending {
                card,
                base: current.rev,
                action,
                what,
                until: now + KEEP_MS,
            },
        );
        Ok(text)
    }

    /// Saves the admin's waiting change as a revision by them.
    async fn confirm(
        &self,
        who: &(Platform, String),
        user: &User,
        from: &str,
        now: u64,
    ) -> anyhow::Result<String> {
        let Some(p) = self.pendings.waiting.lock().expect("lock").remove(who) else {
            return Ok(NOTHING_PENDING.to_owned());
        };
        if now > p.until {
            return Ok(
                "刚才的修改超过 5 分钟没有确认，已作废，什么都没有改。请重新发命令。".into(),
            );
        }
        let note = format!("群里{}", p.what.trim_start_matches('给'));
        let change = Change {
            user,
            from,
            note: &note,
            base: Some(p.base),
        };
        match items::save_to(&self.store, &self.guide, &p.card, &change, p.action).await {
            Ok(rev) => Ok(format!(
                "已生效：{}。现在是第 {} 版，机器人马上按新内容回答（重新学习要一两秒）。",
                p.what, rev.rev
            )),
            Err(Refused::Stale(current)) => Ok(format!(
                "没有生效：确认之前 {} 改过这个事项（第 {} 版）。请看过后重新发命令。",
                current.who, current.rev
            )),
            Err(Refused::Invalid(errors)) => {
                let why: Vec<String> = errors.into_iter().map(|e| e.message).collect();
                Ok(format!("没有生效：{}", why.join("；")))
            }
            Err(Refused::Unknown) => Ok("没有生效：这个事项已经不在了。".into()),
            Err(e) => Err(anyhow::anyhow!("{}", e.message())),
        }
    }
}

enum Proposal {
    Alias(String),
    Example(&'static str, String),
}

fn unknown(name: &str) -> String {
    format!("找不到事项“{name}”。请写事项编号（如 elder-card）或名称、别名。")
}
