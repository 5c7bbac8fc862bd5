//! The WeCom, QQ official bot and Telegram adapters, built from `bangban.toml` and the
//! environment. Each is built only when enabled. [`problems`] is what `bangban check` and
//! `bangban run` both report: a configuration an adapter refuses stops the start with a Chinese
//! message naming the `bangban.toml` key or the environment variable to fix.

use super::Secrets;
use crate::config::service::Service;
use bangban_contract::Adapter;
use std::sync::Arc;
use std::time::Duration;

/// Every secret variable these adapters read (besides the robots' own, named in `bangban.toml`).
pub const VARIABLES: &[&str] = &[
    "BANGBAN_WECOM_APP_SECRET",
    "BANGBAN_WECOM_APP_TOKEN",
    "BANGBAN_WECOM_APP_AES_KEY",
    "BANGBAN_WECOM_AIBOT_TOKEN",
    "BANGBAN_WECOM_AIBOT_AES_KEY",
    "BANGBAN_QQBOT_SECRET",
    "BANGBAN_TELEGRAM_TOKEN",
    "BANGBAN_TELEGRAM_WEBHOOK_SECRET",
];

/// The enabled platforms' settings refused: one line per problem, each naming the key or the
/// variable. `bangban run` exits with the config status (2) on it, as for a broken `bot-config/`.
#[derive(Debug, thiserror::Error)]
#[error("聊天平台的设置不对，机器人没有启动：\n{}", .0.join("\n"))]
pub struct Refused(pub Vec<String>);

/// The enabled adapters with their routes.
pub struct Built {
    pub adapters: Vec<Arc<dyn Adapter>>,
    pub routes: axum::Router,
}

/// The enabled platforms' settings as their adapters take them.
struct Configs {
    wecom: Option<bangban_wecom::WeComConfig>,
    qqbot: Option<bangban_qqbot::QqBotConfig>,
    telegram: Option<bangban_telegram::TelegramConfig>,
}

fn configs(service: &Service, secrets: &Secrets) -> Configs {
    let secret = |name: &str| secrets.get(name).unwrap_or_default();
    let wecom = service.wecom.enabled.then(|| {
        let w = &service.wecom;
        let defaults = bangban_wecom::WeComConfig::default();
        bangban_wecom::WeComConfig {
            app: (!w.corp_id.is_empty()).then(|| bangban_wecom::AppConfig {
                corp_id: w.corp_id.clone(),
                corp_secret: secret("BANGBAN_WECOM_APP_SECRET"),
                agent_id: w.agent_id,
                token: secret("BANGBAN_WECOM_APP_TOKEN"),
                encoding_aes_key: secret("BANGBAN_WECOM_APP_AES_KEY"),
                account: None,
            }),
            aibot: (!w.aibot_id.is_empty()).then(|| bangban_wecom::AiBotConfig {
                aibot_id: w.aibot_id.clone(),
                token: secret("BANGBAN_WECOM_AIBOT_TOKEN"),
                encoding_aes_key: secret("BANGBAN_WECOM_AIBOT_AES_KEY"),
                account: None,
                name: (!w.aibot_name.is_empty()).then(|| w.aibot_name.clone()),
            }),
            robots: w
                .robots
                .iter()
                .map(|(chat, var)| (chat.clone(), secret(var)))
                .collect(),
            api_base: w.api_base.clone().unwrap_or(defaults.api_base.clone()),
            webhook_base: w.api_base.clone().unwrap_or(defaults.webhook_base.clone()),
            ..defaults
        }
    });
    let qqbot = service.qqbot.enabled.then(|| {
        let q = &service.qqbot;
        let defaults = bangban_qqbot::QqBotConfig::default();
        bangban_qqbot::QqBotConfig {
            app_id: q.app_id.clone(),
            secret: secret("BANGBAN_QQBOT_SECRET"),
            api_base: q.api_base.clone().unwrap_or(defaults.api_base.clone()),
            token_url: q.token_url.clone().unwrap_or(defaults.token_url.clone()),
            ..defaults
        }
    });
    let telegram = service.telegram.enabled.then(|| {
        let t = &service.telegram;
        let defaults = bangban_telegram::TelegramConfig::default();
        bangban_telegram::TelegramConfig {
            token: secret("BANGBAN_TELEGRAM_TOKEN"),
            api_url: t.api_url.clone().unwrap_or(defaults.api_url.clone()),
            mode: if t.webhook {
                bangban_telegram::Mode::Webhook
            } else {
                bangban_telegram::Mode::Polling
            },
            webhook_secret: secrets.get("BANGBAN_TELEGRAM_WEBHOOK_SECRET"),
            webhook_url: t.webhook_url.clone(),
            action_timeout: Duration::from_secs(15),
            ..defaults
        }
    });
    Configs {
        wecom,
        qqbot,
        telegram,
    }
}

