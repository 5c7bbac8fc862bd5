//! Who hears about a ticket, and how: the resident in their chat (quoted and @-mentioned), the
//! agents behind a handler in the agents' chats and, if they asked for it, privately.

use super::hours::OfficeHours;
use super::privacy;
use crate::catalog::Catalog;
use crate::config::org::{Agent, Org};
use crate::reply::short_name;
use crate::store::tickets::{Handler, Level, Ticket};
use bangban_contract::{Chat, Outgoing, Platform};

/// A message to the ticket's resident: in their chat, quoting their message, @-mentioning them in
/// a group.
pub fn to_resident(t: &Ticket, text: String) -> Outgoing {
    Outgoing::SendText {
        platform: t.platform,
        account: t.account.clone(),
        chat: t.chat.clone(),
        text,
        quote: Some(t.message_id.clone()),
        mention: matches!(t.chat, Chat::Group(_)).then(|| t.resident.clone()),
    }
}

/// The agents behind `handler`. A village without its own agent falls back to its township
/// centre, a township centre without agents to the district centre.
pub fn agents_of<'a>(org: &'a Org, handler: &Handler) -> Vec<&'a Agent> {
    let found = match handler {
        Handler::Village(v) => {
            let direct = org.village_agents(v);
            if direct.is_empty() {
                org.village(v)
                    .map(|v| org.township_agents(&v.township))
                    .unwrap_or_default()
            } else {
                direct
            }
        }
        Handler::Township(t) => org.township_agents(t),
        Handler::District => Vec::new(),
        Handler::Agent(a) => org.agent(a).into_iter().collect(),
    };
    if found.is_empty() {
        org.district_agents()
    } else {
        found
    }
}

/// When the agents behind `handler` are on duty: each one's `duty`, or office hours.
pub fn duty_of<'a>(org: &'a Org, handler: &Handler) -> Vec<&'a OfficeHours> {
    let agents = agents_of(org, handler);
    if agents.is_empty() {
        return vec![&org.hours];
    }
    agents.into_iter().map(|a| org.duty(a)).collect()
}

/// Who follows up, as residents read it: the agents' names, or the centre's name.
pub fn who(org: &Org, handler: &Handler) -> String {
    match handler {
        Handler::Township(t) => match org.township(t) {
            Some(t) => t.centre.name.clone(),
            None => org.district.name.clone(),
        },
        Handler::District => org.district.name.clone(),
        _ => names(&agents_of(org, handler)),
    }
}

/// The ladder rung a handler stands on.
pub fn level_of(org: &Org, handler: &Handler) -> Level {
    match handler {
        Handler::Village(_) => Level::Village,
        Handler::Township(_) => Level::Township,
        Handler::District => Level::District,
        Handler::Agent(id) => org.agent(id).map_or(Level::District, agent_level),
    }
}

/// The ladder rung an agent works on: the highest of what they cover.
pub fn agent_level(a: &Agent) -> Level {
    if a.district {
        Level::District
    } else if !a.townships.is_empty() {
        Level::Township
    } else {
        Level::Village
    }
}

pub fn level_label(level: Level) -> &'static str {
    match level {
        Level::Village => "村便民服务站",
        Level::Township => "乡镇便民服务中心",
        Level::District => "区政务服务中心",
    }
}

pub fn names(agents: &[&Agent]) -> String {
    agents
        .iter()
        .map(|a| a.name.as_str())
        .collect::<Vec<_>>()
        .join("、")
}

/// `QQ群900001`, `私聊`: where a ticket came from.
pub fn chat_label(platform: Platform, chat: &Chat) -> String {
    let p = match platform {
        Platform::Onebot | Platform::Qqbot => "QQ",
        Platform::Wecom => "企业微信",
        Platform::Telegram => "Telegram",
        Platform::Sandbox => "体验",
    };
    match chat {
        Chat::Group(id) => format!("{p}群{id}"),
        Chat::Private(_) => format!("{p}私聊"),
    }
}

/// The catalog item's short name, or 未识别事项.
pub fn item_label(catalog: &Catalog, item: Option<&str>) -> String {
    item.and_then(|id| catalog.get(id))
        .map_or_else(|| "未识别事项".to_string(), short_name)
}

