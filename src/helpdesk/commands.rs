//! Agents' commands as typed in chat: Chinese verbs with slash aliases.
//!
//! `接单 12`, `回复 12 内容`, `转办 12 庙岭镇`, `办结 12`, `我的工单`, `工单 12`; also `/接单 12`,
//! `/claim 12`, `/reply 12 …`, `/transfer 12 …`, `/resolve 12` (`/done`), `/mine`, `/ticket 12`,
//! `/help`. Numbers may be full-width or written `#12` / `12号`.
//!
//! Admins' commands (carried out by [`super::admin`]): `加别名 事项 别名`, `加问法 事项 [方面] 问法`,
//! `看事项 事项`, then `确认` or `取消`; also `/alias`, `/example`, `/item`, `/confirm`, `/cancel`,
//! and `管理命令` (`/admin`) for their usage.
//!
//! A resident may type something that looks like a verb ("回复1" answering a numbered list), so a
//! Chinese verb without a slash is a command only in its full shape; anything else that starts
//! with a verb is [`Parsed::Partial`], which the engine treats as a usage question from agents and
//! as an ordinary message from anyone else.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Claim(u64),
    Reply(u64, String),
    Transfer(u64, String),
    Resolve(u64),
    Mine,
    Show(u64),
    Help,
}

/// An admin's change to the item guide, or a look at it. `item` is as typed: an id, a name or
/// an alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminCommand {
    AddAlias {
        item: String,
        alias: String,
    },
    /// `kind`: the example's aspect (a heading such as 申请材料, or its name), if given.
    AddExample {
        item: String,
        kind: Option<&'static str>,
        question: String,
    },
    Show {
        item: String,
    },
    Confirm,
    Cancel,
    Help,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Command(Command),
    Admin(AdminCommand),
    /// Starts like a command but is not one in full.
    Partial,
}

/// What agents are shown when they ask for help or mistype a command.
pub const USAGE: &str = "专员命令：
接单 N —— 认领工单
回复 N 内容 —— 回复会发到居民群里，引用并@居民
转办 N 对象 —— 对象写专员名字、村名、乡镇名或“区中心”
办结 N —— 办好了，请居民评价
我的工单 —— 看自己手上和待接的工单
工单 N —— 看工单详情
也可以写成 /接单 N、/claim N 等。";

#[derive(Clone, Copy)]
enum Verb {
    Claim,
    Reply,
    Transfer,
    Resolve,
    Mine,
    Show,
    Help,
}

/// Verbs, longest first so that 我的工单 is found before 工单. `true`: also without a slash.
const VERBS: &[(&str, Verb, bool)] = &[
    ("我的工单", Verb::Mine, true),
    ("接单", Verb::Claim, true),
    ("回复", Verb::Reply, true),
    ("转办", Verb::Transfer, true),
    ("办结", Verb::Resolve, true),
    ("工单", Verb::Show, true),
    ("帮助", Verb::Help, false),
    ("transfer", Verb::Transfer, false),
    ("resolve", Verb::Resolve, false),
    ("ticket", Verb::Show, false),
    ("claim", Verb::Claim, false),
    ("reply", Verb::Reply, false),
    ("done", Verb::Resolve, false),
    ("mine", Verb::Mine, false),
    ("help", Verb::Help, false),
];

#[derive(Clone, Copy)]
enum AdminVerb {
    Alias,
    Example,
    Show,
    Help,
}

/// Admins' verbs. `true`: also without a slash.
const ADMIN_VERBS: &[(&str, AdminVerb, bool)] = &[
    ("加别名", AdminVerb::Alias, true),
    ("加问法", AdminVerb::Example, true),
    ("看事项", AdminVerb::Show, true),
    ("管理命令", AdminVerb::Help, true),
    ("example", AdminVerb::Example, false),
    ("alias", AdminVerb::Alias, false),
    ("admin", AdminVerb::Help, false),
    ("item", AdminVerb::Show, false),
];

