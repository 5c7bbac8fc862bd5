//! `bot-config/bangban.toml`: how the service runs — listen address, data directory, the enabled
//! adapters and their options, outbox pacing and retries. Secrets never live here: they come from
//! the environment (`BANGBAN_ONEBOT_TOKEN`, `BANGBAN_ONEBOT_SECRET`), read by `bangban run`.
//!
//! The file is optional: without it every setting has the default documented on its field.

use super::{ConfigError, parse_toml};
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How the service runs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Service {
    /// The sled data directory (tickets, outbox, seen events). A relative path is taken from the
    /// directory `bangban run` is started in. Default `data`.
    pub data_dir: PathBuf,
    /// Free space (MiB) on the data directory's disk under which `/healthz` says `"warning"`
    /// and a warning is logged, before writes fail. 0: no warning. Default 100.
    pub min_free_mib: u64,
    pub server: Server,
    pub onebot: OneBot,
    pub wecom: WeCom,
    pub qqbot: QqBot,
    pub telegram: Telegram,
    pub pacing: Pacing,
    pub outbox: Outbox,
    pub limits: Limits,
}

impl Service {
    /// Whether the bot can speak on `account` of `platform` only in reply to a message just
    /// received: the QQ official bot (no unprompted messages since 2025-04) and the WeCom AI
    /// bot (one `response_url` per message). A later message there waits for the chat's next.
    pub fn replies_only(&self, platform: bangban_contract::Platform, account: &str) -> bool {
        use bangban_contract::Platform;
        match platform {
            Platform::Qqbot => true,
            Platform::Wecom => !self.wecom.aibot_id.is_empty() && account == self.wecom.aibot_id,
            _ => false,
        }
    }
}

/// WeCom (企业微信): the self-built app's and the AI bot's callbacks, and group robots. Their
/// secrets come from the environment: `BANGBAN_WECOM_APP_SECRET`, `BANGBAN_WECOM_APP_TOKEN`,
/// `BANGBAN_WECOM_APP_AES_KEY` (the app), `BANGBAN_WECOM_AIBOT_TOKEN`,
/// `BANGBAN_WECOM_AIBOT_AES_KEY` (the AI bot), and each robot's webhook key in the variable its
/// `robots` entry names.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WeCom {
    /// Serve `/wecom/app` and `/wecom/aibot` and send through WeCom. Default false.
    pub enabled: bool,
    /// The enterprise's CorpID (企业ID); with `agent_id`, enables the self-built app.
    pub corp_id: String,
    /// The self-built app's AgentId.
    pub agent_id: u64,
    /// The AI bot's id (智能机器人 BotID); enables the AI bot.
    pub aibot_id: String,
    /// The AI bot's display name, stripped from the start of @-messages.
    pub aibot_name: String,
    /// Group robots (群机器人, send-only): chat id → the environment variable holding its
    /// webhook key, e.g. `{ "agents" = "BANGBAN_WECOM_ROBOT_AGENTS" }`.
    pub robots: std::collections::BTreeMap<String, String>,
    /// Default `https://qyapi.weixin.qq.com`.
    pub api_base: Option<String>,
}

/// The QQ official bot (QQ开放平台), webhook mode; the bot secret is `BANGBAN_QQBOT_SECRET`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QqBot {
    /// Serve `/qqbot/webhook` and reply through the QQ bot API. Default false.
    pub enabled: bool,
    /// The bot's AppID.
    pub app_id: String,
    /// Default `https://api.sgroup.qq.com`.
    pub api_base: Option<String>,
    /// Default `https://bots.qq.com/app/getAppAccessToken`.
    pub token_url: Option<String>,
}

/// Telegram; the bot token is `BANGBAN_TELEGRAM_TOKEN` (and in webhook mode the secret
/// `BANGBAN_TELEGRAM_WEBHOOK_SECRET`).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Telegram {
    /// Default false.
    pub enabled: bool,
    /// Receive through `/telegram/webhook` instead of long polling. Default false.
    pub webhook: bool,
    /// The public HTTPS address of `/telegram/webhook`, registered with Telegram at start.
    pub webhook_url: Option<String>,
    /// Default `https://api.telegram.org` (or a local Bot API server).
    pub api_url: Option<String>,
}