/// What is wrong with the enabled platforms' settings and secrets; empty when they can start.
pub fn problems(service: &Service, secrets: &Secrets) -> Vec<String> {
    let configs = configs(service, secrets);
    let mut problems = Vec::new();
    if let Some(wecom) = &configs.wecom {
        problems.extend(
            wecom
                .validate()
                .iter()
                .map(|p| format!("企业微信 {}：{}", wecom_key(&p.field, service), p.expected)),
        );
    }
    if let Some(qqbot) = &configs.qqbot
        && let Err(e) = qqbot.validate()
    {
        problems.push(format!(
            "bangban.toml [qqbot] 或环境变量 BANGBAN_QQBOT_SECRET：{}",
            e.reason
        ));
    }
    if let Some(telegram) = &configs.telegram
        && let Err(e) = telegram.validate()
    {
        problems.push(format!(
            "bangban.toml [telegram] 或环境变量 BANGBAN_TELEGRAM_TOKEN：{}",
            e.reason
        ));
    }
    problems
}

/// Where an adapter's WeCom field is set here: a `bangban.toml` key or an environment variable.
fn wecom_key(field: &str, service: &Service) -> String {
    let toml = |key: &str| format!("bangban.toml [wecom] {key}");
    let env = |var: &str| format!("环境变量 {var}");
    match field {
        "wecom" => "bangban.toml [wecom]（corp_id、aibot_id、robots 至少填一个）".to_owned(),
        "app.corp_id" => toml("corp_id"),
        "app.agent_id" => toml("agent_id"),
        "app.corp_secret" => env("BANGBAN_WECOM_APP_SECRET"),
        "app.token" => env("BANGBAN_WECOM_APP_TOKEN"),
        "app.encoding_aes_key" => env("BANGBAN_WECOM_APP_AES_KEY"),
        "aibot.aibot_id" => toml("aibot_id"),
        "aibot.token" => env("BANGBAN_WECOM_AIBOT_TOKEN"),
        "aibot.encoding_aes_key" => env("BANGBAN_WECOM_AIBOT_AES_KEY"),
        "api_base" | "webhook_base" => toml("api_base"),
        _ => {
            // robots["chat"]: the variable that chat's entry names.
            let robot = field
                .strip_prefix("robots[")
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|r| serde_json::from_str::<String>(r).ok())
                .and_then(|chat| service.wecom.robots.get(&chat).map(|var| (chat, var)));
            match robot {
                Some((chat, var)) => format!("{}（robots.{chat}）", env(var)),
                None => toml(field),
            }
        }
    }
}

/// Builds the enabled adapters; refuses (see [`Refused`]) when [`problems`] finds any.
pub fn build(service: &Service, secrets: &Secrets) -> Result<Built, Refused> {
    let problems = problems(service, secrets);
    if !problems.is_empty() {
        return Err(Refused(problems));
    }
    let refused = |e: bangban_contract::AdapterError| Refused(vec![e.reason]);
    let configs = configs(service, secrets);
    let mut adapters: Vec<Arc<dyn Adapter>> = Vec::new();
    let mut routes = axum::Router::new();
    if let Some(config) = configs.wecom {
        let wecom = Arc::new(bangban_wecom::WeCom::new(config));
        routes = routes.merge(wecom.router());
        adapters.push(wecom);
    }
    if let Some(config) = configs.qqbot {
        let qqbot = Arc::new(bangban_qqbot::QqBot::new(config).map_err(refused)?);
        routes = routes.merge(qqbot.router());
        adapters.push(qqbot);
    }
    if let Some(config) = configs.telegram {
        let telegram = Arc::new(bangban_telegram::Telegram::new(config).map_err(refused)?);
        routes = routes.merge(telegram.router());
        adapters.push(telegram);
    }
    Ok(Built { adapters, routes })
}