pub fn parse(text: &str) -> Option<Parsed> {
    let text = text.trim();
    if let Some(p) = parse_admin(text) {
        return Some(p);
    }
    let (slash, body) = match text.strip_prefix(['/', '／']) {
        Some(rest) => (true, rest.trim_start()),
        None => (false, text),
    };
    let (verb, rest) = VERBS.iter().find_map(|&(word, verb, bare)| {
        let rest = strip_prefix_ignore_case(body, word)?;
        (slash || bare).then_some((verb, rest))
    })?;
    // A Latin verb must end at a word boundary: /claimed is not /claim.
    if rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let command = match verb {
        Verb::Mine => rest.trim().is_empty().then_some(Command::Mine),
        Verb::Help => rest.trim().is_empty().then_some(Command::Help),
        Verb::Claim => number_only(rest).map(Command::Claim),
        Verb::Resolve => number_only(rest).map(Command::Resolve),
        Verb::Show => number_only(rest).map(Command::Show),
        Verb::Reply => number_then_text(rest).map(|(n, t)| Command::Reply(n, t)),
        Verb::Transfer => number_then_text(rest).map(|(n, t)| Command::Transfer(n, t)),
    };
    Some(match command {
        Some(c) => Parsed::Command(c),
        None => Parsed::Partial,
    })
}

fn parse_admin(text: &str) -> Option<Parsed> {
    let (slash, body) = match text.strip_prefix(['/', '／']) {
        Some(rest) => (true, rest.trim_start()),
        None => (false, text),
    };
    let bare = body.trim_end_matches(|c: char| c.is_whitespace() || "。.!！".contains(c));
    match bare {
        "确认" | "确定" => return Some(Parsed::Admin(AdminCommand::Confirm)),
        "取消" => return Some(Parsed::Admin(AdminCommand::Cancel)),
        "confirm" | "cancel" if slash => {
            return Some(Parsed::Admin(match bare {
                "confirm" => AdminCommand::Confirm,
                _ => AdminCommand::Cancel,
            }));
        }
        _ => {}
    }
    let (verb, rest) = ADMIN_VERBS.iter().find_map(|&(word, verb, bare)| {
        let rest = strip_prefix_ignore_case(body, word)?;
        (slash || bare).then_some((verb, rest))
    })?;
    if rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let rest = rest.trim();
    let (item, more) = match rest.split_once(char::is_whitespace) {
        Some((i, m)) => (i.to_owned(), m.trim()),
        None => (rest.to_owned(), ""),
    };
    let command = match verb {
        AdminVerb::Help => rest.is_empty().then_some(AdminCommand::Help),
        AdminVerb::Show => {
            (!item.is_empty() && more.is_empty()).then_some(AdminCommand::Show { item })
        }
        AdminVerb::Alias => (!more.is_empty()).then(|| AdminCommand::AddAlias {
            item,
            alias: more.to_owned(),
        }),
        AdminVerb::Example => {
            let (kind, question) = match more.split_once(char::is_whitespace) {
                Some((k, q)) => match crate::catalog::fields::example_kind(k) {
                    Some(kind) if !q.trim().is_empty() => (Some(kind), q.trim()),
                    _ => (None, more),
                },
                None => (None, more),
            };
            (!question.is_empty()).then(|| AdminCommand::AddExample {
                item,
                kind,
                question: question.to_owned(),
            })
        }
    };
    Some(match command {
        Some(c) => Parsed::Admin(c),
        None => Parsed::Partial,
    })
}

