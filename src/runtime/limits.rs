//! Limits a platform itself sets on one chat, kept whatever `[pacing]` and `[outbox]` say:
//! a WeCom group robot takes at most 20 messages a minute and 2,048 bytes of text a message, the
//! WeCom app's message API 2,048 bytes of text, the WeCom AI bot's `response_url` 20,480 bytes of
//! markdown. Other chats have only the configured pacing and `outbox.max_chars`.

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
    /// WeCom is enabled: its other chats are the AI bot's and the app's.
    wecom: bool,
    /// The WeCom self-built app is configured: a private chat may be the app's.
    wecom_app: bool,
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
            wecom_app: w.enabled && !w.corp_id.is_empty(),
        }
    }

    fn is_robot(&self, platform: Platform, chat: &Chat) -> bool {
        platform == Platform::Wecom && matches!(chat, Chat::Group(id) if self.robots.contains(id))
    }

    /// The platform's own pace for `chat`, kept even with pacing off.
    pub(crate) fn bucket(&self, platform: Platform, chat: &Chat) -> Option<Bucket> {
        self.is_robot(platform, chat).then_some(ROBOT_BUCKET)
    }

    /// The most one message to `chat` may hold: `configured` characters, and the bytes the
    /// platform allows where it counts bytes. On WeCom a group is a robot's (its webhook) or the
    /// AI bot's (a `response_url`: the app sends to private chats only); a private chat may be
    /// the app's or the AI bot's, so it gets the app's smaller limit when the app is configured.
    pub(crate) fn max_chars(&self, platform: Platform, chat: &Chat, configured: usize) -> Limit {
        if platform != Platform::Wecom || !self.wecom {
            return Limit::from(configured);
        }
        let bytes = match chat {
            Chat::Group(_) if self.is_robot(platform, chat) => ROBOT_TEXT_MAX_BYTES,
            Chat::Private(_) if self.wecom_app => APP_TEXT_MAX_BYTES,
            _ => AIBOT_MARKDOWN_MAX_BYTES,
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
            limits.max_chars(Platform::Wecom, &robot, 800),
            Limit::bytes(800, 2048)
        );
        assert_eq!(
            limits.max_chars(Platform::Telegram, &robot, 800),
            Limit::from(800)
        );
        let mut off = service();
        off.wecom.enabled = false;
        assert_eq!(ChatLimits::new(&off).bucket(Platform::Wecom, &robot), None);
        assert_eq!(
            ChatLimits::new(&off).max_chars(Platform::Wecom, &robot, 800),
            Limit::from(800)
        );
    }

    #[test]
    fn wecom_app_and_ai_bot_chats_get_their_byte_limits() {
        let agent = Chat::Private("wangjuan".into());
        let group = Chat::Group("wrkDAHU0001".into());
        // The AI bot only: its response_url takes 20,480 bytes.
        let mut aibot = service();
        aibot.wecom.aibot_id = "aib-1".into();
        let limits = ChatLimits::new(&aibot);
        assert_eq!(
            limits.max_chars(Platform::Wecom, &group, 800),
            Limit::bytes(800, 20480)
        );
        assert_eq!(
            limits.max_chars(Platform::Wecom, &agent, 800),
            Limit::bytes(800, 20480)
        );
        // With the app, a private chat may be the app's: its message API takes 2,048 bytes.
        let mut app = aibot.clone();
        app.wecom.corp_id = "ww1436e0e65a779aee".into();
        app.wecom.agent_id = 1000002;
        let limits = ChatLimits::new(&app);
        assert_eq!(
            limits.max_chars(Platform::Wecom, &agent, 800),
            Limit::bytes(800, 2048)
        );
        assert_eq!(
            limits.max_chars(Platform::Wecom, &group, 800),
            Limit::bytes(800, 20480)
        );
        // 800 Chinese characters are 2,400 bytes: too long for the app, cut to fit.
        let text = "工单12｜大湖村｜已受理｜「村里的路灯坏了找谁」\n".repeat(40);
        assert!(text.chars().count() <= 1200 && text.len() > 2048);
        let limit = limits.max_chars(Platform::Wecom, &agent, 1200);
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
        let limit = limits.max_chars(Platform::Wecom, &chat, 800);
        let parts = crate::runtime::split::split_text(&text, limit);
        assert!(parts.len() > 1);
        assert!(parts.iter().all(|p| p.len() <= ROBOT_TEXT_MAX_BYTES));
        assert_eq!(parts.concat(), text);
    }
}
