//! Passive replies: what the bot may answer to, per chat.
//!
//! The platform no longer takes unprompted group or C2C messages (主动消息, gone since
//! 2025-04-21): the bot speaks only in reply to a resident's message, naming its `msg_id`. A
//! message takes at most 5 replies, within 5 minutes in groups and 60 minutes in C2C, and
//! each reply to it carries a distinct `msg_seq` (the platform drops a repeated
//! `msg_id` + `msg_seq` as a duplicate).
//!
//! [`Anchors`] keeps, per chat, the residents' recent messages (the anchors), when each
//! arrived, the next `msg_seq` of each and how many replies each has used. A send reserves a
//! reply on the quoted message if it is still usable, else on the newest usable one; none
//! usable means the core must wait for the chat's next message.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use bangban_contract::Chat;

/// The messages kept per chat; older ones are dropped first.
const PER_CHAT: usize = 32;
/// Above this many chats, chats with no usable message are forgotten.
const PRUNE_ABOVE: usize = 4096;

struct Anchor {
    message_id: String,
    received: SystemTime,
    /// The `msg_seq` of the next reply: 1 for the first. Never goes back, so that a reply
    /// that may have reached the platform is never repeated under the same number.
    next_seq: u32,
    /// Replies that went out or may have (successes, timeouts) and replies in flight.
    used: u32,
    /// The platform refused replies to it (expired, used up): not tried again.
    dead: bool,
}

/// A reply the adapter is about to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reservation {
    pub(crate) chat: Chat,
    /// The resident's message the reply answers.
    pub(crate) message_id: String,
    pub(crate) seq: u32,
}

/// Why no reply can go to a chat now, for the core's logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoAnchor {
    /// No message from the chat within the window.
    NoRecentMessage,
    /// The chat's recent messages have used all their replies.
    RepliesUsed,
}

impl NoAnchor {
    pub(crate) fn reason(self) -> &'static str {
        match self {
            NoAnchor::NoRecentMessage => "no message from the chat within the passive-reply window",
            NoAnchor::RepliesUsed => "the chat's recent messages have used all their replies",
        }
    }
}

pub(crate) struct Anchors {
    group_window: Duration,
    c2c_window: Duration,
    max_replies: u32,
    chats: Mutex<HashMap<Chat, VecDeque<Anchor>>>,
}

impl Anchors {
    pub(crate) fn new(group_window: Duration, c2c_window: Duration, max_replies: u32) -> Anchors {
        Anchors {
            group_window,
            c2c_window,
            max_replies,
            chats: Mutex::new(HashMap::new()),
        }
    }

    fn window(&self, chat: &Chat) -> Duration {
        match chat {
            Chat::Group(_) => self.group_window,
            Chat::Private(_) => self.c2c_window,
        }
    }

    /// Keeps the resident's message `message_id` in `chat`, received at `now`. A message the
    /// platform pushes again keeps its first arrival and the replies it used.
    pub(crate) fn remember(&self, chat: &Chat, message_id: &str, now: SystemTime) {
        let mut chats = self.lock();
        if chats.len() > PRUNE_ABOVE {
            chats.retain(|chat, anchors| {
                let window = match chat {
                    Chat::Group(_) => self.group_window,
                    Chat::Private(_) => self.c2c_window,
                };
                anchors.retain(|a| in_window(a, window, now));
                !anchors.is_empty()
            });
        }
        let window = self.window(chat);
        let anchors = chats.entry(chat.clone()).or_default();
        anchors.retain(|a| in_window(a, window, now));
        if anchors.iter().any(|a| a.message_id == message_id) {
            return;
        }
        anchors.push_back(Anchor {
            message_id: message_id.to_owned(),
            received: now,
            next_seq: 1,
            used: 0,
            dead: false,
        });
        while anchors.len() > PER_CHAT {
            anchors.pop_front();
        }
    }

    /// Reserves a reply in `chat`: on `quote` if that message is still usable, else on the
    /// newest usable message.
    pub(crate) fn reserve(
        &self,
        chat: &Chat,
        quote: Option<&str>,
        now: SystemTime,
    ) -> Result<Reservation, NoAnchor> {
        let window = self.window(chat);
        let mut chats = self.lock();
        let anchors = chats.get_mut(chat).ok_or(NoAnchor::NoRecentMessage)?;
        anchors.retain(|a| in_window(a, window, now));
        if anchors.is_empty() {
            chats.remove(chat);
            return Err(NoAnchor::NoRecentMessage);
        }
        let usable = |a: &Anchor| !a.dead && a.used < self.max_replies;
        let quoted = quote.and_then(|q| {
            anchors
                .iter()
                .position(|a| a.message_id == q)
                .filter(|&i| usable(&anchors[i]))
        });
        let index = quoted
            .or_else(|| anchors.iter().rposition(usable))
            .ok_or(NoAnchor::RepliesUsed)?;
        let anchor = &mut anchors[index];
        let seq = anchor.next_seq;
        anchor.next_seq = anchor.next_seq.saturating_add(1);
        anchor.used += 1;
        Ok(Reservation {
            chat: chat.clone(),
            message_id: anchor.message_id.clone(),
            seq,
        })
    }

    /// Gives back the reply of a send that certainly did not reach the platform's count (it
    /// was refused, or never sent). Its `msg_seq` stays spent.
    pub(crate) fn release(&self, reservation: &Reservation) {
        let mut chats = self.lock();
        let anchor = chats.get_mut(&reservation.chat).and_then(|anchors| {
            anchors
                .iter_mut()
                .find(|a| a.message_id == reservation.message_id)
        });
        if let Some(anchor) = anchor {
            anchor.used = anchor.used.saturating_sub(1);
        }
    }