/// What an agent is told about a command that is not one in full ([`Parsed::Partial`]): what
/// is missing, with an example; the whole usage when it is not clear.
pub fn hint(text: &str) -> String {
    let text = text.trim();
    let body = text.strip_prefix(['/', '／']).unwrap_or(text).trim_start();
    if let Some(verb) = ADMIN_VERBS
        .iter()
        .find_map(|&(word, verb, _)| strip_prefix_ignore_case(body, word).map(|_| verb))
    {
        return match verb {
            AdminVerb::Alias => "请写事项和别名，例如：加别名 elder-card 老人卡".into(),
            AdminVerb::Example => "请写事项和问法，例如：加问法 elder-card 老人卡咋办".into(),
            AdminVerb::Show => "请写一个事项，例如：看事项 elder-card".into(),
            AdminVerb::Help => super::admin::USAGE.into(),
        };
    }
    let Some((verb, rest)) = VERBS
        .iter()
        .find_map(|&(word, verb, _)| Some((verb, strip_prefix_ignore_case(body, word)?)))
    else {
        return USAGE.into();
    };
    let numbered = number(rest).is_some();
    let hint = match verb {
        Verb::Claim if !numbered => "请写工单号，例如：接单 12",
        Verb::Resolve if !numbered => "请写工单号，例如：办结 12",
        Verb::Show if !numbered => "请写工单号，例如：工单 12",
        Verb::Reply if numbered => "请写回复内容，例如：回复 12 明天上午带身份证来村里",
        Verb::Reply => "请写工单号和回复内容，例如：回复 12 明天上午带身份证来村里",
        Verb::Transfer if numbered => {
            "请写转给谁：专员名字、村名、乡镇名或“区中心”，例如：转办 12 庙岭镇"
        }
        Verb::Transfer => "请写工单号和转给谁，例如：转办 12 庙岭镇",
        _ => return USAGE.into(),
    };
    hint.into()
}

fn strip_prefix_ignore_case<'a>(text: &'a str, word: &str) -> Option<&'a str> {
    let head = text.get(..word.len())?;
    head.eq_ignore_ascii_case(word).then(|| &text[word.len()..])
}

/// A ticket number at the start of `text` (`12`, `#12`, `１２`, `12号`), and what follows it.
fn number(text: &str) -> Option<(u64, &str)> {
    let text = text.trim_start();
    let text = text.strip_prefix(['#', '＃']).unwrap_or(text);
    let mut n: u64 = 0;
    let mut len = 0;
    for c in text.chars() {
        let d = match c {
            '0'..='9' => c as u32 - '0' as u32,
            '０'..='９' => c as u32 - '０' as u32,
            _ => break,
        };
        n = n.checked_mul(10)?.checked_add(d as u64)?;
        len += c.len_utf8();
    }
    if len == 0 || n == 0 {
        return None;
    }
    let rest = &text[len..];
    Some((n, rest.strip_prefix('号').unwrap_or(rest)))
}

fn number_only(text: &str) -> Option<u64> {
    let (n, rest) = number(text)?;
    rest.trim_matches(|c: char| c.is_whitespace() || "。.!！".contains(c))
        .is_empty()
        .then_some(n)
}