/// The web server: OneBot routes, `/healthz`, `/metrics`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Server {
    /// Default `127.0.0.1:8080`. Use `0.0.0.0:8080` only when NapCat/LLBot runs on another host.
    pub listen: SocketAddr,
    /// List the connected bot account ids (QQ numbers…) in `/healthz`; by default it only
    /// counts them per platform. Default false.
    pub show_accounts: bool,
    /// Open connections at most (WebSockets included); more wait to be accepted. Default 256.
    pub max_connections: usize,
    /// A request's headers must arrive within this, and an idle keep-alive connection is closed
    /// after it. Default 10.
    pub header_timeout_secs: u64,
    /// A whole request (body included) must be read and answered within this. Default 60.
    pub request_timeout_secs: u64,
    /// The reverse proxies (addresses, or networks such as `"10.0.0.0/8"`) whose
    /// `X-Forwarded-For` and `X-Forwarded-Proto` the console believes: from such a peer, the
    /// nearest address in `X-Forwarded-For` that is not itself a trusted proxy is the client's
    /// (for the sign-in rate limit and the audit log, never for authorisation), and
    /// `X-Forwarded-Proto: https` makes the session cookie `Secure`. Other peers' headers are
    /// ignored. Default empty: nobody's.
    pub trusted_proxies: Vec<Network>,
}

/// An address or a network (`127.0.0.1`, `::1`, `10.0.0.0/8`, `fd00::/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    /// Whether `ip` is in the network (an IPv4-mapped IPv6 address counts as its IPv4 one).
    pub fn contains(&self, ip: IpAddr) -> bool {
        fn bits(a: &[u8], b: &[u8], prefix: u8) -> bool {
            let (whole, rest) = ((prefix / 8) as usize, prefix % 8);
            a[..whole] == b[..whole] && (rest == 0 || (a[whole] ^ b[whole]) >> (8 - rest) == 0)
        }
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(i)) => bits(&n.octets(), &i.octets(), self.prefix),
            (IpAddr::V6(n), IpAddr::V6(i)) => bits(&n.octets(), &i.octets(), self.prefix),
            _ => false,
        }
    }
}

impl TryFrom<String> for Network {
    type Error = String;

    fn try_from(s: String) -> Result<Network, String> {
        let expected = || {
            format!(
                "expected an IP address or a network such as \"127.0.0.1\" or \"10.0.0.0/8\", \
                 not \"{s}\""
            )
        };
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| expected())?;
        let addr = addr.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(expected)?,
        };
        Ok(Network { addr, prefix })
    }
}

/// The OneBot v11 adapter (QQ through NapCat, LLBot…).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OneBot {
    /// Serve the reverse WebSocket and HTTP POST routes and run the clients below. Default true.
    pub enabled: bool,
    /// Forward WebSocket servers to connect to (an implementation's "WebSocket server"),
    /// e.g. `ws://127.0.0.1:3001`. Default none: implementations connect to us (reverse WS).
    pub forward_ws: Vec<String>,
    /// HTTP API base URLs to send through, for implementations that report by HTTP POST,
    /// e.g. `http://127.0.0.1:3000`. Default none.
    pub http_api: Vec<String>,
    /// How long one action (a send) waits for the implementation's answer. Default 15.
    pub action_timeout_secs: u64,
    /// Missed heartbeat intervals after which a silent connection is closed. Default 3.
    pub heartbeat_misses: u32,
    /// The largest frame accepted from an implementation, in KiB. Default 16384 (16 MiB).
    pub max_frame_kib: usize,
    /// Send CQ strings instead of segment arrays (old implementations only). Default false.
    pub send_cq_strings: bool,
}

