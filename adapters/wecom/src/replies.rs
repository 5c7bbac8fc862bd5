//! The AI bot's `response_url`s: where replies to its chats can go, each once, for an hour.
//!
//! WeCom gives every message to the AI bot a `response_url`; it takes one POST and is valid
//! for one hour ("每个 response_url 用户可以调用接口一次, 该 response_url 有效期为 1 个小时").
//! The adapter keeps the unused ones per chat with their expiry, and a send for the chat takes
//! one: the one of the quoted message if the send quotes one still here, else the newest.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use bangban_contract::Chat;

/// How long a `response_url` is used after its message arrived. WeCom's docs say one hour;
/// five minutes are kept back so a send in flight does not race the expiry.
pub const RESPONSE_URL_TTL: Duration = Duration::from_secs(55 * 60);
/// The unused `response_url`s kept per chat; older ones are dropped first.
const PER_CHAT: usize = 32;
/// Above this many chats, chats whose URLs all expired are forgotten.
const PRUNE_ABOVE: usize = 4096;

/// One unused `response_url`.
#[derive(Clone)]
pub(crate) struct ReplyUrl {
    /// The message it came with.
    pub(crate) message_id: String,
    /// The URL; a capability (anyone holding it can post once), so never logged.
    pub(crate) url: String,
    pub(crate) expires_at: SystemTime,
}

#[derive(Default)]
pub(crate) struct ReplyUrls {
    chats: Mutex<HashMap<Chat, VecDeque<ReplyUrl>>>,
}

impl ReplyUrls {
    /// Keeps the `response_url` of `message_id` in `chat`, received at `now`.
    pub(crate) fn push(&self, chat: Chat, message_id: &str, url: &str, now: SystemTime) {
        let mut chats = self.chats.lock().unwrap_or_else(|e| e.into_inner());
        if chats.len() > PRUNE_ABOVE {
            chats.retain(|_, urls| {
                urls.retain(|u| u.expires_at > now);
                !urls.is_empty()
            });
        }
        let urls = chats.entry(chat).or_default();
        urls.retain(|u| u.expires_at > now && u.message_id != message_id);
        urls.push_back(ReplyUrl {
            message_id: message_id.to_owned(),
            url: url.to_owned(),
            expires_at: now + RESPONSE_URL_TTL,
        });
        while urls.len() > PER_CHAT {
            urls.pop_front();
        }
    }

    /// Takes the URL to reply to `chat` with: the quoted message's if still here, else the
    /// newest unexpired one. `None` when the chat has none.
    pub(crate) fn take(
        &self,
        chat: &Chat,
        quote: Option<&str>,
        now: SystemTime,
    ) -> Option<ReplyUrl> {
        let mut chats = self.chats.lock().unwrap_or_else(|e| e.into_inner());
        let urls = chats.get_mut(chat)?;
        urls.retain(|u| u.expires_at > now);
        let quoted = quote.and_then(|q| urls.iter().position(|u| u.message_id == q));
        let taken = match quoted {
            Some(index) => urls.remove(index),
            None => urls.pop_back(),
        };
        if urls.is_empty() {
            chats.remove(chat);
        }
        taken
    }

    /// Gives back a URL whose POST never reached WeCom, so a later send can use it.
    pub(crate) fn put_back(&self, chat: Chat, url: ReplyUrl) {
        let mut chats = self.chats.lock().unwrap_or_else(|e| e.into_inner());
        let urls = chats.entry(chat).or_default();
        let at = urls
            .iter()
            .position(|u| u.expires_at > url.expires_at)
            .unwrap_or(urls.len());
        urls.insert(at, url);
        while urls.len() > PER_CHAT {
            urls.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn newest_first_quoted_preferred_each_once_until_expiry() {
        let urls = ReplyUrls::default();
        let group = Chat::Group("g".into());
        urls.push(group.clone(), "m1", "u1", at(0));
        urls.push(group.clone(), "m2", "u2", at(10));
        urls.push(group.clone(), "m3", "u3", at(20));
        let take = |quote, now| urls.take(&group, quote, at(now)).map(|u| u.url);
        assert_eq!(take(Some("m1"), 30).as_deref(), Some("u1"));
        assert_eq!(take(Some("gone"), 30).as_deref(), Some("u3"));
        // m2 expires 55 minutes after it came.
        assert_eq!(take(None, 10 + RESPONSE_URL_TTL.as_secs()), None);
        assert!(urls.take(&Chat::Private("g".into()), None, at(0)).is_none());
    }

    #[test]
    fn a_url_given_back_is_used_again() {
        let urls = ReplyUrls::default();
        let chat = Chat::Private("u".into());
        urls.push(chat.clone(), "m1", "u1", at(0));
        let taken = urls.take(&chat, None, at(1)).unwrap();
        assert!(urls.take(&chat, None, at(1)).is_none());
        urls.put_back(chat.clone(), taken);
        assert_eq!(urls.take(&chat, None, at(2)).unwrap().url, "u1");
    }

    #[test]
    fn chats_keep_a_bounded_number() {
        let urls = ReplyUrls::default();
        let chat = Chat::Group("g".into());
        for i in 0..100 {
            urls.push(chat.clone(), &format!("m{i}"), &format!("u{i}"), at(i));
        }
        let mut count = 0;
        while urls.take(&chat, None, at(100)).is_some() {
            count += 1;
        }
        assert_eq!(count, PER_CHAT);
    }
}