/// The item for agents: its name, or 未识别事项 with the likely items when there are some.
fn item_for_agents(catalog: &Catalog, t: &Ticket) -> String {
    let label = item_label(catalog, t.item.as_deref());
    let likely: Vec<String> = t
        .candidates
        .iter()
        .filter_map(|id| catalog.get(id).map(short_name))
        .collect();
    if t.item.is_some() || likely.is_empty() {
        label
    } else {
        format!("{label}，可能是：{}", likely.join("、"))
    }
}

/// `老张（700001）`. `masked`: personal numbers in the display name hidden (a group card such as
/// `王建国13907111234`), for groups and the ledger. The platform user id is left as it is: agents
/// need it to find the resident, and it is not a personal number. The display name is the
/// resident's own text: made one clean line (see [`one_line`]).
pub fn resident_label(t: &Ticket, masked: bool) -> String {
    match t.resident_name.as_deref().map(one_line) {
        Some(name) if !name.is_empty() => {
            let name = if masked { privacy::mask(&name) } else { name };
            format!("{name}（{}）", t.resident)
        }
        _ => t.resident.clone(),
    }
}

/// How many characters of a resident's message group messages show.
pub const EXCERPT_CHARS: usize = 200;

/// The first [`EXCERPT_CHARS`] characters of `text`, with `…` when there was more.
pub fn excerpt(text: &str) -> String {
    cut(text, EXCERPT_CHARS)
}

/// The first `max` characters of `text`, with `…` when there was more.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// What stands for a line break inside quoted resident text.
pub const LINE_BREAK: &str = " ↵ ";

/// How much of a resident's text agents are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// All of it (a private chat).
    Full,
    /// Personal numbers masked, at most this many characters (where a group can read).
    Masked(usize),
}

impl Shown {
    /// A summary's question: in full privately, an [`excerpt`] where a group reads (`masked`).
    pub fn question(masked: bool) -> Shown {
        if masked {
            Shown::Masked(EXCERPT_CHARS)
        } else {
            Shown::Full
        }
    }
}

/// A resident's text as agents see it quoted: `「…」` on one line, so that nothing a resident
/// writes can pass for a line of the bot's own (`请…发“办结 1”结案。`). It is made one clean
/// line ([`one_line`]) and `「」` inside it become `『』`, so the quote cannot be closed early.
///
/// Every place that shows agents what a resident wrote quotes it with this function.
pub fn quote(text: &str, shown: Shown) -> String {
    let line = one_line(text).replace('「', "『").replace('」', "』");
    let line = match shown {
        Shown::Full => line,
        Shown::Masked(max) => cut(&privacy::mask(&line), max),
    };
    format!("「{line}」")
}

/// `text` as one clean line: line breaks (also U+2028, U+2029 and NEL) become [`LINE_BREAK`],
/// tabs a space, and what could hide or fake text is removed — control characters (C0, DEL,
/// C1, so no terminal escapes) and the invisible format characters that reorder or hide text
/// (bidi embeddings, overrides and isolates, zero-width spaces and joiners, marks, BOM).
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_break = false;
    for c in text.chars() {
        if is_line_break(c) {
            pending_break = true;
            continue;
        }
        if is_hidden(c) {
            continue;
        }
        if pending_break {
            pending_break = false;
            if !out.trim_end().is_empty() {
                out.truncate(out.trim_end().len());
                out.push_str(LINE_BREAK);
            }
        }
        out.push(if c == '\t' { ' ' } else { c });
    }
    out.truncate(out.trim_end().len());
    out.trim_start().to_string()
}

fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r' | '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}'
    )
}

/// Control and invisible format characters (a tab is kept: it becomes a space).
fn is_hidden(c: char) -> bool {
    (c.is_control() && c != '\t')
        || matches!(c,
            '\u{061C}'                 // Arabic letter mark
            | '\u{180E}'               // Mongolian vowel separator
            | '\u{200B}'..='\u{200F}' // zero-width space, joiners, LRM, RLM
            | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
            | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
            | '\u{2066}'..='\u{2069}' // bidi isolates
            | '\u{FEFF}') // BOM, zero-width no-break space
}

