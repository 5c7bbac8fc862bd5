//! Limits a platform itself sets on one chat, kept whatever `[pacing]` and `[outbox]` say:
//! a WeCom group robot takes at most 20 messages a minute and 2,048 bytes of text a message, the
//! WeCom app's message API 2,048 bytes of text, the WeCom AI bot's replies (passive or through a
//! `response_url`) 20,480 bytes of markdown. The byte cap follows the path the adapter takes: a
//! robot's group whatever the account, else the account the message is sent from (one private
//! chat id can be reached through the app and through the AI bot). Other chats have only the
//! configured pacing and `outbox.max_chars`.

use super::split::Limit;
use crate::config::service::{Bucket, Service};
use bangban_contract::{Chat, Platform};
use bangban_wecom::{AIBOT_MARKDOWN_MAX_BYTES, APP_TEXT_MAX_BYTES, ROBOT_TEXT_MAX_BYTES};
use std::collections::BTreeSet;

/// WeCom's limit on one group robot: 20 messages in any minute. As a bucket that holds in every
/// window of 60 s: burst + 60 s × rate ≤ 20.
const ROBOT_BUCKET: Bucket = Bucket {
    burst: 2,
    per_minute: 18.0,
};

/// The chats whose platform sets its own limits.
#[derive(Debug, Clone, Default)]
pub(crate) struct ChatLimits {
    /// WeCom chats served by a group robot.
    robots: BTreeSet<String>,
    /// WeCom is enabled.
    wecom: bool,
    /// The WeCom self-built app's account (its AgentId), when configured.
    wecom_app: Option<String>,
    /// The WeCom AI bot's account (its BotID), when configured.
    wecom_aibot: Option<String>,
}

impl ChatLimits {
    pub(crate) fn new(service: &Service) -> ChatLimits {
        let w = &service.wecom;
        ChatLimits {
            robots: if w.enabled {
                w.robots.keys().cloned().collect()
            } else {
                BTreeSet::new()
            },
            wecom: w.enabled,
            // The accounts as the adapter names them (`server::platforms` sets none itself).
            wecom_app: (w.enabled && !w.corp_id.is_empty()).then(|| w.agent_id.to_string()),
            wecom_aibot: (w.enabled && !w.aibot_id.trim().is_empty())
                .then(|| w.aibot_id.trim().to_owned()),
        }
    }

    fn is_robot(&self, platform: Platform, chat: &Chat) -> bool {
        platform == Platform::Wecom && matches!(chat, Chat::Group(id) if self.robots.contains(id))
    }

    /// The platform's own pace for `chat`, kept even with pacing off.
    pub(crate) fn bucket(&self, platform: Platform, chat: &Chat) -> Option<Bucket> {
        self.is_robot(platform, chat).then_some(ROBOT_BUCKET)
    }