/// Token buckets that keep sends below QQ's risk control (风控). A bucket holds up to `burst`
/// sends and refills `per_minute` sends a minute; a send needs a token from both its group's and
/// its account's bucket.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Pacing {
    /// Default true. Off only for load tests.
    pub enabled: bool,
    /// Per chat (group or private). Default burst 3, 20 a minute: one message every 3 s.
    pub group: Bucket,
    /// Per bot account, over all its chats. Default burst 5, 40 a minute.
    pub account: Bucket,
}

/// One token bucket.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bucket {
    pub burst: u32,
    pub per_minute: f64,
}

impl Bucket {
    /// The time one token takes to come back.
    pub fn interval(&self) -> Duration {
        Duration::from_secs_f64(60.0 / self.per_minute)
    }
}

/// The outbox: splitting and retrying.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Outbox {
    /// Longer texts are split into several messages of at most this many characters, at a line
    /// or sentence end when there is one. Default 800: QQ folds longer ones and old phones
    /// show them badly.
    pub max_chars: usize,
    /// The first retry after a failed send waits this long, doubling each time. Default 2.
    pub retry_initial_secs: u64,
    /// …up to this. Default 300.
    pub retry_max_secs: u64,
    /// After this many failed sends a message is given up and kept in the `outbox_failed` tree
    /// (and counted in `/metrics`). Sends not tried because the account was down do not count.
    /// Default 10.
    pub max_attempts: u32,
    /// A send that may have reached QQ without a confirmation (a timeout, a connection lost
    /// mid-call) is sent again: a resident may rarely see a reply twice, never none. Set false to
    /// give such messages up instead (never twice, sometimes none). Default true.
    pub resend_uncertain: bool,
    /// The most messages waiting in one chat's outbox. A resident's message to a chat with this
    /// many waiting is dropped before the bot reads it (counted in
    /// `bangban_messages_limited_total{scope="backlog"}`); agents' notices over it are summed
    /// up in one line (`limits.summary`). Default 30.
    pub max_per_chat: usize,
}

/// Limits on what comes in, applied before the bot reads a message, so that one flooding group
/// or resident cannot starve the others. Agents' chats and agents themselves are not limited.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Default true. Off only for load tests.
    pub enabled: bool,
    /// Messages per resident in one chat. Default burst 5, 10 a minute.
    pub sender: Bucket,
    /// Messages per chat, all residents together. Default burst 20, 30 a minute.
    pub group: Bucket,
    /// Agents' notices caused by one chat, per agents' chat; the rest are summed up in one
    /// line. Default burst 3, 6 a minute.
    pub notices: Bucket,
    /// How long notices are collected before their summary goes out. Default 30.
    pub summary_secs: u64,
    /// Said once to a resident (or group) over the limit; then their messages are dropped
    /// until the limit lets them through again.
    pub too_fast: String,
    /// The summary of agents' notices not sent one by one; `{n}` is how many.
    pub summary: String,
}

impl Default for Service {
    fn default() -> Self {
        Service {
            data_dir: PathBuf::from("data"),
            min_free_mib: 100,
            server: Server::default(),
            onebot: OneBot::default(),
            wecom: WeCom::default(),
            qqbot: QqBot::default(),
            telegram: Telegram::default(),
            pacing: Pacing::default(),
            outbox: Outbox::default(),
            limits: Limits::default(),
        }
    }
}

impl Default for Server {
    fn default() -> Self {
        Server {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            show_accounts: false,
            max_connections: 256,
            header_timeout_secs: 10,
            request_timeout_secs: 60,
            trusted_proxies: Vec::new(),
        }
    }
}

impl Default for OneBot {
    fn default() -> Self {
        OneBot {
            enabled: true,
            forward_ws: Vec::new(),
            http_api: Vec::new(),
            action_timeout_secs: 15,
            heartbeat_misses: 3,
            max_frame_kib: 16 << 10,
            send_cq_strings: false,
        }
    }
}

