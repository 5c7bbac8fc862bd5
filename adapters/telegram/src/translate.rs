//! Telegram updates into the contract's [`Incoming`].

use std::ops::Range;

use bangban_contract::{Chat, Incoming, Platform};
use teloxide::types::{
    ChatKind, Message, MessageEntity, MessageEntityKind, MessageKind, PublicChatKind, Update,
    UpdateKind,
};

/// The bot itself, as `getMe` described it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Me {
    pub(crate) id: u64,
    /// Without the `@`. Bots always have one; `None` only if a Bot API server left it out.
    pub(crate) username: Option<String>,
}

impl Me {
    /// The contract's account: the bot's user id.
    pub(crate) fn account(&self) -> String {
        self.id.to_string()
    }

    /// Whether `name` (without `@`) is the bot's username; Telegram usernames ignore case.
    fn is_named(&self, name: &str) -> bool {
        self.username
            .as_deref()
            .is_some_and(|mine| mine.eq_ignore_ascii_case(name))
    }
}

/// The contract's message id for message `message_id` of `chat_id`: message ids are unique
/// only within a chat.
pub(crate) fn message_key(chat_id: i64, message_id: i32) -> String {
    format!("{chat_id}:{message_id}")
}

/// Reads a [`message_key`] back.
pub(crate) fn parse_message_key(key: &str) -> Option<(i64, i32)> {
    let (chat, message) = key.rsplit_once(':')?;
    Some((chat.trim().parse().ok()?, message.trim().parse().ok()?))
}

/// The update as an [`Incoming`], or why it is not one (for logs; never the text).
pub(crate) fn incoming(update: &Update, me: &Me) -> Result<Incoming, &'static str> {
    match &update.kind {
        UpdateKind::Message(message) => from_message(message, me),
        UpdateKind::EditedMessage(_) => Err("an edited message"),
        UpdateKind::Error(_) => Err("an update this version of teloxide cannot read"),
        _ => Err("not a message"),
    }
}

fn from_message(message: &Message, me: &Me) -> Result<Incoming, &'static str> {
    let chat_id = message.chat.id.0;
    let chat = match &message.chat.kind {
        ChatKind::Private(_) => Chat::Private(chat_id.to_string()),
        ChatKind::Public(public) => match public.kind {
            PublicChatKind::Group | PublicChatKind::Supergroup(_) => {
                Chat::Group(chat_id.to_string())
            }
            PublicChatKind::Channel(_) => return Err("a channel post"),
        },
    };
    if message.is_automatic_forward() {
        return Err("a channel post forwarded into its discussion group");
    }
    let (sender, sender_name) = match (&message.sender_chat, &message.from) {
        (_, Some(from)) if from.id.0 == me.id => return Err("the bot's own message"),
        // An anonymous group admin or a channel speaking in the group: the chat is the sender
        // people see.
        (Some(sender_chat), _) => (
            sender_chat.id.0.to_string(),
            sender_chat.title().map(str::to_owned),
        ),
        (None, Some(from)) => (from.id.0.to_string(), Some(from.full_name())),
        (None, None) => return Err("a message without a sender"),
    };
    let (text, entities) = match (message.text(), message.caption()) {
        (Some(text), _) => (text, message.entities().unwrap_or_default()),
        (None, Some(caption)) => (caption, message.caption_entities().unwrap_or_default()),
        (None, None) => return Err("a message without text or caption"),
    };
    let Addressing {
        mut mentions_bot,
        text,
    } = addressing(text, entities, me);
    if matches!(chat, Chat::Private(_)) {
        mentions_bot = true;
    }
    // In forum groups a message that replies to nothing still points at its topic's first
    // (service) message; that is not a reply.
    let reply = message
        .reply_to_message()
        .filter(|replied| !matches!(replied.kind, MessageKind::ForumTopicCreated(_)));
    if reply
        .and_then(|replied| replied.from.as_ref())
        .is_some_and(|author| author.id.0 == me.id)
    {
        mentions_bot = true;
    }
    Ok(Incoming {
        platform: Platform::Telegram,
        account: me.account(),
        chat,
        sender,
        sender_name: sender_name.filter(|name| !name.trim().is_empty()),
        message_id: message_key(chat_id, message.id.0),
        text,
        mentions_bot,
        reply_to: reply.map(|replied| message_key(replied.chat.id.0, replied.id.0)),
    })
}

