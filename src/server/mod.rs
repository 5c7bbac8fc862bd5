//! The service: one web server carrying the adapters' routes (OneBot's reverse WebSocket and
//! HTTP POST), `/healthz` and `/metrics`, around the [`Runtime`].
//!
//! [`serve`] is what `bangban run` runs, and what the integration tests run on a loopback port.

mod listen;
mod platforms;

pub use platforms::Refused;
mod routes;

use crate::config::Config;
use crate::config::service;
use crate::engine::Engine;
use crate::runtime::{AdapterFailed, Runtime, StartError};
use crate::store::Store;
use bangban_contract::Adapter;
use bangban_onebot::{OneBot, OneBotConfig};
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tracing::{error, info};

/// Secrets, from the environment only; `Debug` says whether each is set, never its value.
#[derive(Clone, Default)]
pub struct Secrets {
    /// `BANGBAN_ONEBOT_TOKEN`: the access token OneBot implementations must present.
    pub onebot_token: Option<String>,
    /// `BANGBAN_ONEBOT_SECRET`: the HMAC-SHA1 key of OneBot HTTP POST reports.
    pub onebot_secret: Option<String>,
    /// The other platforms' secrets by variable name (`BANGBAN_WECOM_*`, `BANGBAN_QQBOT_SECRET`,
    /// `BANGBAN_TELEGRAM_*`, and the WeCom robots' key variables `bangban.toml` names).
    pub platforms: std::collections::BTreeMap<String, String>,
}

impl Secrets {
    /// Reads every secret variable; an empty one counts as unset. A value with white space or
    /// a control character (a trailing `\r` from an env file edited on Windows, a pasted line
    /// break) is refused, naming the variable and never showing the value.
    pub fn from_env(service: &service::Service) -> Result<Secrets, BadSecret> {
        Secrets::from_vars(service, |name| std::env::var_os(name))
    }

    /// [`Secrets::from_env`] over any source of variables.
    pub fn from_vars(
        service: &service::Service,
        var: impl Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Result<Secrets, BadSecret> {
        let read = |name: &str| -> Result<Option<String>, BadSecret> {
            let Some(value) = var(name) else {
                return Ok(None);
            };
            let bad = |problem| BadSecret {
                variable: name.to_owned(),
                problem,
            };
            let value = value
                .into_string()
                .map_err(|_| bad("不是有效的 UTF-8 文字"))?;
            if value.is_empty() {
                return Ok(None);
            }
            if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(bad(
                    "含有空格、换行或回车等看不见的字符（常见于在 Windows 上编辑的文件），请删掉后再启动",
                ));
            }
            Ok(Some(value))
        };
        let names = ["BANGBAN_ONEBOT_TOKEN", "BANGBAN_ONEBOT_SECRET"]
            .into_iter()
            .chain(platforms::VARIABLES.iter().copied())
            .chain(service.wecom.robots.values().map(String::as_str));
        let mut platforms = std::collections::BTreeMap::new();
        for name in names {
            if let Some(value) = read(name)? {
                platforms.insert(name.to_owned(), value);
            }
        }
        Ok(Secrets {
            onebot_token: platforms.remove("BANGBAN_ONEBOT_TOKEN"),
            onebot_secret: platforms.remove("BANGBAN_ONEBOT_SECRET"),
            platforms,
        })
    }

    /// A platform secret by variable name.
    pub fn get(&self, name: &str) -> Option<String> {
        self.platforms.get(name).cloned()
    }
}

