//! Whether WeCom accepts what each account sends with: the app's corp id and secret (asked by
//! `gettoken`), the server's address for the app's API calls (errcode 60020: not in the app's
//! 企业可信IP) and each group robot's webhook key. Nothing here holds a connection, so this is
//! what the accounts' `Up` and `Down` report: an account is down while WeCom refuses its
//! credentials, and up again when a later call with them is accepted — a send, or the
//! adapter's own check, made [`WeComConfig::recheck_interval`](crate::WeComConfig) after the
//! refusal and then at doubling intervals up to [`RECHECK_MAX`].
//!
//! The robots share one account: it is down while WeCom refuses every robot's key (with one
//! robot, its key). A refused key beside working ones leaves the account up, and the messages
//! for that robot's group are refused; it is checked again all the same.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use bangban_contract::AccountDown;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::api::IP_ERRCODE;
use crate::config::RECHECK_MAX;

/// How WeCom refuses the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) errcode: i64,
    /// With 60020: the server's address as WeCom saw it.
    pub(crate) from_ip: Option<String>,
}

impl Refusal {
    /// Whether WeCom refuses the server's address rather than a secret.
    pub(crate) fn address(&self) -> bool {
        self.errcode == IP_ERRCODE
    }
}

pub(crate) struct Health {
    inner: Mutex<Inner>,
    /// Counts changes, so `run` wakes to report them.
    changed: watch::Sender<u64>,
    first_recheck: Duration,
}

#[derive(Default)]
struct Inner {
    /// How WeCom refuses the app: its credentials (`gettoken`) or the server's address.
    app: Option<Refusal>,
    /// The robot chats whose webhook key WeCom refuses.
    robots: BTreeSet<String>,
    /// While something is refused: when to check again, and the wait after that.
    recheck: Option<(Instant, Duration)>,
}

impl Inner {
    fn anything_refused(&self) -> bool {
        self.app.is_some() || !self.robots.is_empty()
    }
}