impl Default for Pacing {
    fn default() -> Self {
        Pacing {
            enabled: true,
            group: Bucket {
                burst: 3,
                per_minute: 20.0,
            },
            account: Bucket {
                burst: 5,
                per_minute: 40.0,
            },
        }
    }
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox {
            max_chars: 800,
            retry_initial_secs: 2,
            retry_max_secs: 300,
            max_attempts: 10,
            resend_uncertain: true,
            max_per_chat: 30,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            enabled: true,
            sender: Bucket {
                burst: 5,
                per_minute: 10.0,
            },
            group: Bucket {
                burst: 20,
                per_minute: 30.0,
            },
            notices: Bucket {
                burst: 3,
                per_minute: 6.0,
            },
            summary_secs: 30,
            too_fast: "您发得太快了，请稍后再问".into(),
            summary: "另有 {n} 条新工单通知，发“我的工单”查看".into(),
        }
    }
}

/// Loads `bangban.toml` from the config directory (defaults when it is absent); problems are
/// pushed to `errors`.
pub fn load(dir: &Path, errors: &mut Vec<ConfigError>) -> Service {
    let file = dir.join("bangban.toml");
    let text = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Service::default(),
        Err(e) => {
            errors.push(ConfigError {
                file,
                key: "-".into(),
                message: format!("cannot read the file: {e}"),
            });
            return Service::default();
        }
    };
    match parse_toml::<Service>(&file, &text) {
        Ok(service) => {
            errors.extend(service.validate(&file));
            service
        }
        Err(e) => {
            errors.push(e);
            Service::default()
        }
    }
}

impl Service {
    pub fn validate(&self, file: &Path) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        let mut check = super::checker(file, &mut errors);
        check(
            "data_dir",
            !self.data_dir.as_os_str().is_empty(),
            "a directory path",
        );
        drop(check);
        for (i, url) in self.onebot.forward_ws.iter().enumerate() {
            if let Some(problem) = url_problem(url, UrlKind::WebSocket) {
                errors.push(ConfigError {
                    file: file.to_path_buf(),
                    key: format!("onebot.forward_ws[{i}]"),
                    message: format!(
                        "expected a ws:// or wss:// URL with a host, e.g. \"ws://127.0.0.1:3001\" \
                         ({problem})"
                    ),
                });
            }
        }
        for (i, url) in self.onebot.http_api.iter().enumerate() {
            if let Some(problem) = url_problem(url, UrlKind::Http) {
                errors.push(ConfigError {
                    file: file.to_path_buf(),
                    key: format!("onebot.http_api[{i}]"),
                    message: format!(
                        "expected an http:// or https:// URL with a host, e.g. \
                         \"http://127.0.0.1:3000\" ({problem})"
                    ),
                });
            }
        }
        let mut check = super::checker(file, &mut errors);
        check(
            "server.max_connections",
            (16..=65_536).contains(&self.server.max_connections),
            "a whole number from 16 to 65536",
        );
        check(
            "server.header_timeout_secs",
            (1..=300).contains(&self.server.header_timeout_secs),
            "a whole number of seconds from 1 to 300",
        );
        check(
            "server.request_timeout_secs",
            (1..=3600).contains(&self.server.request_timeout_secs),
            "a whole number of seconds from 1 to 3600",
        );
        check(
            "onebot.action_timeout_secs",
            (1..=600).contains(&self.onebot.action_timeout_secs),
            "a whole number of seconds from 1 to 600",
        );
        check(
            "onebot.heartbeat_misses",
            self.onebot.heartbeat_misses >= 1,
            "a whole number ≥ 1",
        );
        check(
            "onebot.max_frame_kib",
            self.onebot.max_frame_kib >= 64,
            "at least 64 (KiB)",
        );
        for (key, bucket) in [
            ("pacing.group", &self.pacing.group),
            ("pacing.account", &self.pacing.account),
            ("limits.sender", &self.limits.sender),
            ("limits.group", &self.limits.group),
            ("limits.notices", &self.limits.notices),
        ] {
            check(
                &format!("{key}.burst"),
                bucket.burst >= 1,
                "a whole number ≥ 1",
            );
            check(
                &format!("{key}.per_minute"),
                bucket.per_minute.is_finite() && bucket.per_minute > 0.0,
                "a number > 0",
            );
        }
        check(
            "outbox.max_chars",
            self.outbox.max_chars >= 50,
            "a whole number ≥ 50",
        );
        check(
            "outbox.retry_initial_secs",
            self.outbox.retry_initial_secs >= 1,
            "a whole number ≥ 1",
        );
        check(
            "outbox.retry_max_secs",
            self.outbox.retry_max_secs >= self.outbox.retry_initial_secs,
            "a number ≥ retry_initial_secs",
        );
        check(
            "outbox.max_attempts",
            self.outbox.max_attempts >= 1,
            "a whole number ≥ 1",
        );
        check(
            "min_free_mib",
            self.min_free_mib <= 1 << 20,
            "a whole number of MiB up to 1048576 (0: no low-disk warning)",
        );
        check(
            "outbox.max_per_chat",
            self.outbox.max_per_chat >= 1,
            "a whole number ≥ 1",
        );
        check(
            "limits.summary_secs",
            (1..=3600).contains(&self.limits.summary_secs),
            "a whole number of seconds from 1 to 3600",
        );
        check(
            "limits.too_fast",
            !self.limits.too_fast.trim().is_empty(),
            "the text said to a resident over the limit",
        );
        check(
            "limits.summary",
            self.limits.summary.contains("{n}"),
            "a text with {n} where the number of notices goes",
        );
        drop(check);
        errors
    }
}