    /// The platform will take no more replies to the reservation's message. Whether another
    /// message of the chat can still be replied to.
    pub(crate) fn retire(&self, reservation: &Reservation, now: SystemTime) -> bool {
        let window = self.window(&reservation.chat);
        let mut chats = self.lock();
        let Some(anchors) = chats.get_mut(&reservation.chat) else {
            return false;
        };
        for anchor in anchors.iter_mut() {
            if anchor.message_id == reservation.message_id {
                anchor.dead = true;
            }
        }
        anchors
            .iter()
            .any(|a| !a.dead && a.used < self.max_replies && in_window(a, window, now))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Chat, VecDeque<Anchor>>> {
        self.chats.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn in_window(anchor: &Anchor, window: Duration, now: SystemTime) -> bool {
    match now.duration_since(anchor.received) {
        Ok(age) => age < window,
        // The clock went back: the message is as new as can be.
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn anchors() -> Anchors {
        Anchors::new(5 * MINUTE, 60 * MINUTE, 5)
    }

    fn group() -> Chat {
        Chat::Group("G1".into())
    }

    fn start() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_725_442_341)
    }

    fn seq_of(
        anchors: &Anchors,
        chat: &Chat,
        quote: Option<&str>,
        now: SystemTime,
    ) -> (String, u32) {
        let r = anchors.reserve(chat, quote, now).unwrap();
        (r.message_id, r.seq)
    }

    #[test]
    fn five_replies_per_message_numbered_from_one() {
        let anchors = anchors();
        let t = start();
        assert_eq!(
            anchors.reserve(&group(), None, t),
            Err(NoAnchor::NoRecentMessage)
        );
        anchors.remember(&group(), "m1", t);
        for seq in 1..=5 {
            assert_eq!(seq_of(&anchors, &group(), None, t), ("m1".into(), seq));
        }
        assert_eq!(
            anchors.reserve(&group(), None, t),
            Err(NoAnchor::RepliesUsed)
        );
        // A pushed-again message keeps its count.
        anchors.remember(&group(), "m1", t);
        assert_eq!(
            anchors.reserve(&group(), None, t),
            Err(NoAnchor::RepliesUsed)
        );
        anchors.remember(&group(), "m2", t);
        assert_eq!(seq_of(&anchors, &group(), None, t), ("m2".into(), 1));
    }

    #[test]
    fn windows_differ_for_groups_and_c2c() {
        let anchors = anchors();
        let t = start();
        let private = Chat::Private("U1".into());
        anchors.remember(&group(), "g", t);
        anchors.remember(&private, "p", t);
        let later = t + 5 * MINUTE;
        assert_eq!(
            anchors.reserve(&group(), None, later),
            Err(NoAnchor::NoRecentMessage)
        );
        assert_eq!(seq_of(&anchors, &private, None, later), ("p".into(), 1));
        assert_eq!(
            anchors.reserve(&private, None, t + 60 * MINUTE),
            Err(NoAnchor::NoRecentMessage)
        );
    }

    #[test]
    fn the_quoted_message_is_preferred_while_usable() {
        let anchors = Anchors::new(5 * MINUTE, 60 * MINUTE, 3);
        let t = start();
        anchors.remember(&group(), "old", t);
        anchors.remember(&group(), "new", t + MINUTE);
        let now = t + 2 * MINUTE;
        assert_eq!(seq_of(&anchors, &group(), None, now), ("new".into(), 1));
        for seq in 1..=3 {
            assert_eq!(
                seq_of(&anchors, &group(), Some("old"), now),
                ("old".into(), seq)
            );
        }
        // Used up: the newest usable one instead; likewise for a quote the adapter never saw.
        assert_eq!(
            seq_of(&anchors, &group(), Some("old"), now),
            ("new".into(), 2)
        );
        assert_eq!(
            seq_of(&anchors, &group(), Some("unknown"), now),
            ("new".into(), 3)
        );
        assert_eq!(
            anchors.reserve(&group(), None, now),
            Err(NoAnchor::RepliesUsed)
        );
    }

    #[test]
    fn released_replies_are_given_back_but_not_their_numbers() {
        let anchors = Anchors::new(5 * MINUTE, 60 * MINUTE, 1);
        let t = start();
        anchors.remember(&group(), "m", t);
        let first = anchors.reserve(&group(), None, t).unwrap();
        assert_eq!(
            anchors.reserve(&group(), None, t),
            Err(NoAnchor::RepliesUsed)
        );
        anchors.release(&first);
        assert_eq!(seq_of(&anchors, &group(), None, t), ("m".into(), 2));
    }

    #[test]
    fn retired_messages_are_not_used_again() {
        let anchors = anchors();
        let t = start();
        anchors.remember(&group(), "a", t);
        anchors.remember(&group(), "b", t);
        let on_b = anchors.reserve(&group(), None, t).unwrap();
        assert_eq!(on_b.message_id, "b");
        assert!(anchors.retire(&on_b, t), "a is still usable");
        let on_a = anchors.reserve(&group(), None, t).unwrap();
        assert_eq!(on_a.message_id, "a");
        assert!(!anchors.retire(&on_a, t));
        assert_eq!(
            anchors.reserve(&group(), None, t),
            Err(NoAnchor::RepliesUsed)
        );
    }

    #[test]
    fn chats_keep_a_bounded_number_of_messages() {
        let anchors = anchors();
        let t = start();
        for i in 0..(PER_CHAT + 5) {
            anchors.remember(&group(), &format!("m{i}"), t);
        }
        assert_eq!(anchors.lock()[&group()].len(), PER_CHAT);
        assert_eq!(
            seq_of(&anchors, &group(), Some("m0"), t).0,
            format!("m{}", PER_CHAT + 4)
        );
    }
}
