//! Whether every village's tickets reach an agent: a resident told "已转给专员…工单号：1" must
//! never wait for a notice that nobody receives.
//!
//! A ticket from a village's group on platform P is announced where the help desk would
//! announce it ([`notify::targets`]): the agents' chats a bot account is known for, and the
//! private chats of agents with `private = true`. That is checked on every rung of the ladder
//! (the village's agents, the township centre, the district centre), for every platform the
//! village has groups on and that is enabled in `bangban.toml` (the sandbox always is). A
//! notice counts only when its platform is enabled: one for a disabled platform waits in the
//! outbox for ever.

use super::ConfigError;
use super::org::{Org, Village};
use super::service::Service;
use crate::helpdesk::escalate::handler_at;
use crate::helpdesk::notify;
use crate::store::tickets::Level;
use bangban_contract::Platform;
use std::path::Path;

/// The bot account a check stands in for: any account works, the rules only ask whether one is
/// known.
const SOME_ACCOUNT: &str = "-";

/// How many villages an error names before it says how many more there are.
const NAMED: usize = 5;

/// One error per platform whose village groups have tickets that would reach no agent; `file`
/// is `org.toml`.
pub fn check(org: &Org, service: &Service, file: &Path) -> Vec<ConfigError> {
    let platforms = [
        Platform::Onebot,
        Platform::Wecom,
        Platform::Qqbot,
        Platform::Telegram,
        Platform::Sandbox,
    ];
    platforms
        .into_iter()
        .filter(|&p| enabled(service, p))
        .filter_map(|p| {
            let unreached: Vec<String> = org
                .villages
                .iter()
                .filter(|v| !v.groups.get(p).is_empty())
                .filter_map(|v| unreached_rung(org, service, v, p).map(|level| describe(v, level)))
                .collect();
            (!unreached.is_empty()).then(|| error(file, service, p, &unreached))
        })
        .collect()
}

/// Whether `bangban run` serves `platform` (the sandbox is always there).
pub fn enabled(service: &Service, platform: Platform) -> bool {
    match platform {
        Platform::Onebot => service.onebot.enabled,
        Platform::Wecom => service.wecom.enabled,
        Platform::Qqbot => service.qqbot.enabled,
        Platform::Telegram => service.telegram.enabled,
        Platform::Sandbox => true,
    }
}

/// The first rung of the ladder on which a ticket from `village`'s group on `platform` would be
/// announced on no enabled platform, if any.
fn unreached_rung(
    org: &Org,
    service: &Service,
    village: &Village,
    platform: Platform,
) -> Option<Level> {
    [Level::Village, Level::Township, Level::District]
        .into_iter()
        .find(|&level| {
            let handler = handler_at(org, level, Some(&village.id));
            !notify::targets(org, platform, SOME_ACCOUNT, &handler)
                .iter()
                .any(|t| delivers(service, t))
        })
}

/// Whether a notice to `target` reaches someone: its platform is enabled and may speak
/// unprompted (the QQ official bot only replies to a message just received: a notice would
/// wait until an agent happens to write in that chat).
fn delivers(service: &Service, target: &notify::Target) -> bool {
    enabled(service, target.platform) && !service.replies_only(target.platform, &target.account)
}

/// `大湖村（v01）`, with the rung when it is not the first: `大湖村（v01，升级到区政务服务中心后）`.
fn describe(village: &Village, level: Level) -> String {
    match level {
        Level::Village => format!("{}（{}）", village.name, village.id),
        _ => format!(
            "{}（{}，升级到{}后）",
            village.name,
            village.id,
            notify::level_label(level)
        ),
    }
}

fn error(file: &Path, service: &Service, platform: Platform, villages: &[String]) -> ConfigError {
    let (label, name) = platform_label(platform);
    let mut named = villages[..villages.len().min(NAMED)].join("、");
    if villages.len() > NAMED {
        named.push_str(&format!("等 {} 个村", villages.len()));
    }
    let mut expected = Vec::new();
    let prompted_only = service.replies_only(platform, SOME_ACCOUNT);
    if !prompted_only {
        expected.push(format!(
            "agents_chats 里有一个 platform = \"{name}\" 的专员群，如 [[agents_chats]] \
             platform = \"{name}\" chat = \"专员群号\""
        ));
    }
    expected.push("另一个已启用平台上的专员群写明 account（机器人在那个群里的账号）".to_string());
    if !prompted_only {
        expected.push(format!(
            "这些村的各级专员（村、乡镇、区）都写 private = true 和 {name} 账号"
        ));
    }
    let why = if prompted_only {
        format!("（{label}只能回复刚收到的消息，发不出通知）")
    } else {
        String::new()
    };
    ConfigError {
        file: file.to_path_buf(),
        key: "agents_chats".into(),
        message: format!(
            "{named}在{label}群里转给专员的工单，没有一位专员会收到通知{why}，居民却会被告知\
             已转给专员。应为：{}",
            expected.join("；或")
        ),
    }
}

/// The platform as operators read it, and as `org.toml` spells it.
fn platform_label(platform: Platform) -> (&'static str, &'static str) {
    match platform {
        Platform::Onebot => ("QQ（OneBot）", "onebot"),
        Platform::Wecom => ("企业微信", "wecom"),
        Platform::Qqbot => ("QQ 官方机器人", "qqbot"),
        Platform::Telegram => ("Telegram", "telegram"),
        Platform::Sandbox => ("体验（sandbox）", "sandbox"),
    }
}