#[derive(Clone, Copy)]
enum UrlKind {
    WebSocket,
    Http,
}

/// What is wrong with `url` as the adapter will use it, if anything: it must parse, have the
/// scheme of its `kind` and name a host. The URL itself is not repeated (it may carry an
/// `access_token` query).
fn url_problem(url: &str, kind: UrlKind) -> Option<String> {
    // The URL standard trims surrounding spaces; the clients do not.
    if url.trim() != url || url.is_empty() {
        return Some("empty, or spaces around it".into());
    }
    let parsed = match reqwest::Url::parse(url) {
        Ok(parsed) => parsed,
        Err(e) => return Some(e.to_string()),
    };
    let schemes: &[&str] = match kind {
        UrlKind::WebSocket => &["ws", "wss"],
        UrlKind::Http => &["http", "https"],
    };
    if !schemes.contains(&parsed.scheme()) {
        return Some(format!("the scheme is {}", parsed.scheme()));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Some("no host".into());
    }
    // The WebSocket client parses the URL again as an HTTP request target, which is stricter
    // (ASCII only, for one).
    if let UrlKind::WebSocket = kind
        && let Err(e) = url.parse::<axum::http::Uri>()
    {
        return Some(format!("the WebSocket client cannot use it: {e}"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Service, Vec<ConfigError>> {
        let file = Path::new("bangban.toml");
        let service: Service = parse_toml(file, text).map_err(|e| vec![e])?;
        let errors = service.validate(file);
        if errors.is_empty() {
            Ok(service)
        } else {
            Err(errors)
        }
    }

    #[test]
    fn the_shipped_file_is_the_defaults_spelled_out() {
        let text = include_str!("../../bot-config/bangban.toml");
        assert_eq!(parse(text).unwrap(), Service::default());
    }

    #[test]
    fn partial_files_keep_the_other_defaults() {
        let service =
            parse("[pacing]\nenabled = false\n[server]\nlisten = \"0.0.0.0:9000\"").unwrap();
        assert!(!service.pacing.enabled);
        assert_eq!(service.pacing.group, Pacing::default().group);
        assert_eq!(service.server.listen.port(), 9000);
        assert_eq!(service.data_dir, PathBuf::from("data"));
    }

    #[test]
    fn trusted_proxies_are_addresses_or_networks() {
        let service =
            parse("[server]\ntrusted_proxies = [\"127.0.0.1\", \"10.1.0.0/16\", \"fd00::/8\"]")
                .unwrap();
        let trusted = |ip: &str| {
            let ip: IpAddr = ip.parse().unwrap();
            service
                .server
                .trusted_proxies
                .iter()
                .any(|n| n.contains(ip))
        };
        assert!(trusted("127.0.0.1") && trusted("::ffff:127.0.0.1"));
        assert!(trusted("10.1.200.3") && !trusted("10.2.0.1"));
        assert!(trusted("fd12::1") && !trusted("fe80::1"));
        assert!(!trusted("127.0.0.2") && !trusted("::1"));
        for bad in ["localhost", "10.0.0.0/33", "1.2.3.4/x"] {
            let errors = parse(&format!("[server]\ntrusted_proxies = [\"{bad}\"]")).unwrap_err();
            assert!(
                errors[0].key.contains("trusted_proxies") && errors[0].message.contains(bad),
                "{bad}: {errors:?}"
            );
        }
    }

    #[test]
    fn errors_name_the_key() {
        let errors = parse(
            "[pacing]\ngroup = { burst = 0, per_minute = 20 }\n[onebot]\nforward_ws = [\"127.0.0.1:3001\"]",
        )
        .unwrap_err();
        let keys: Vec<_> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["onebot.forward_ws[0]", "pacing.group.burst"]);
        let unknown = parse("[onebot]\naccess_token = \"secret\"").unwrap_err();
        assert!(unknown[0].message.contains("access_token"), "{unknown:?}");
        assert!(parse("[server]\nlisten = \"localhost\"").is_err());
    }

    #[test]
    fn onebot_urls_are_parsed_not_just_prefixed() {
        let keyed = |toml: &str| -> Vec<(String, String)> {
            parse(toml)
                .err()
                .unwrap_or_default()
                .into_iter()
                .map(|e| (e.key, e.message))
                .collect()
        };
        for bad in [
            "ws://bad host:3001",
            "ws://",
            "ws:///path",
            "ws://127.0.0.1:99999",
            "ws://村委会:3001",
            " ws://127.0.0.1:3001",
            "http://127.0.0.1:3001",
            "127.0.0.1:3001",
            "",
        ] {
            let errors = keyed(&format!("[onebot]\nforward_ws = [{bad:?}]"));
            assert_eq!(errors.len(), 1, "{bad:?} accepted: {errors:?}");
            assert_eq!(errors[0].0, "onebot.forward_ws[0]");
            assert!(
                errors[0]
                    .1
                    .starts_with("expected a ws:// or wss:// URL with a host"),
                "{errors:?}"
            );
        }
        for bad in [
            "http://bad host:3000",
            "http://",
            "ws://127.0.0.1:3000",
            "http//127.0.0.1:3000",
        ] {
            let errors = keyed(&format!(
                "[onebot]\nhttp_api = [\"http://127.0.0.1:3000\", {bad:?}]"
            ));
            assert_eq!(errors.len(), 1, "{bad:?} accepted: {errors:?}");
            assert_eq!(errors[0].0, "onebot.http_api[1]");
            assert!(errors[0].1.contains("http:// or https://"), "{errors:?}");
        }
        // The parse error is said, the URL (which may hold a token) is not repeated.
        let errors = keyed("[onebot]\nforward_ws = [\"ws://bad host:3001/?access_token=s3cret\"]");
        assert!(!errors[0].1.contains("s3cret"), "{errors:?}");
        assert!(errors[0].1.contains("domain"), "{errors:?}");

        let good = parse(
            "[onebot]\nforward_ws = [\"ws://127.0.0.1:3001\", \"wss://napcat.example.org/ws?access_token=x\"]\n\
             http_api = [\"http://[::1]:3000/api\", \"https://bot.example.org\"]",
        );
        assert!(good.is_ok(), "{good:?}");
    }

    #[test]
    fn a_missing_file_is_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let mut errors = Vec::new();
        assert_eq!(load(dir.path(), &mut errors), Service::default());
        assert!(errors.is_empty());
    }
}
