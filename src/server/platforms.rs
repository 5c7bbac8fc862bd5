//! The WeCom, QQ official bot and Telegram adapters, built from `bangban.toml` and the
//! environment. Each is built only when enabled; a configuration an adapter refuses stops the
//! start with a Chinese message naming the setting or the variable to fix.

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

/// The enabled adapters with their routes.
pub struct Built {
    pub adapters: Vec<Arc<dyn Adapter>>,
    pub routes: axum::Router,
}

pub fn build(service: &Service, secrets: &Secrets) -> anyhow::Result<Built> {
    let mut adapters: Vec<Arc<dyn Adapter>> = Vec::new();
    let mut routes = axum::Router::new();
    let secret = |name: &str| secrets.get(name).unwrap_or_default();
    if service.wecom.enabled {
        let w = &service.wecom;
        let config = bangban_wecom::WeComConfig {
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
            ..bangban_wecom::WeComConfig::default()
        };
        let config = bangban_wecom::WeComConfig {
            api_base: w.api_base.clone().unwrap_or(config.api_base.clone()),
            webhook_base: w.api_base.clone().unwrap_or(config.webhook_base.clone()),
            ..config
        };
        let problems = config.validate();
        if !problems.is_empty() {
            let list: Vec<String> = problems
                .iter()
                .map(|p| format!("wecom.{}：{}", p.field, p.expected))
                .collect();
            anyhow::bail!(
                "企业微信接入的设置不对（bangban.toml 的 [wecom] 或 BANGBAN_WECOM_* 环境变量）：\n{}",
                list.join("\n")
            );
        }
        let wecom = Arc::new(bangban_wecom::WeCom::new(config));
        routes = routes.merge(wecom.router());
        adapters.push(wecom);
    }
    if service.qqbot.enabled {
        let q = &service.qqbot;
        let defaults = bangban_qqbot::QqBotConfig::default();
        let config = bangban_qqbot::QqBotConfig {
            app_id: q.app_id.clone(),
            secret: secret("BANGBAN_QQBOT_SECRET"),
            api_base: q.api_base.clone().unwrap_or(defaults.api_base.clone()),
            token_url: q.token_url.clone().unwrap_or(defaults.token_url.clone()),
            ..defaults
        };
        let qqbot = bangban_qqbot::QqBot::new(config).map_err(|e| {
            anyhow::anyhow!(
                "QQ 官方机器人的设置不对（bangban.toml 的 [qqbot] 或 BANGBAN_QQBOT_SECRET）：{e}"
            )
        })?;
        let qqbot = Arc::new(qqbot);
        routes = routes.merge(qqbot.router());
        adapters.push(qqbot);
    }
    if service.telegram.enabled {
        let t = &service.telegram;
        let defaults = bangban_telegram::TelegramConfig::default();
        let config = bangban_telegram::TelegramConfig {
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
        };
        let telegram = bangban_telegram::Telegram::new(config).map_err(|e| {
            anyhow::anyhow!(
                "Telegram 的设置不对（bangban.toml 的 [telegram] 或 BANGBAN_TELEGRAM_TOKEN）：{e}"
            )
        })?;
        let telegram = Arc::new(telegram);
        routes = routes.merge(telegram.router());
        adapters.push(telegram);
    }
    Ok(Built { adapters, routes })
}