/// What `bangban check` says of the chat platforms: the secrets in the environment and the
/// enabled platforms' settings, one line per problem.
pub fn check_platforms(service: &service::Service) -> Result<(), String> {
    let secrets = Secrets::from_env(service).map_err(|e| e.to_string())?;
    let problems = platforms::problems(service, &secrets);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// A secret variable whose value cannot be right.
#[derive(Debug, thiserror::Error)]
#[error("环境变量 {variable} {problem}")]
pub struct BadSecret {
    pub variable: String,
    pub problem: &'static str,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |s: &Option<String>| if s.is_some() { "<set>" } else { "<unset>" };
        f.debug_struct("Secrets")
            .field("onebot_token", &set(&self.onebot_token))
            .field("onebot_secret", &set(&self.onebot_secret))
            .field("platforms", &self.platforms.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Runs the service on `listener` until `shutdown` resolves, then stops in order (see
/// [`Runtime::shutdown`]): nothing received is lost and nothing queued is unrecorded.
///
/// That is [`start`], then [`Server::run`]; it fails when they do.
pub async fn serve(
    config: Arc<Config>,
    store: Store,
    secrets: Secrets,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    start(config, store, secrets, listener)
        .await?
        .run(shutdown)
        .await
}

/// The service started and not yet serving HTTP: its adapters accepted their configuration.
pub struct Server {
    config: Arc<Config>,
    runtime: Runtime,
    guide: Arc<crate::guide::Guide>,
    app: axum::Router,
    listener: TcpListener,
    addr: SocketAddr,
}

/// Builds the engine and the enabled adapters and starts the runtime.
///
/// Fails when an enabled adapter refuses its configuration (the error is an
/// [`AdapterFailed`] with a context saying, in Chinese, what to do), or the data directory
/// cannot be read.
pub async fn start(
    config: Arc<Config>,
    store: Store,
    secrets: Secrets,
    listener: TcpListener,
) -> anyhow::Result<Server> {
    let engine = Arc::new(Engine::new(config.clone(), store.clone()));
    let guide = engine.guide().clone();
    let mut app = axum::Router::new();
    let mut adapters: Vec<Arc<dyn Adapter>> = Vec::new();
    if config.service.onebot.enabled {
        let onebot = Arc::new(OneBot::new(onebot_config(&config.service.onebot, &secrets)));
        app = app.merge(onebot.router());
        adapters.push(onebot);
    }
    let others = platforms::build(&config.service, &secrets)?;
    app = app.merge(others.routes);
    adapters.extend(others.adapters);
    // The help desk's ledger API (/api/tickets…).
    app = app.merge(crate::helpdesk::http::routes(engine.clone()));
    // The admin console: pages and /api/v1.
    let console = crate::console::Console::new(engine.clone());
    app = app.merge(crate::console::router(console.clone()));
    let runtime = match Runtime::start(config.clone(), store, engine, adapters.clone()) {
        Ok(runtime) => runtime,
        Err(StartError::Store(e)) => return Err(e.into()),
        Err(StartError::Adapter(failure)) => return Err(stopped(&config, failure)),
    };
    let _ = console.poster.set(runtime.poster());
    app = app.merge(routes::router(runtime.metrics(), adapters));
    let addr = listener.local_addr()?;
    Ok(Server {
        config,
        runtime,
        guide,
        app,
        listener,
        addr,
    })
}

impl Server {
    /// Where the web server listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves HTTP until `shutdown` resolves, then stops in order (see [`Runtime::shutdown`]):
    /// nothing received is lost and nothing queued is unrecorded.
    ///
    /// Stops in the same order, and returns an error, when an adapter stops on its own (the
    /// platform would no longer be served: a service that looks healthy but answers nobody is
    /// worse than one that stops and says why) or the web server fails.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let Server {
            config,
            mut runtime,
            guide,
            app,
            listener,
            addr,
        } = self;
        info!(%addr, url = %format!("http://{addr}"), "listening");
        let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
        let limits = listen::Limits::of(&config.service.server);
        let mut http = tokio::spawn(listen::serve(listener, app, limits, async {
            let _ = http_stopped.await;
        }));
        let outcome = tokio::select! {
            () = shutdown => {
                info!("shutting down");
                Ok(())
            }
            result = &mut http => {
                error!(?result, "the web server stopped; shutting down");
                Err(anyhow::anyhow!("the web server stopped: {result:?}")
                    .context("网页服务意外停止，机器人已停止"))
            }
            failure = runtime.failed() => {
                error!(platform = failure.platform, "an adapter stopped on its own; shutting down");
                Err(stopped(&config, failure))
            }
        };
        let _ = stop_http.send(());
        runtime.shutdown().await;
        // Upgraded WebSockets are closed by now; give plain requests a moment to finish.
        let _ = tokio::time::timeout(Duration::from_secs(5), http).await;
        guide.finish_retraining().await;
        outcome
    }
}

/// The error `bangban run` ends with when an adapter stops: what happened, in plain Chinese
/// for the operator, over the adapter's own words.
fn stopped(config: &Config, failure: AdapterFailed) -> anyhow::Error {
    let (name, variables) = match failure.platform {
        "onebot" => ("QQ 接入（OneBot）", "（BANGBAN_ONEBOT_TOKEN 等）"),
        "wecom" => ("企业微信接入", "（BANGBAN_WECOM_* 等）"),
        "qqbot" => ("QQ 官方机器人接入", "（BANGBAN_QQBOT_SECRET）"),
        "telegram" => ("Telegram 接入", "（BANGBAN_TELEGRAM_TOKEN）"),
        other => (other, ""),
    };
    let advice = if failure.refused_config {
        format!(
            "按现在的配置无法运行，机器人已停止。请改正 {} 里的设置或环境变量{variables}后再启动",
            config.dir.join("bangban.toml").display()
        )
    } else {
        "意外出错，机器人已停止。请再启动一次；如果反复出现，请把日志交给技术人员".to_owned()
    };
    let message = format!("{name}{advice}");
    anyhow::Error::new(failure).context(message)
}

/// The OneBot adapter's settings from `bangban.toml` and the environment.
pub fn onebot_config(onebot: &service::OneBot, secrets: &Secrets) -> OneBotConfig {
    OneBotConfig {
        access_token: secrets.onebot_token.clone(),
        signature_secret: secrets.onebot_secret.clone(),
        forward_ws: onebot.forward_ws.clone(),
        http_api: onebot.http_api.clone(),
        action_timeout: Duration::from_secs(onebot.action_timeout_secs),
        heartbeat_misses: onebot.heartbeat_misses,
        max_frame_bytes: onebot.max_frame_kib << 10,
        send_cq_strings: onebot.send_cq_strings,
        ..OneBotConfig::default()
    }
}

/// What to tell the operator at start-up, in plain Chinese: where the bot listens, which chat
/// platforms are enabled and how each reaches it (NapCat or LLBot for OneBot, the callback
/// addresses to enter in WeCom and on the QQ open platform, Telegram's mode).
pub fn connect_hint(config: &Config, listen: SocketAddr, secrets: &Secrets) -> String {
    let service = &config.service;
    let host = if listen.ip().is_unspecified() {
        format!("本机IP:{}", listen.port())
    } else {
        listen.to_string()
    };
    let mut hint =
        format!("帮办已启动：http://{host} （健康检查 /healthz，运行指标 /metrics）。\n");
    let enabled = service.onebot.enabled
        || service.wecom.enabled
        || service.qqbot.enabled
        || service.telegram.enabled;
    if !enabled {
        hint.push_str(&format!(
            "还没有启用任何聊天平台。要接入 QQ 群：在 {} 的 [onebot] 里写 enabled = true，\
             然后重启帮办，启动时会显示怎样连接 NapCat 或 LLBot（企业微信、QQ 官方机器人、\
             Telegram 见 README）。",
            config.dir.join("bangban.toml").display()
        ));
        return hint;
    }
    if service.onebot.enabled {
        hint.push_str(&onebot_hint(&service.onebot, &host, secrets));
    }
    if service.wecom.enabled {
        let w = &service.wecom;
        hint.push_str(
            "企业微信已启用，在企业微信管理后台填写接收消息的 URL（公网 HTTPS 地址）：\n",
        );
        if !w.corp_id.is_empty() {
            hint.push_str("  自建应用  https://公网地址/wecom/app\n");
        }
        if !w.aibot_id.is_empty() {
            hint.push_str("  智能机器人  https://公网地址/wecom/aibot\n");
        }
        if !w.robots.is_empty() {
            hint.push_str(&format!("  群机器人 {} 个（只发不收）\n", w.robots.len()));
        }
    }
    if service.qqbot.enabled {
        hint.push_str(
            "QQ 官方机器人已启用，在 QQ 开放平台“回调配置”里填：https://公网地址/qqbot/webhook\n",
        );
    }
    if service.telegram.enabled {
        let t = &service.telegram;
        match (&t.webhook, &t.webhook_url) {
            (true, Some(url)) => hint.push_str(&format!(
                "Telegram 已启用（webhook）：向 Telegram 登记 {url}，它要转到本机的 /telegram/webhook\n"
            )),
            _ => hint.push_str("Telegram 已启用：用长轮询收消息，不需要公网地址\n"),
        }
    }
    hint.push_str("各平台连上后，日志会出现 “account state … Up”，/healthz 会列出已连接的账号。详细步骤见 README。");
    hint
}

/// How to connect NapCat or LLBot.
fn onebot_hint(onebot: &service::OneBot, host: &str, secrets: &Secrets) -> String {
    let mut hint = String::new();
    if !onebot.forward_ws.is_empty() || !onebot.http_api.is_empty() {
        hint.push_str("正在连接 bangban.toml 里配置的 OneBot 地址，连上后日志会显示 QQ 号上线。\n");
    }
    hint.push_str(&format!(
        "接入 QQ 群：在 NapCat 或 LLBot 里添加“反向 WebSocket”（NapCat 叫 WebSocket 客户端）：\n\
         \x20 地址  ws://{host}/onebot/v11/ws\n\
         \x20 消息格式  array\n"
    ));
    match secrets.onebot_token {
        Some(_) => hint.push_str("  Token  填环境变量 BANGBAN_ONEBOT_TOKEN 的值（两边必须一样）\n"),
        None => hint.push_str(
            "  Token  还没设置！请先设置环境变量 BANGBAN_ONEBOT_TOKEN 再启动，\
             并在 NapCat/LLBot 里填同样的值；不设置的话任何人都能冒充 QQ 连上来。\n",
        ),
    }
    hint
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn config(dir: &str, onebot: bool) -> Config {
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("bot-config");
        let mut config = Config::load(&shipped).unwrap_or_else(|e| panic!("{e}"));
        config.dir = PathBuf::from(dir);
        config.service.onebot.enabled = onebot;
        config
    }

    #[test]
    fn with_onebot_off_the_hint_names_the_file_read_and_promises_only_what_follows() {
        let listen: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let hint = connect_hint(
            &config("/etc/bangban/config", false),
            listen,
            &Secrets::default(),
        );
        assert!(hint.contains("/etc/bangban/config/bangban.toml"), "{hint}");
        assert!(hint.contains("enabled = true"), "{hint}");
        assert!(!hint.contains("bot-config"), "{hint}");
        assert!(!hint.contains("下面"), "{hint}");
        assert!(!hint.contains("ws://"), "{hint}");
        // Enabled, the hint does give the address to connect to.
        let hint = connect_hint(&config("bot-config", true), listen, &Secrets::default());
        assert!(hint.contains("ws://127.0.0.1:8080/onebot/v11/ws"), "{hint}");
    }

    #[test]
    fn the_hint_names_each_enabled_platform_and_only_those() {
        let listen: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let mut config = config("bot-config", false);
        config.service.qqbot.enabled = true;
        config.service.wecom.enabled = true;
        config.service.wecom.aibot_id = "aib1".into();
        let hint = connect_hint(&config, listen, &Secrets::default());
        assert!(!hint.contains("还没有启用任何聊天平台"), "{hint}");
        assert!(hint.contains("/qqbot/webhook"), "{hint}");
        assert!(hint.contains("/wecom/aibot"), "{hint}");
        assert!(!hint.contains("/wecom/app"), "{hint}");
        assert!(!hint.contains("ws://"), "{hint}");
        assert!(!hint.contains("Telegram 已启用"), "{hint}");
    }

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<std::ffi::OsString> + use<> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        move |name| pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v.into())
    }

    #[test]
    fn a_secret_with_a_trailing_carriage_return_or_space_is_refused_by_name() {
        let service = service::Service::default();
        for value in ["secret\r", "secret ", " secret", "sec\nret", "sec\u{7}ret"] {
            let e = Secrets::from_vars(&service, vars(&[("BANGBAN_ONEBOT_TOKEN", value)]))
                .expect_err(value);
            assert_eq!(e.variable, "BANGBAN_ONEBOT_TOKEN");
            assert!(
                !e.to_string().contains("secret"),
                "the value is never shown: {e}"
            );
        }
        let e = Secrets::from_vars(&service, vars(&[("BANGBAN_QQBOT_SECRET", "abc\r")]))
            .expect_err("platform secrets too");
        assert_eq!(e.variable, "BANGBAN_QQBOT_SECRET");
        let ok = Secrets::from_vars(
            &service,
            vars(&[
                ("BANGBAN_ONEBOT_TOKEN", "s3cr3t"),
                ("BANGBAN_ONEBOT_SECRET", ""),
            ]),
        )
        .unwrap();
        assert_eq!(ok.onebot_token.as_deref(), Some("s3cr3t"));
        assert_eq!(ok.onebot_secret, None, "empty counts as unset");
    }

    #[test]
    fn an_enabled_platform_without_its_settings_is_refused_naming_the_key_or_variable() {
        let mut service = service::Service::default();
        service.qqbot.enabled = true;
        service.telegram.enabled = true;
        service.wecom.enabled = true;
        service.wecom.corp_id = "ww1".into();
        service
            .wecom
            .robots
            .insert("agents".into(), "BANGBAN_WECOM_ROBOT_AGENTS".into());
        let problems = platforms::problems(&service, &Secrets::default()).join("\n");
        for key in [
            "[qqbot]",
            "BANGBAN_QQBOT_SECRET",
            "BANGBAN_TELEGRAM_TOKEN",
            "[wecom] agent_id",
            "BANGBAN_WECOM_APP_SECRET",
            "BANGBAN_WECOM_APP_AES_KEY",
            "BANGBAN_WECOM_ROBOT_AGENTS（robots.agents）",
        ] {
            assert!(problems.contains(key), "{key} missing from:\n{problems}");
        }
        assert!(matches!(
            platforms::build(&service, &Secrets::default()),
            Err(Refused(_))
        ));
    }
}
