//! Whether WeCom accepts what each account sends with: the app's corp id and secret (asked by
//! `gettoken`) and each group robot's webhook key. Nothing here holds a connection, so this is
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

use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::config::RECHECK_MAX;

pub(crate) struct Health {
    inner: Mutex<Inner>,
    /// Counts changes, so `run` wakes to report them.
    changed: watch::Sender<u64>,
    first_recheck: Duration,
}

#[derive(Default)]
struct Inner {
    /// The errcode of `gettoken`'s refusal of the app's credentials.
    app: Option<i64>,
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

    /// `gettoken` refused the app's credentials with `errcode`.
    pub(crate) fn refuse_app(&self, account: &str, errcode: i64) {
        let mut inner = self.inner();
        if inner.app.replace(errcode).is_none() {
            warn!(%account, errcode,
                "WeCom app account down: WeCom refuses its corp id or app secret (gettoken \
                 errcode {errcode}); check corp_id and BANGBAN_WECOM_APP_SECRET. Its messages \
                 wait; checked again from time to time");
            self.changed(&mut inner);
        }
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
        health.refuse_app("1000002", 40001);
        health.refuse_app("1000002", 40001);
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
    fn the_robots_account_is_down_only_while_every_key_is_refused() {
        let health = Health::new(Duration::from_secs(2));
        health.refuse_robot("wecom-robot", "a", 2, 93000);
        assert!(!health.robots_refused(2));
        health.refuse_robot("wecom-robot", "b", 2, 93000);
        assert!(health.robots_refused(2));
        assert_eq!(health.refused_robots(), ["a", "b"]);
        health.accept_robot("wecom-robot", "a");
        assert!(!health.robots_refused(2));
        assert!(!health.robots_refused(0));
    }
}
