//! Limits a platform itself sets on one chat, kept whatever `[pacing]` and `[outbox]` say:
//! a WeCom group robot takes at most 20 messages a minute and 2,048 bytes of text a message.
//! Other chats have only the configured pacing and `outbox.max_chars`.

use crate::config::service::{Bucket, Service};
use bangban_contract::{Chat, Platform};
use std::collections::BTreeSet;

/// WeCom's limit on one group robot: 20 messages in any minute. As a bucket that holds in every
/// window of 60 s: burst + 60 s × rate ≤ 20.
const ROBOT_BUCKET: Bucket = Bucket {
    burst: 2,
    per_minute: 18.0,
};

/// WeCom's limit on a robot's text message, in bytes of UTF-8.
const ROBOT_TEXT_MAX_BYTES: usize = 2048;

/// The chats whose platform sets its own limits.
#[derive(Debug, Clone, Default)]
pub(crate) struct ChatLimits {
    /// WeCom chats served by a group robot.
    robots: BTreeSet<String>,
}

impl ChatLimits {
    pub(crate) fn new(service: &Service) -> ChatLimits {
        let robots = if service.wecom.enabled {
            service.wecom.robots.keys().cloned().collect()
        } else {
            BTreeSet::new()
        };
        ChatLimits { robots }
    }

    fn is_robot(&self, platform: Platform, chat: &Chat) -> bool {
        platform == Platform::Wecom && matches!(chat, Chat::Group(id) if self.robots.contains(id))
    }

    /// The platform's own pace for `chat`, kept even with pacing off.
    pub(crate) fn bucket(&self, platform: Platform, chat: &Chat) -> Option<Bucket> {
        self.is_robot(platform, chat).then_some(ROBOT_BUCKET)
    }

    /// The most characters of one message to `chat`: `configured`, or fewer where the
    /// platform counts bytes (a character is at most 4 bytes of UTF-8).
    pub(crate) fn max_chars(&self, platform: Platform, chat: &Chat, configured: usize) -> usize {
        if self.is_robot(platform, chat) {
            configured.min(ROBOT_TEXT_MAX_BYTES / 4)
        } else {
            configured
        }
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
        assert_eq!(limits.max_chars(Platform::Wecom, &robot, 800), 512);
        assert_eq!(limits.max_chars(Platform::Telegram, &robot, 800), 800);
        let mut off = service();
        off.wecom.enabled = false;
        assert_eq!(ChatLimits::new(&off).bucket(Platform::Wecom, &robot), None);
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
        let max = limits.max_chars(Platform::Wecom, &chat, 800);
        let parts = crate::runtime::split::split_text(&text, max);
        assert!(parts.len() > 1);
        assert!(parts.iter().all(|p| p.len() <= ROBOT_TEXT_MAX_BYTES));
        assert_eq!(parts.concat(), text);
    }
}
