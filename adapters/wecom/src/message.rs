//! Decrypted callback messages → contract types: the app's XML and the AI bot's JSON.

use bangban_contract::{Chat, Incoming, Platform};
use serde::Deserialize;

/// What a decrypted callback turned out to be.
#[derive(Debug)]
pub(crate) enum Parsed {
    /// A person's text message to the app.
    Message(Incoming),
    /// A person's text message to the AI bot, with its `response_url` (if WeCom gave one): it
    /// can be answered passively and through the URL.
    WithReply {
        incoming: Incoming,
        url: Option<String>,
    },
    /// The AI bot's stream refresh: WeCom asks for the current content of stream `stream_id`.
    Refresh { stream_id: String },
    /// Something that is not a text message (an image, an event…): dropped.
    Ignored { what: String },
}

/// Why a decrypted callback could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ParseError {
    #[error("not the expected {format}: {reason}")]
    Malformed {
        format: &'static str,
        reason: String,
    },
    #[error("missing {0}")]
    Missing(&'static str),
    #[error("unknown message type {0:?}")]
    UnknownType(String),
}

/// A parse error fit for logs: serde's messages can quote the input (message text), so only
/// "missing field" messages are kept whole.
fn malformed(format: &'static str, error: impl ToString) -> ParseError {
    let message = error.to_string();
    let reason = if message.starts_with("missing field") {
        message.chars().take(80).collect()
    } else {
        "unreadable".to_owned()
    };
    ParseError::Malformed { format, reason }
}

fn malformed_json(format: &'static str, error: &serde_json::Error) -> ParseError {
    if error.is_data() && error.to_string().starts_with("missing field") {
        return malformed(format, error);
    }
    ParseError::Malformed {
        format,
        reason: format!(
            "{:?} error at line {} column {}",
            error.classify(),
            error.line(),
            error.column()
        ),
    }
}

// ----- The self-built app (XML) -----

/// The outer XML of an app callback: `<xml><ToUserName/><Encrypt/><AgentID/></xml>`.
#[derive(Debug, Deserialize)]
pub(crate) struct AppEnvelope {
    #[serde(rename = "Encrypt")]
    pub(crate) encrypt: String,
}

pub(crate) fn app_envelope(body: &str) -> Result<AppEnvelope, ParseError> {
    quick_xml::de::from_str(body).map_err(|e| malformed("XML envelope", e))
}

#[derive(Debug, Deserialize)]
struct AppMessage {
    #[serde(rename = "FromUserName")]
    from_user_name: Option<String>,
    #[serde(rename = "MsgType")]
    msg_type: Option<String>,
    #[serde(rename = "Content")]
    content: Option<String>,
    #[serde(rename = "MsgId")]
    msg_id: Option<String>,
    #[serde(rename = "AgentID")]
    agent_id: Option<String>,
    #[serde(rename = "Event")]
    event: Option<String>,
}

/// The message types the app receives that are not text: dropped, not refused.
const APP_OTHER_TYPES: &[&str] = &["image", "voice", "video", "location", "link", "file"];

/// Reads an app's decrypted XML: a text message from `FromUserName` in a private chat.
/// Messages for another AgentID are dropped (`Ignored`).
pub(crate) fn app_message(xml: &str, account: &str, agent_id: u64) -> Result<Parsed, ParseError> {
    let message: AppMessage =
        quick_xml::de::from_str(xml).map_err(|e| malformed("app message XML", e))?;
    let msg_type = message.msg_type.ok_or(ParseError::Missing("MsgType"))?;
    if let Some(agent) = message.agent_id.as_deref().map(str::trim)
        && !agent.is_empty()
        && agent != agent_id.to_string()
    {
        return Ok(Parsed::Ignored {
            what: "a message for another AgentID".into(),
        });
    }
    match msg_type.as_str() {
        "text" => {}
        "event" => {
            let event = message.event.unwrap_or_default();
            return Ok(Parsed::Ignored {
                what: format!("event {}", short(&event)),
            });
        }
        other if APP_OTHER_TYPES.contains(&other) => {
            return Ok(Parsed::Ignored {
                what: format!("{other} message"),
            });
        }
        other => return Err(ParseError::UnknownType(short(other))),
    }
    let sender = non_empty(message.from_user_name).ok_or(ParseError::Missing("FromUserName"))?;
    let message_id = non_empty(message.msg_id).ok_or(ParseError::Missing("MsgId"))?;
    let text = message.content.unwrap_or_default().trim().to_owned();
    Ok(Parsed::Message(Incoming {
        platform: Platform::Wecom,
        account: account.to_owned(),
        chat: Chat::Private(sender.clone()),
        sender,
        sender_name: None,
        message_id,
        text,
        mentions_bot: true,
        reply_to: None,
    }))
}