/// The ticket in a few lines for agents. `masked`: for groups — personal numbers hidden and the
/// question cut to an excerpt (a private chat gets the ticket's text in full).
pub fn summary(org: &Org, catalog: &Catalog, t: &Ticket, masked: bool) -> String {
    let chat = chat_label(t.platform, &t.chat);
    let place = match (t.village.as_deref().and_then(|v| org.village(v)), &t.chat) {
        (Some(v), _) => format!("{}（{chat}）", v.name),
        (None, Chat::Group(_)) => format!("未登记的群（{chat}）"),
        (None, Chat::Private(_)) => chat,
    };
    format!(
        "{place} 居民：{}\n事项：{}（{}）\n问题：{}",
        resident_label(t, masked),
        item_for_agents(catalog, t),
        t.reason.label(),
        quote(&t.question, Shown::question(masked)),
    )
}

/// Where a notice to the agents behind a handler goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub platform: Platform,
    /// The bot account that speaks there.
    pub account: String,
    pub chat: Chat,
    /// The one agent to @-mention in an agents' chat, if exactly one of them is on its platform.
    pub mention: Option<String>,
    /// A private chat with an agent (who may see the ticket's text in full).
    pub private: bool,
}

/// Where a notice to the agents behind `handler`, about a ticket that came in on `platform`
/// through bot `account`, goes: every agents' chat a bot account is known for (see
/// [`bot_account`]), and privately each of those agents who asked for it (`private = true`), on
/// the first platform where they have a user id and a bot account is known.
///
/// `bangban check` uses this too, to refuse a configuration in which a village's tickets would
/// reach no agent.
pub fn targets(org: &Org, platform: Platform, account: &str, handler: &Handler) -> Vec<Target> {
    let agents = agents_of(org, handler);
    let mut out = Vec::new();
    for chat in &org.agents_chats {
        let Some(bot) = bot_account(org, platform, account, chat.platform) else {
            continue;
        };
        let on_platform: Vec<&str> = agents
            .iter()
            .filter_map(|a| a.accounts.on(chat.platform))
            .collect();
        out.push(Target {
            platform: chat.platform,
            account: bot,
            chat: Chat::Group(chat.chat.0.clone()),
            mention: (on_platform.len() == 1).then(|| on_platform[0].to_string()),
            private: false,
        });
    }
    for agent in agents.iter().filter(|a| a.private) {
        let target = agent
            .accounts
            .iter()
            .filter_map(|(p, id)| Some((p, id.as_ref()?, bot_account(org, platform, account, p)?)))
            .next();
        if let Some((p, id, bot)) = target {
            out.push(Target {
                platform: p,
                account: bot,
                chat: Chat::Private(id.0.clone()),
                mention: None,
                private: true,
            });
        }
    }
    out
}

/// A message to the agents behind `handler` about ticket `t`, to each of its [`targets`]: into
/// every agents' chat (with the agent @-mentioned when there is exactly one) and privately to
/// agents who asked for it. `text(private)` writes it; groups get personal numbers masked,
/// private chats the full text.
pub fn to_agents(
    org: &Org,
    t: &Ticket,
    handler: &Handler,
    text: impl Fn(bool) -> String,
) -> Vec<Outgoing> {
    for chat in &org.agents_chats {
        if bot_account(org, t.platform, &t.account, chat.platform).is_none() {
            tracing::warn!(platform = ?chat.platform, chat = %chat.chat, ticket = t.id,
                "no bot account known for the agents' chat; set `account` in org.toml");
        }
    }
    targets(org, t.platform, &t.account, handler)
        .into_iter()
        .map(|target| Outgoing::SendText {
            platform: target.platform,
            account: target.account,
            chat: target.chat,
            text: text(target.private),
            quote: None,
            mention: target.mention,
        })
        .collect()
}

/// The bot account that speaks on `platform` about a ticket that came in on `from` through bot
/// `account`: the one configured for an agents' chat on `platform`, or else `account` when
/// `platform` is the ticket's own.
fn bot_account(org: &Org, from: Platform, account: &str, platform: Platform) -> Option<String> {
    let configured = org
        .agents_chats
        .iter()
        .filter(|c| c.platform == platform)
        .find_map(|c| c.account.as_ref().map(|a| a.0.clone()));
    configured.or_else(|| (from == platform).then(|| account.to_string()))
}