impl Health {
    pub(crate) fn new(first_recheck: Duration) -> Health {
        Health {
            inner: Mutex::new(Inner::default()),
            changed: watch::Sender::new(0),
            first_recheck: first_recheck.max(Duration::from_millis(1)),
        }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes `run`; when something is newly refused, schedules the first check.
    fn changed(&self, inner: &mut Inner) {
        if inner.anything_refused() {
            if inner.recheck.is_none() {
                inner.recheck = Some((Instant::now() + self.first_recheck, self.first_recheck));
            }
        } else {
            inner.recheck = None;
        }
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Whether WeCom refuses the app's credentials.
    pub(crate) fn app_refused(&self) -> bool {
        self.inner().app.is_some()
    }

    /// How WeCom refuses the app, while it does.
    pub(crate) fn app_refusal(&self) -> Option<Refusal> {
        self.inner().app.clone()
    }

    /// WeCom refused the app: `gettoken` its credentials, or an API call (60020) the server's
    /// address `from_ip`. Logged once, when the account goes down (or the cause changes).
    pub(crate) fn refuse_app(&self, account: &str, errcode: i64, from_ip: Option<&str>) {
        let refusal = Refusal {
            errcode,
            from_ip: from_ip.map(str::to_owned),
        };
        let mut inner = self.inner();
        let before = inner.app.replace(refusal.clone());
        if before.as_ref().map(|r| r.errcode) == Some(errcode) {
            return;
        }
        if refusal.address() {
            let ip = from_ip.unwrap_or("(WeCom named none)");
            warn!(%account, errcode, from_ip = %ip,
                "WeCom app account down: WeCom refuses the app's API calls from this server's \
                 address {ip} (errcode 60020: not in the app's trusted IPs). In the WeCom admin \
                 console add it under 应用管理 → the app → 企业可信IP. Its messages wait; checked \
                 again from time to time");
        } else {
            warn!(%account, errcode,
                "WeCom app account down: WeCom refuses its corp id or app secret (gettoken \
                 errcode {errcode}); check corp_id and BANGBAN_WECOM_APP_SECRET. Its messages \
                 wait; checked again from time to time");
        }
        self.changed(&mut inner);
    }

    /// Why the app's and the robots' accounts are down, for `/healthz` (Chinese, for the
    /// clerk). `robots`: how many robots are configured.
    pub(crate) fn down_reasons(
        &self,
        app_account: Option<&str>,
        robot_account: &str,
        robots: usize,
    ) -> Vec<AccountDown> {
        let inner = self.inner();
        let mut down = Vec::new();
        if let (Some(refusal), Some(account)) = (&inner.app, app_account) {
            let reason = if refusal.address() {
                let ip = refusal
                    .from_ip
                    .as_deref()
                    .map_or("本服务器的公网 IP".to_owned(), |ip| {
                        format!("本服务器 IP {ip}")
                    });
                format!(
                    "企业微信不接受{ip}调用自建应用的接口（errcode 60020）。请在企业微信管理后台\
                     “应用管理 → 该自建应用 → 企业可信IP”里加上这个 IP，发给专员的消息会留着，加好后自动发出。"
                )
            } else {
                format!(
                    "企业微信拒绝了自建应用的 CorpID 或 Secret（errcode {}）。请核对 bangban.toml \
                     的 corp_id 和环境变量 BANGBAN_WECOM_APP_SECRET。",
                    refusal.errcode
                )
            };
            down.push(AccountDown {
                account: account.to_owned(),
                reason,
            });
        }
        if robots > 0 && inner.robots.len() >= robots {
            let chats: Vec<&str> = inner.robots.iter().map(String::as_str).collect();
            down.push(AccountDown {
                account: robot_account.to_owned(),
                reason: format!(
                    "企业微信不认群机器人的 webhook key（errcode 93000）：{}。请核对 key，并确认机器人还在群里。",
                    chats.join("、")
                ),
            });
        }
        down
    }

    /// A call with the app's credentials was accepted.
    pub(crate) fn accept_app(&self, account: &str) {
        let mut inner = self.inner();
        if inner.app.take().is_some() {
            info!(%account, "WeCom app account up again: WeCom accepts its corp id and app secret");
            self.changed(&mut inner);
        }
    }

    /// Whether every one of `robots` (the configured robot chats) has its key refused.
    pub(crate) fn robots_refused(&self, robots: usize) -> bool {
        let inner = self.inner();
        robots > 0 && inner.robots.len() >= robots
    }

    /// The robot chats whose key is refused.
    pub(crate) fn refused_robots(&self) -> Vec<String> {
        self.inner().robots.iter().cloned().collect()
    }

    /// The robot webhook refused the key of `chat` (one of `robots` robots, sent from `account`).
    pub(crate) fn refuse_robot(&self, account: &str, chat: &str, robots: usize, errcode: i64) {
        let mut inner = self.inner();
        if inner.robots.insert(chat.to_owned()) {
            if inner.robots.len() >= robots {
                warn!(%account, robot_chat = %chat, errcode,
                    "WeCom robot account down: WeCom refuses the webhook key of the robot of \
                     chat {chat} (errcode {errcode}); check its key in wecom.robots and that \
                     the robot is still in the group. Its messages wait; checked again from \
                     time to time");
            } else {
                warn!(%account, robot_chat = %chat, errcode,
                    "WeCom refuses the webhook key of the robot of chat {chat} (errcode \
                     {errcode}); check its key in wecom.robots and that the robot is still in \
                     the group. Messages to that chat are refused; the other robots still send");
            }
            self.changed(&mut inner);
        }
    }

    /// A call with the key of robot `chat` was accepted.
    pub(crate) fn accept_robot(&self, account: &str, chat: &str) {
        let mut inner = self.inner();
        if inner.robots.remove(chat) {
            info!(%account, robot_chat = %chat,
                "WeCom accepts the webhook key of the robot of chat {chat} again");
            self.changed(&mut inner);
        }
    }

    /// When to check the refused credentials again; `None` while nothing is refused.
    pub(crate) fn next_recheck(&self) -> Option<Instant> {
        self.inner().recheck.map(|(at, _)| at)
    }

    /// A check starts now: the next one waits twice as long (at most [`RECHECK_MAX`]).
    pub(crate) fn rechecking(&self) {
        let mut inner = self.inner();
        if let Some((_, wait)) = inner.recheck {
            let next = (wait * 2).min(RECHECK_MAX.max(self.first_recheck));
            inner.recheck = Some((Instant::now() + wait, next));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wait until the next check, to the second.
    fn wait(health: &Health) -> Option<u64> {
        let left = health.next_recheck()? - Instant::now();
        Some((left.as_millis() as u64).div_ceil(1000))
    }

    #[test]
    fn checks_come_at_doubling_intervals_while_something_is_refused() {
        let health = Health::new(Duration::from_secs(2));
        assert_eq!(wait(&health), None);
        health.refuse_app("1000002", 40001, None);
        health.refuse_app("1000002", 40001, None);
        assert!(health.app_refused());
        assert_eq!(wait(&health), Some(2));
        let mut waits = Vec::new();
        for _ in 0..12 {
            health.rechecking();
            waits.push(wait(&health).unwrap());
        }
        assert_eq!(waits, [2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300, 300]);
        health.accept_app("1000002");
        assert!(!health.app_refused());
        assert_eq!(wait(&health), None);
    }

    #[test]
    fn an_address_refusal_names_the_address_to_trust() {
        let health = Health::new(Duration::from_secs(2));
        assert!(
            health
                .down_reasons(Some("1000002"), "wecom-robot", 0)
                .is_empty()
        );
        health.refuse_app("1000002", 60020, Some("112.43.40.209"));
        assert!(health.app_refusal().unwrap().address());
        let down = health.down_reasons(Some("1000002"), "wecom-robot", 0);
        assert_eq!(down.len(), 1);
        assert_eq!(down[0].account, "1000002");
        assert!(
            down[0].reason.contains("112.43.40.209") && down[0].reason.contains("企业可信IP"),
            "{}",
            down[0].reason
        );
        health.refuse_app("1000002", 40001, None);
        let down = health.down_reasons(Some("1000002"), "wecom-robot", 0);
        assert!(down[0].reason.contains("Secret"), "{}", down[0].reason);
        health.accept_app("1000002");
        assert!(
            health
                .down_reasons(Some("1000002"), "wecom-robot", 0)
                .is_empty()
        );
    }

    #[test]
    fn the_robots_account_is_down_only_while_every_key_is_refused() {
        let health = Health::new(Duration::from_secs(2));
        health.refuse_robot("wecom-robot", "a", 2, 93000);
        assert!(!health.robots_refused(2));
        health.refuse_robot("wecom-robot", "b", 2, 93000);
        assert!(health.robots_refused(2));
        assert_eq!(health.refused_robots(), ["a", "b"]);
        let down = health.down_reasons(None, "wecom-robot", 2);
        assert_eq!(down.len(), 1);
        assert_eq!(down[0].account, "wecom-robot");
        assert!(down[0].reason.contains("a、b"), "{}", down[0].reason);
        health.accept_robot("wecom-robot", "a");
        assert!(!health.robots_refused(2));
        assert!(!health.robots_refused(0));
    }
}