// ----- The AI bot (JSON) -----

/// The outer JSON of an AI bot callback: `{"encrypt": "…"}`.
#[derive(Debug, Deserialize)]
pub(crate) struct AiBotEnvelope {
    pub(crate) encrypt: String,
}

pub(crate) fn aibot_envelope(body: &[u8]) -> Result<AiBotEnvelope, ParseError> {
    serde_json::from_slice(body).map_err(|e| malformed_json("JSON envelope", &e))
}

#[derive(Debug, Deserialize)]
struct AiBotMessage {
    msgid: Option<String>,
    aibotid: Option<String>,
    chatid: Option<String>,
    chattype: Option<String>,
    from: Option<From>,
    response_url: Option<String>,
    msgtype: Option<String>,
    text: Option<Content>,
    voice: Option<Content>,
    mixed: Option<Mixed>,
    stream: Option<StreamRef>,
}

#[derive(Debug, Deserialize)]
struct StreamRef {
    id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct From {
    userid: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Content {
    content: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Mixed {
    #[serde(default)]
    msg_item: Vec<MixedItem>,
}

#[derive(Debug, Deserialize)]
struct MixedItem {
    msgtype: Option<String>,
    text: Option<Content>,
}

/// The AI bot's callback types that are not messages to answer: dropped, not refused.
const AIBOT_OTHER_TYPES: &[&str] = &["image", "file", "video", "event"];

/// What the adapter knows of its AI bot when reading its callbacks.
pub(crate) struct AiBotSide<'a> {
    pub(crate) aibot_id: &'a str,
    pub(crate) account: &'a str,
    pub(crate) name: Option<&'a str>,
}

/// Reads the AI bot's decrypted JSON: text (and the text of mixed messages, and the
/// transcript of voice messages) from a group (`chatid`) or a private chat (`from.userid`),
/// or a stream refresh (`msgtype` `stream`, `stream.id`).
pub(crate) fn aibot_message(json: &str, bot: &AiBotSide<'_>) -> Result<Parsed, ParseError> {
    let message: AiBotMessage =
        serde_json::from_str(json).map_err(|e| malformed_json("AI bot message JSON", &e))?;
    let msgtype = message.msgtype.ok_or(ParseError::Missing("msgtype"))?;
    if let Some(id) = message.aibotid.as_deref()
        && !id.is_empty()
        && id != bot.aibot_id
    {
        return Ok(Parsed::Ignored {
            what: "a message for another AI bot".into(),
        });
    }
    let text = match msgtype.as_str() {
        "text" => message.text.and_then(|t| t.content).unwrap_or_default(),
        "voice" => message.voice.and_then(|v| v.content).unwrap_or_default(),
        "mixed" => message
            .mixed
            .map(|m| {
                m.msg_item
                    .into_iter()
                    .filter(|item| item.msgtype.as_deref() == Some("text"))
                    .filter_map(|item| item.text.and_then(|t| t.content))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default(),
        "stream" => {
            let stream_id = non_empty(message.stream.and_then(|s| s.id))
                .ok_or(ParseError::Missing("stream.id"))?;
            return Ok(Parsed::Refresh { stream_id });
        }
        other if AIBOT_OTHER_TYPES.contains(&other) => {
            return Ok(Parsed::Ignored {
                what: format!("{other} callback"),
            });
        }
        other => return Err(ParseError::UnknownType(short(other))),
    };
    let sender =
        non_empty(message.from.and_then(|f| f.userid)).ok_or(ParseError::Missing("from.userid"))?;
    let message_id = non_empty(message.msgid).ok_or(ParseError::Missing("msgid"))?;
    let group = match message.chattype.as_deref() {
        Some("group") => true,
        Some("single") | None => false,
        Some(other) => {
            return Err(ParseError::UnknownType(format!(
                "chattype {}",
                short(other)
            )));
        }
    };
    let chat = if group {
        Chat::Group(non_empty(message.chatid).ok_or(ParseError::Missing("chatid"))?)
    } else {
        Chat::Private(sender.clone())
    };
    let text = if group {
        strip_mention(&text, bot.name)
    } else {
        text.trim().to_owned()
    };
    if text.is_empty() {
        return Ok(Parsed::Ignored {
            what: format!("{msgtype} message without text"),
        });
    }
    let incoming = Incoming {
        platform: Platform::Wecom,
        account: bot.account.to_owned(),
        chat,
        sender,
        sender_name: None,
        message_id,
        text,
        mentions_bot: true,
        reply_to: None,
    };
    Ok(Parsed::WithReply {
        incoming,
        url: non_empty(message.response_url),
    })
}

/// Removes the bot's @-mention from a group message: `@name` where the name is known, else a
/// leading `@word` (the AI bot only hears group messages that mention it).
pub(crate) fn strip_mention(text: &str, name: Option<&str>) -> String {
    let text = text.trim();
    if let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) {
        let tag = format!("@{name}");
        let mut from = 0;
        while let Some(found) = text[from..].find(&tag) {
            let start = from + found;
            let end = start + tag.len();
            let ends_word = text[end..].chars().next().is_none_or(char::is_whitespace);
            if ends_word {
                let (before, after) = (text[..start].trim_end(), text[end..].trim_start());
                return match (before.is_empty(), after.is_empty()) {
                    (true, _) => after.to_owned(),
                    (_, true) => before.to_owned(),
                    _ => format!("{before} {after}"),
                };
            }
            from = end;
        }
        return text.to_owned();
    }
    match text.strip_prefix('@') {
        Some(rest) => match rest.find(char::is_whitespace) {
            Some(space) => rest[space..].trim_start().to_owned(),
            None => String::new(),
        },
        None => text.to_owned(),
    }
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// A platform-given word fit for a log line: short, printable.
fn short(text: &str) -> String {
    text.chars().take(32).filter(|c| !c.is_control()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_stripped() {
        assert_eq!(strip_mention("@RobotA hello robot", None), "hello robot");
        assert_eq!(strip_mention("@RobotA\u{2005}办社保", None), "办社保");
        assert_eq!(strip_mention("@RobotA", None), "");
        assert_eq!(strip_mention("没有提到", None), "没有提到");
        let name = Some("帮办助手");
        assert_eq!(strip_mention("@帮办助手 怎么办低保", name), "怎么办低保");
        assert_eq!(
            strip_mention("请问 @帮办助手 怎么办低保", name),
            "请问 怎么办低保"
        );
        assert_eq!(
            strip_mention("@帮办助手小号 你好", name),
            "@帮办助手小号 你好"
        );
        assert_eq!(strip_mention("你好 @帮办助手", name), "你好");
    }

    const BOT: AiBotSide<'static> = AiBotSide {
        aibot_id: "AIBOTID",
        account: "aibot",
        name: None,
    };

    #[test]
    fn aibot_text_in_a_group() {
        let json = r#"{"msgid":"CAIQ16HMjQYY/NGagIOAgAMgq4KM0AI=","aibotid":"AIBOTID","chatid":"CHATID",
            "chattype":"group","from":{"userid":"USERID"},"response_url":"https://x/y?response_code=1",
            "msgtype":"text","text":{"content":"@RobotA hello robot"}}"#;
        let Parsed::WithReply { incoming, url } = aibot_message(json, &BOT).unwrap() else {
            panic!("a message with a response_url");
        };
        assert_eq!(url.as_deref(), Some("https://x/y?response_code=1"));
        assert_eq!(incoming.chat, Chat::Group("CHATID".into()));
        assert_eq!(incoming.sender, "USERID");
        assert_eq!(incoming.text, "hello robot");
        assert_eq!(incoming.message_id, "CAIQ16HMjQYY/NGagIOAgAMgq4KM0AI=");
        assert!(incoming.mentions_bot);
    }

    #[test]
    fn aibot_private_mixed_and_other_types() {
        let json = r#"{"msgid":"m","aibotid":"AIBOTID","chattype":"single","from":{"userid":"U"},
            "msgtype":"mixed","mixed":{"msg_item":[{"msgtype":"text","text":{"content":"看图"}},
            {"msgtype":"image","image":{"url":"u"}}]}}"#;
        let Parsed::WithReply { incoming, url } = aibot_message(json, &BOT).unwrap() else {
            panic!("a message");
        };
        assert_eq!(incoming.chat, Chat::Private("U".into()));
        assert_eq!(incoming.text, "看图");
        assert_eq!(url, None);

        // A stream refresh names its stream (WeCom's documented example).
        let refresh = r#"{"msgid":"CAIQz7/MjQYY/NGagIOAgAMgl8jK/gI=","aibotid":"AIBOTID","chatid":"CHATID",
            "chattype":"group","from":{"userid":"USERID"},"msgtype":"stream","stream":{"id":"STREAMID"}}"#;
        assert!(matches!(
            aibot_message(refresh, &BOT),
            Ok(Parsed::Refresh { stream_id }) if stream_id == "STREAMID"
        ));
        let no_id = refresh.replace(r#""id":"STREAMID""#, r#""id":"""#);
        assert!(matches!(
            aibot_message(&no_id, &BOT),
            Err(ParseError::Missing("stream.id"))
        ));

        let image = r#"{"msgid":"m","aibotid":"AIBOTID","chattype":"single","from":{"userid":"U"},"msgtype":"image"}"#;
        assert!(matches!(
            aibot_message(image, &BOT),
            Ok(Parsed::Ignored { .. })
        ));
        let other_bot = image
            .replace("\"image\"", "\"text\"")
            .replace("AIBOTID", "OTHER");
        assert!(matches!(
            aibot_message(&other_bot, &BOT),
            Ok(Parsed::Ignored { .. })
        ));
        let unknown = image.replace("\"image\"", "\"hologram\"");
        assert!(matches!(
            aibot_message(&unknown, &BOT),
            Err(ParseError::UnknownType(_))
        ));
        assert!(aibot_message("[1,2]", &BOT).is_err());
        // Errors never quote the message.
        let wrong = r#"{"msgid":"m","msgtype":"text","text":"身份证号码110101"}"#;
        let error = aibot_message(wrong, &BOT).unwrap_err().to_string();
        assert!(!error.contains("110101"), "{error}");
        let no_chat = r#"{"msgid":"m","chattype":"group","from":{"userid":"U"},"msgtype":"text","text":{"content":"x"}}"#;
        assert!(matches!(
            aibot_message(no_chat, &BOT),
            Err(ParseError::Missing("chatid"))
        ));
    }

    #[test]
    fn app_text_and_others() {
        let xml = "<xml><ToUserName><![CDATA[ww1]]></ToUserName><FromUserName><![CDATA[zhang]]></FromUserName>\
            <CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[ 你好 ]]></Content>\
            <MsgId>42</MsgId><AgentID>7</AgentID></xml>";
        let Parsed::Message(incoming) = app_message(xml, "app", 7).unwrap() else {
            panic!("a message");
        };
        assert_eq!(incoming.chat, Chat::Private("zhang".into()));
        assert_eq!(
            (incoming.text.as_str(), incoming.message_id.as_str()),
            ("你好", "42")
        );
        assert!(matches!(
            app_message(xml, "app", 8),
            Ok(Parsed::Ignored { .. })
        ));
        let event = xml.replace("[text]", "[event]");
        assert!(matches!(
            app_message(&event, "app", 7),
            Ok(Parsed::Ignored { .. })
        ));
        let odd = xml.replace("[text]", "[hologram]");
        assert!(matches!(
            app_message(&odd, "app", 7),
            Err(ParseError::UnknownType(_))
        ));
        assert!(app_message("<xml><MsgType>text</MsgType>", "app", 7).is_err());
        assert!(app_message("not xml at all", "app", 7).is_err());
        let nested = "<xml><MsgType>text</MsgType><Content><a>秘密</a></Content></xml>";
        if let Err(error) = app_message(nested, "app", 7) {
            assert!(!error.to_string().contains("秘密"), "{error}");
        }
        assert!(app_envelope("<xml><ToUserName>a</ToUserName></xml>").is_err());
        assert_eq!(
            app_envelope("<xml><Encrypt><![CDATA[abc]]></Encrypt><AgentID>1</AgentID></xml>")
                .unwrap()
                .encrypt,
            "abc"
        );
    }
}