struct Addressing {
    mentions_bot: bool,
    text: String,
}

/// Whether the entities address the bot (an `@bot` mention, a text mention of the bot, a
/// command at the start that names the bot or no bot), and the text without the bot's
/// mentions and without the `@bot` suffix of its commands.
fn addressing(text: &str, entities: &[MessageEntity], me: &Me) -> Addressing {
    let mut mentions_bot = false;
    let mut cuts = Vec::new();
    for entity in entities {
        // Offsets are in UTF-16 code units; an entity that does not fit the text is ignored.
        let Some(range) = byte_range(text, entity.offset, entity.length) else {
            continue;
        };
        let piece = &text[range.clone()];
        match &entity.kind {
            MessageEntityKind::Mention
                if piece
                    .strip_prefix('@')
                    .is_some_and(|name| me.is_named(name)) =>
            {
                mentions_bot = true;
                cuts.push(range);
            }
            MessageEntityKind::TextMention { user } if user.id.0 == me.id => {
                mentions_bot = true;
                cuts.push(range);
            }
            MessageEntityKind::BotCommand => match piece.find('@') {
                Some(at) if me.is_named(&piece[at + 1..]) => {
                    mentions_bot |= range.start == 0;
                    cuts.push(range.start + at..range.end);
                }
                // Addressed to another bot.
                Some(_) => {}
                None => mentions_bot |= range.start == 0,
            },
            _ => {}
        }
    }
    Addressing {
        mentions_bot,
        text: cut_out(text, cuts),
    }
}

/// The byte range in `text` of the UTF-16 range `offset..offset + length`; `None` when it does
/// not fall on character boundaries or runs past the end.
fn byte_range(text: &str, offset: usize, length: usize) -> Option<Range<usize>> {
    let end = offset.checked_add(length)?;
    let mut start = None;
    let mut units = 0;
    let ends = text.char_indices().chain([(text.len(), '\0')]);
    for (byte, c) in ends {
        if units == offset && start.is_none() {
            start = Some(byte);
        }
        if units == end {
            return Some(start?..byte);
        }
        if units > end {
            return None;
        }
        units += c.len_utf16();
    }
    None
}