    /// The most one message to `chat` sent from `account` may hold: `configured` characters,
    /// and the bytes the platform allows where it counts bytes. On WeCom the adapter sends to a
    /// robot's group through its webhook whatever the account; otherwise the account decides:
    /// the AI bot's replies take 20,480 bytes, the app's messages 2,048. Any other account gets
    /// the smallest cap (the adapter refuses such a message anyway).
    pub(crate) fn max_chars(
        &self,
        platform: Platform,
        account: &str,
        chat: &Chat,
        configured: usize,
    ) -> Limit {
        if platform != Platform::Wecom || !self.wecom {
            return Limit::from(configured);
        }
        let bytes = if self.is_robot(platform, chat) {
            ROBOT_TEXT_MAX_BYTES
        } else if self.wecom_aibot.as_deref() == Some(account) {
            AIBOT_MARKDOWN_MAX_BYTES
        } else if self.wecom_app.as_deref() == Some(account) {
            APP_TEXT_MAX_BYTES
        } else {
            ROBOT_TEXT_MAX_BYTES.min(APP_TEXT_MAX_BYTES)
        };
        Limit::bytes(configured, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::pacing::TokenBucket;
    use std::time::Duration;
    use tokio::time::Instant;

    fn service() -> Service {
        let mut service = Service::default();
        service.wecom.enabled = true;
        service
            .wecom
            .robots
            .insert("agents".into(), "BANGBAN_WECOM_ROBOT_AGENTS".into());
        service
    }

    #[test]
    fn only_robot_chats_get_the_robot_limits() {
        let limits = ChatLimits::new(&service());
        let robot = Chat::Group("agents".into());
        assert_eq!(limits.bucket(Platform::Wecom, &robot), Some(ROBOT_BUCKET));
        assert_eq!(limits.bucket(Platform::Onebot, &robot), None);
        assert_eq!(
            limits.bucket(Platform::Wecom, &Chat::Group("wrk1".into())),
            None
        );
        assert_eq!(
            limits.max_chars(Platform::Wecom, "wecom-robot", &robot, 800),
            Limit::bytes(800, 2048)
        );
        assert_eq!(
            limits.max_chars(Platform::Telegram, "7000", &robot, 800),
            Limit::from(800)
        );
        let mut off = service();
        off.wecom.enabled = false;
        assert_eq!(ChatLimits::new(&off).bucket(Platform::Wecom, &robot), None);
        assert_eq!(
            ChatLimits::new(&off).max_chars(Platform::Wecom, "wecom-robot", &robot, 800),
            Limit::from(800)
        );
    }

    #[test]
    fn wecom_chats_get_the_byte_cap_of_the_account_they_are_reached_through() {
        let person = Chat::Private("wangjuan".into());
        let group = Chat::Group("wrkDAHU0001".into());
        // The AI bot only: its replies take 20,480 bytes, in groups and private chats.
        let mut aibot = service();
        aibot.wecom.aibot_id = "aib-1".into();
        let limits = ChatLimits::new(&aibot);
        assert_eq!(
            limits.max_chars(Platform::Wecom, "aib-1", &group, 800),
            Limit::bytes(800, 20480)
        );
        assert_eq!(
            limits.max_chars(Platform::Wecom, "aib-1", &person, 800),
            Limit::bytes(800, 20480)
        );
        // With the app as well, the same private chat id is the app's (2,048 bytes) when the
        // message goes from the app's account, and still the AI bot's (20,480) from its own.
        let mut app = aibot.clone();
        app.wecom.corp_id = "ww1436e0e65a779aee".into();
        app.wecom.agent_id = 1000002;
        let limits = ChatLimits::new(&app);
        assert_eq!(
            limits.max_chars(Platform::Wecom, "1000002", &person, 800),
            Limit::bytes(800, 2048)
        );
        assert_eq!(
            limits.max_chars(Platform::Wecom, "aib-1", &person, 800),
            Limit::bytes(800, 20480)
        );
        assert_eq!(
            limits.max_chars(Platform::Wecom, "aib-1", &group, 800),
            Limit::bytes(800, 20480)
        );
        // A robot's group is the robot's whatever the account; an unknown account gets the
        // smallest cap.
        assert_eq!(
            limits.max_chars(Platform::Wecom, "aib-1", &Chat::Group("agents".into()), 800),
            Limit::bytes(800, 2048)
        );
        assert_eq!(
            limits.max_chars(Platform::Wecom, "someone", &person, 800),
            Limit::bytes(800, 2048)
        );
        // 800 Chinese characters are 2,400 bytes: too long for the app, cut to fit; one
        // message for the AI bot.
        let text = "工单12｜大湖村｜已受理｜「村里的路灯坏了找谁」\n".repeat(40);
        assert!(text.chars().count() <= 1200 && text.len() > 2048);
        let to_bot = limits.max_chars(Platform::Wecom, "aib-1", &person, 1200);
        assert_eq!(crate::runtime::split::split_text(&text, to_bot).len(), 1);
        let limit = limits.max_chars(Platform::Wecom, "1000002", &person, 1200);
        let parts = crate::runtime::split::split_text(&text, limit);
        assert!(parts.len() > 1);
        assert!(
            parts.iter().all(|p| p.len() <= APP_TEXT_MAX_BYTES),
            "{parts:?}"
        );
    }

    #[test]
    fn the_robot_bucket_never_lets_more_than_20_through_in_any_minute() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(ROBOT_BUCKET, start);
        // Send as fast as the bucket allows for ten minutes; record each send's time.
        let mut sent = Vec::new();
        let mut now = start;
        while now < start + Duration::from_secs(600) {
            now = now.max(bucket.ready_at());
            bucket.take(now);
            sent.push(now);
        }
        for (i, first) in sent.iter().enumerate() {
            let within_minute = sent[i..]
                .iter()
                .take_while(|t| **t < *first + Duration::from_secs(60))
                .count();
            assert!(within_minute <= 20, "{within_minute} sends in a minute");
        }
        assert!(
            sent.len() >= 170,
            "and it does not pace much slower: {}",
            sent.len()
        );
    }

    #[test]
    fn a_robot_message_split_at_its_limit_fits_in_2048_bytes() {
        let limits = ChatLimits::new(&service());
        let chat = Chat::Group("agents".into());
        let text = "𠀀新工单：村里的路灯坏了。".repeat(200);
        let limit = limits.max_chars(Platform::Wecom, "wecom-robot", &chat, 800);
        let parts = crate::runtime::split::split_text(&text, limit);
        assert!(parts.len() > 1);
        assert!(parts.iter().all(|p| p.len() <= ROBOT_TEXT_MAX_BYTES));
        assert_eq!(parts.concat(), text);
    }
}