fn number_then_text(text: &str) -> Option<(u64, String)> {
    let (n, rest) = number(text)?;
    // The number must end: `回复 12内容` is fine, `回复 123` is not "12" + "3".
    let rest = rest.trim_start_matches(|c: char| c.is_whitespace() || ":：,，".contains(c));
    let rest = rest.trim();
    (!rest.is_empty()).then(|| (n, rest.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(text: &str) -> Option<Command> {
        match parse(text) {
            Some(Parsed::Command(c)) => Some(c),
            _ => None,
        }
    }

    #[test]
    fn chinese_verbs_and_slash_aliases() {
        assert_eq!(cmd("接单 12"), Some(Command::Claim(12)));
        assert_eq!(cmd("接单12号"), Some(Command::Claim(12)));
        assert_eq!(cmd("/接单 #１２"), Some(Command::Claim(12)));
        assert_eq!(cmd("/claim 3"), Some(Command::Claim(3)));
        assert_eq!(cmd("/CLAIM 3"), Some(Command::Claim(3)));
        assert_eq!(
            cmd("回复 12 带身份证去村里就行"),
            Some(Command::Reply(12, "带身份证去村里就行".into()))
        );
        assert_eq!(
            cmd("/reply 12：明天上午来"),
            Some(Command::Reply(12, "明天上午来".into()))
        );
        assert_eq!(
            cmd("转办 7 庙岭镇"),
            Some(Command::Transfer(7, "庙岭镇".into()))
        );
        assert_eq!(cmd("办结 7"), Some(Command::Resolve(7)));
        assert_eq!(cmd("/done 7"), Some(Command::Resolve(7)));
        assert_eq!(cmd("我的工单"), Some(Command::Mine));
        assert_eq!(cmd("/mine"), Some(Command::Mine));
        assert_eq!(cmd("工单 7"), Some(Command::Show(7)));
        assert_eq!(cmd("/help"), Some(Command::Help));
    }

    #[test]
    fn what_residents_say_is_not_a_command() {
        // Answering a numbered list, or ordinary sentences that begin with a verb.
        assert_eq!(parse("回复1"), Some(Parsed::Partial));
        assert_eq!(parse("回复一下我的问题"), Some(Parsed::Partial));
        assert_eq!(parse("工单是什么"), Some(Parsed::Partial));
        assert_eq!(parse("帮助"), None);
        assert_eq!(parse("老年卡要带什么"), None);
        assert_eq!(parse("/claimed 3"), None);
        assert_eq!(parse("接单 0"), Some(Parsed::Partial));
    }

    fn admin(text: &str) -> Option<AdminCommand> {
        match parse(text) {
            Some(Parsed::Admin(c)) => Some(c),
            _ => None,
        }
    }

    #[test]
    fn admins_commands_name_the_item_then_what_to_add() {
        assert_eq!(
            admin("加问法 elder-card 老人卡咋办"),
            Some(AdminCommand::AddExample {
                item: "elder-card".into(),
                kind: None,
                question: "老人卡咋办".into()
            })
        );
        assert_eq!(
            admin("/example elder-card 申请材料 老人卡要带啥 东西"),
            Some(AdminCommand::AddExample {
                item: "elder-card".into(),
                kind: Some("materials"),
                question: "老人卡要带啥 东西".into()
            })
        );
        assert_eq!(
            admin("加别名 老年人优待证 老人卡"),
            Some(AdminCommand::AddAlias {
                item: "老年人优待证".into(),
                alias: "老人卡".into()
            })
        );
        assert_eq!(
            admin("看事项 elder-card"),
            Some(AdminCommand::Show {
                item: "elder-card".into()
            })
        );
        assert_eq!(admin("确认"), Some(AdminCommand::Confirm));
        assert_eq!(admin("确认！"), Some(AdminCommand::Confirm));
        assert_eq!(admin("/cancel"), Some(AdminCommand::Cancel));
        assert_eq!(admin("管理命令"), Some(AdminCommand::Help));
        // Incomplete: a usage hint for staff, an ordinary message from anyone else.
        assert_eq!(parse("加问法 elder-card"), Some(Parsed::Partial));
        assert!(hint("加问法 elder-card").contains("加问法 elder-card 老人卡咋办"));
        assert_eq!(parse("看事项"), Some(Parsed::Partial));
        // What residents say is not an admin command.
        assert_eq!(admin("确认一下我的社保卡办好了吗"), None);
        assert_eq!(parse("/items 3"), None);
    }

    #[test]
    fn partial_commands_get_a_specific_hint() {
        assert!(hint("接单 abc").contains("请写工单号"));
        assert!(hint("/claim").contains("接单 12"));
        assert!(hint("回复 3").contains("请写回复内容"));
        assert!(hint("回复 3 ").contains("请写回复内容"));
        assert!(hint("回复").contains("工单号和回复内容"));
        assert!(hint("转办 3").contains("转给谁"));
        assert!(hint("我的工单 2").contains("专员命令"));
    }
}