/// `text` without the byte ranges `cuts`; where a cut leaves two spaces side by side, one goes.
fn cut_out(text: &str, mut cuts: Vec<Range<usize>>) -> String {
    cuts.sort_by_key(|range| range.start);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    let mut after_cut = false;
    let push = |out: &mut String, piece: &str, after_cut: bool| {
        if after_cut && (out.is_empty() || out.ends_with(char::is_whitespace)) {
            out.push_str(piece.trim_start());
        } else {
            out.push_str(piece);
        }
    };
    for range in cuts {
        if range.start >= at {
            push(&mut out, &text[at..range.start], after_cut);
            after_cut = true;
        }
        at = at.max(range.end);
    }
    push(&mut out, &text[at..], after_cut);
    out.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn me() -> Me {
        Me {
            id: 7000,
            username: Some("bangban_bot".into()),
        }
    }

    /// Updates are read from text, as they come (teloxide's `Update` does not deserialize from
    /// a `serde_json::Value`).
    fn parse(update: Value) -> Update {
        serde_json::from_str(&update.to_string()).unwrap()
    }

    fn update(message: Value) -> Update {
        parse(json!({"update_id": 1, "message": message}))
    }

    fn group_message(text: &str, entities: Value) -> Value {
        json!({
            "message_id": 42,
            "date": 1_700_000_000,
            "chat": {"id": -1001234567890_i64, "type": "supergroup", "title": "幸福社区"},
            "from": {"id": 555, "is_bot": false, "first_name": "小", "last_name": "王"},
            "text": text,
            "entities": entities,
        })
    }

    fn entity(kind: &str, offset: usize, length: usize) -> Value {
        json!({"type": kind, "offset": offset, "length": length})
    }

    #[test]
    fn utf16_ranges() {
        let text = "😀@bangban_bot 你好";
        assert_eq!(byte_range(text, 2, 12), Some(4..16));
        assert_eq!(&text[4..16], "@bangban_bot");
        assert_eq!(byte_range(text, 1, 2), None, "inside a surrogate pair");
        assert_eq!(byte_range(text, 15, 3), None, "past the end");
        assert_eq!(byte_range(text, 15, 2), Some(17..23));
        assert_eq!(byte_range("", 0, 0), Some(0..0));
        assert_eq!(byte_range("a", usize::MAX, 2), None);
    }

    fn one(start: usize, end: usize) -> Vec<Range<usize>> {
        vec![Range { start, end }]
    }

    #[test]
    fn cuts_tidy_spaces() {
        assert_eq!(cut_out("@b 你好", one(0, 2)), "你好");
        assert_eq!(cut_out("请问 @b 怎么办", one(7, 9)), "请问 怎么办");
        assert_eq!(cut_out("你好@b在吗", one(6, 8)), "你好在吗");
        assert_eq!(cut_out("/claim@b 3", one(6, 8)), "/claim 3");
        assert_eq!(cut_out("x @a @a y", vec![2..4, 2..4, 5..7]), "x y");
        assert_eq!(cut_out("  plain  ", vec![]), "plain");
    }

    #[test]
    fn a_group_mention_addresses_the_bot_and_is_removed() {
        let text = "@BangBan_Bot 怎么办理居住证？";
        let incoming = incoming(
            &update(group_message(text, json!([entity("mention", 0, 12)]))),
            &me(),
        )
        .unwrap();
        assert_eq!(incoming.chat, Chat::Group("-1001234567890".into()));
        assert_eq!(incoming.account, "7000");
        assert_eq!(incoming.sender, "555");
        assert_eq!(incoming.sender_name.as_deref(), Some("小 王"));
        assert_eq!(incoming.message_id, "-1001234567890:42");
        assert_eq!(incoming.text, "怎么办理居住证？");
        assert!(incoming.mentions_bot);
        assert_eq!(incoming.reply_to, None);

        // Another user's mention stays and does not address the bot.
        let other = incoming_of(group_message(
            "@someone 你好",
            json!([entity("mention", 0, 8)]),
        ));
        assert!(!other.mentions_bot);
        assert_eq!(other.text, "@someone 你好");
    }

    fn incoming_of(message: Value) -> Incoming {
        incoming(&update(message), &me()).unwrap()
    }

    #[test]
    fn commands() {
        let addressed = incoming_of(group_message(
            "/claim@bangban_bot 3",
            json!([entity("bot_command", 0, 18)]),
        ));
        assert!(addressed.mentions_bot);
        assert_eq!(addressed.text, "/claim 3");

        let bare = incoming_of(group_message("/mine", json!([entity("bot_command", 0, 5)])));
        assert!(bare.mentions_bot);
        assert_eq!(bare.text, "/mine");

        let for_another = incoming_of(group_message(
            "/claim@other_bot 3",
            json!([entity("bot_command", 0, 16)]),
        ));
        assert!(!for_another.mentions_bot);
        assert_eq!(for_another.text, "/claim@other_bot 3");

        let inside = incoming_of(group_message(
            "试试 /help 吧",
            json!([entity("bot_command", 3, 5)]),
        ));
        assert!(!inside.mentions_bot);
    }

    #[test]
    fn replies_text_mentions_captions_and_private_chats() {
        let mut reply = group_message("好的，谢谢", json!([]));
        reply["reply_to_message"] = json!({
            "message_id": 41,
            "date": 1_700_000_000,
            "chat": {"id": -1001234567890_i64, "type": "supergroup", "title": "幸福社区"},
            "from": {"id": 7000, "is_bot": true, "first_name": "帮办", "username": "bangban_bot"},
            "text": "请带身份证",
        });
        let to_bot = incoming_of(reply.clone());
        assert!(to_bot.mentions_bot);
        assert_eq!(to_bot.reply_to.as_deref(), Some("-1001234567890:41"));

        reply["reply_to_message"]["from"] = json!({"id": 556, "is_bot": false, "first_name": "李"});
        let to_someone = incoming_of(reply);
        assert!(!to_someone.mentions_bot);
        assert_eq!(to_someone.reply_to.as_deref(), Some("-1001234567890:41"));

        let text_mention = incoming_of(group_message(
            "帮办 在吗",
            json!([{"type": "text_mention", "offset": 0, "length": 2,
                    "user": {"id": 7000, "is_bot": true, "first_name": "帮办"}}]),
        ));
        assert!(text_mention.mentions_bot);
        assert_eq!(text_mention.text, "在吗");

        let mut photo = group_message("", json!([]));
        let object = photo.as_object_mut().unwrap();
        object.remove("text");
        object.remove("entities");
        object.insert(
            "photo".into(),
            json!([{"file_id": "f", "file_unique_id": "u", "width": 1, "height": 1}]),
        );
        object.insert("caption".into(), json!("@bangban_bot 这个证明对吗"));
        object.insert("caption_entities".into(), json!([entity("mention", 0, 12)]));
        let captioned = incoming_of(photo.clone());
        assert_eq!(captioned.text, "这个证明对吗");
        assert!(captioned.mentions_bot);
        photo.as_object_mut().unwrap().remove("caption");
        photo.as_object_mut().unwrap().remove("caption_entities");
        assert!(incoming(&update(photo), &me()).is_err(), "no text");

        let private = incoming_of(json!({
            "message_id": 9,
            "date": 1_700_000_000,
            "chat": {"id": 555, "type": "private", "first_name": "小"},
            "from": {"id": 555, "is_bot": false, "first_name": "小"},
            "text": "你好",
        }));
        assert_eq!(private.chat, Chat::Private("555".into()));
        assert!(private.mentions_bot);
        assert_eq!(private.message_id, "555:9");
    }

    #[test]
    fn dropped_updates() {
        let mut own = group_message("我是机器人", json!([]));
        own["from"] = json!({"id": 7000, "is_bot": true, "first_name": "帮办"});
        assert_eq!(incoming(&update(own), &me()), Err("the bot's own message"));
        let edited = parse(json!({
            "update_id": 2, "edited_message": group_message("改了", json!([]))
        }));
        assert!(incoming(&edited, &me()).is_err());
        let unknown = parse(json!({"update_id": 3, "some_future_update": {"x": 1}}));
        assert!(incoming(&unknown, &me()).is_err());
        let mut channel = group_message("公告", json!([]));
        channel["chat"] = json!({"id": -100999, "type": "channel", "title": "公告"});
        assert!(incoming(&update(channel), &me()).is_err());
        // Offsets that do not fit the text are ignored, not a panic.
        let bad = incoming_of(group_message("😀x", json!([entity("mention", 1, 40)])));
        assert_eq!(bad.text, "😀x");
    }

    #[test]
    fn message_keys() {
        assert_eq!(message_key(-100123, 5), "-100123:5");
        assert_eq!(parse_message_key("-100123:5"), Some((-100123, 5)));
        assert_eq!(parse_message_key("5"), None);
        assert_eq!(parse_message_key("a:5"), None);
    }
}
