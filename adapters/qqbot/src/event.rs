//! The webhook's payloads: `{"op", "d", "s", "t", "id"}` to what the adapter does with them.

use bangban_contract::{Chat, Incoming, Platform};
use serde_json::{Map, Value};

/// The event type of a group message that @-mentions the bot.
pub(crate) const GROUP_AT_MESSAGE_CREATE: &str = "GROUP_AT_MESSAGE_CREATE";
/// The event type of a C2C (one-to-one) message to the bot.
pub(crate) const C2C_MESSAGE_CREATE: &str = "C2C_MESSAGE_CREATE";

/// One webhook payload, understood.
#[derive(Debug, PartialEq)]
pub(crate) enum Payload {
    /// op 13: the platform checks the callback URL.
    Validation {
        plain_token: String,
        event_ts: String,
    },
    /// op 0: an event.
    Dispatch(Dispatch),
    /// op 1: a heartbeat, answered with op 11 and the same `d`.
    Heartbeat(Value),
}

#[derive(Debug, PartialEq)]
pub(crate) enum Dispatch {
    /// A message for the core.
    Message(Incoming),
    /// An event the adapter does not report: `what` names it for logs (no content).
    Ignored { what: String },
}

/// Why a payload was refused, for logs. Never holds message text.
#[derive(Debug, PartialEq)]
pub(crate) struct BadPayload(pub(crate) String);

/// Reads one webhook body. `app_id` is the account of the messages.
pub(crate) fn parse(body: &[u8], app_id: &str) -> Result<Payload, BadPayload> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        BadPayload(format!(
            "not JSON ({:?} at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })?;
    let object = value
        .as_object()
        .ok_or_else(|| BadPayload("not a JSON object".into()))?;
    let op = object
        .get("op")
        .and_then(Value::as_u64)
        .ok_or_else(|| BadPayload("no numeric op".into()))?;
    let data = object.get("d").unwrap_or(&Value::Null);
    match op {
        0 => {
            let kind = object.get("t").and_then(Value::as_str).unwrap_or("");
            dispatch(kind, data, app_id).map(Payload::Dispatch)
        }
        1 => Ok(Payload::Heartbeat(data.clone())),
        13 => {
            let field = |key: &str| {
                data.get(key)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| BadPayload(format!("op 13 without d.{key}")))
            };
            Ok(Payload::Validation {
                plain_token: field("plain_token")?,
                event_ts: field("event_ts")?,
            })
        }
        other => Err(BadPayload(format!("unknown op {other}"))),
    }
}

fn dispatch(kind: &str, data: &Value, app_id: &str) -> Result<Dispatch, BadPayload> {
    let group = match kind {
        GROUP_AT_MESSAGE_CREATE => true,
        C2C_MESSAGE_CREATE => false,
        "" => return Err(BadPayload("op 0 without t".into())),
        other => {
            return Ok(Dispatch::Ignored {
                what: other.chars().take(64).collect(),
            });
        }
    };
    let d = data
        .as_object()
        .ok_or_else(|| BadPayload(format!("{kind} without d")))?;
    let author = d.get("author").and_then(Value::as_object);
    if author
        .and_then(|a| a.get("bot"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        return Ok(Dispatch::Ignored {
            what: format!("{kind} from a bot"),
        });
    }
    let message_id = id_field(d, "id").ok_or_else(|| BadPayload(format!("{kind} without d.id")))?;
    let sender_key = if group {
        "member_openid"
    } else {
        "user_openid"
    };
    let sender = author
        .and_then(|a| id_field(a, sender_key).or_else(|| id_field(a, "id")))
        .ok_or_else(|| BadPayload(format!("{kind} without d.author.{sender_key}")))?;
    let chat = if group {
        Chat::Group(
            id_field(d, "group_openid")
                .ok_or_else(|| BadPayload(format!("{kind} without d.group_openid")))?,
        )
    } else {
        Chat::Private(sender.clone())
    };
    let content = d.get("content").and_then(Value::as_str).unwrap_or("");
    let mut text = plain_text(content);
    if text.is_empty() {
        text = attachment_placeholder(d).unwrap_or_default().to_owned();
    }
    let reply_to = d
        .get("message_reference")
        .and_then(Value::as_object)
        .and_then(|r| id_field(r, "message_id"));
    Ok(Dispatch::Message(Incoming {
        platform: Platform::Qqbot,
        account: app_id.to_owned(),
        chat,
        sender,
        sender_name: None,
        message_id,
        text,
        // Group events are only those that @-mention the bot; C2C messages are all addressed.
        mentions_bot: true,
        reply_to,
    }))
}

/// A non-empty string field.
fn id_field(object: &Map<String, Value>, key: &str) -> Option<String> {
    object
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The text of a message's `content`: mention tags (`<@openid>`, `<@!openid>`) and emoji tags
/// (`<faceType=…>`, `<emoji:…>`) removed, entities decoded, trimmed.
pub(crate) fn plain_text(content: &str) -> String {
    let mut out = String::with_capacity(content.len());
    let mut rest = content;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let is_tag = ["<@", "<faceType=", "<emoji:"]
            .iter()
            .any(|prefix| tail.starts_with(prefix));
        match tail.find('>') {
            Some(end) if is_tag => rest = &tail[end + 1..],
            _ => {
                out.push('<');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    let decoded = out
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    decoded.trim().to_owned()
}

/// What stands for a message that is only attachments.
fn attachment_placeholder(d: &Map<String, Value>) -> Option<&'static str> {
    let first = d.get("attachments")?.as_array()?.first()?;
    let kind = first
        .get("content_type")
        .and_then(Value::as_str)
        .unwrap_or("");
    Some(if kind.starts_with("image") {
        "[图片]"
    } else if kind.starts_with("video") {
        "[视频]"
    } else if kind.starts_with("voice") || kind.starts_with("audio") {
        "[语音]"
    } else {
        "[文件]"
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const APP: &str = "102012345";

    fn message(kind: &str, d: Value) -> Result<Dispatch, BadPayload> {
        let body = json!({"op": 0, "id": "EVENT:1", "s": 3, "t": kind, "d": d}).to_string();
        match parse(body.as_bytes(), APP)? {
            Payload::Dispatch(dispatch) => Ok(dispatch),
            other => panic!("not a dispatch: {other:?}"),
        }
    }

    #[test]
    fn group_at_messages_become_incoming() {
        // The docs' example event.
        let d = json!({
            "author": {"member_openid": "E4F4AEA33253A2797FB897C50B81D7ED"},
            "content": " 123",
            "group_openid": "C9F778FE6ADF9D1D1DBE395BF744A33A",
            "id": "ROBOT1.0_eBIyWnxpmSu6uLQ7u7fU0eGloKGYg4eEa737vRyKnMCgyZjKi7JLYkQ9B0VapbiY",
            "timestamp": "2023-11-06T13:37:18+08:00"
        });
        let Dispatch::Message(incoming) = message(GROUP_AT_MESSAGE_CREATE, d).unwrap() else {
            panic!("not a message");
        };
        assert_eq!(
            incoming,
            Incoming {
                platform: Platform::Qqbot,
                account: APP.into(),
                chat: Chat::Group("C9F778FE6ADF9D1D1DBE395BF744A33A".into()),
                sender: "E4F4AEA33253A2797FB897C50B81D7ED".into(),
                sender_name: None,
                message_id:
                    "ROBOT1.0_eBIyWnxpmSu6uLQ7u7fU0eGloKGYg4eEa737vRyKnMCgyZjKi7JLYkQ9B0VapbiY"
                        .into(),
                text: "123".into(),
                mentions_bot: true,
                reply_to: None,
            }
        );
    }

    #[test]
    fn c2c_messages_are_private() {
        let d = json!({
            "author": {"user_openid": "E4F4AEA33253A2797FB897C50B81D7ED"},
            "content": "办居住证要带什么",
            "id": "ROBOT1.0_.b6nx.CVryAO0nR58RXuU6SC.m92gc19j02qKqdm8ek!",
            "timestamp": "2023-11-06T13:37:18+08:00",
            "message_reference": {"message_id": "ROBOT1.0_earlier"}
        });
        let Dispatch::Message(incoming) = message(C2C_MESSAGE_CREATE, d).unwrap() else {
            panic!("not a message");
        };
        assert_eq!(
            incoming.chat,
            Chat::Private("E4F4AEA33253A2797FB897C50B81D7ED".into())
        );
        assert_eq!(incoming.sender, "E4F4AEA33253A2797FB897C50B81D7ED");
        assert_eq!(incoming.text, "办居住证要带什么");
        assert!(incoming.mentions_bot);
        assert_eq!(incoming.reply_to.as_deref(), Some("ROBOT1.0_earlier"));
    }

    #[test]
    fn other_events_and_bots_are_ignored() {
        let ignored = message("GROUP_ADD_ROBOT", json!({"group_openid": "G"})).unwrap();
        assert_eq!(
            ignored,
            Dispatch::Ignored {
                what: "GROUP_ADD_ROBOT".into()
            }
        );
        let from_bot = message(
            C2C_MESSAGE_CREATE,
            json!({"id": "m", "author": {"user_openid": "u", "bot": true}, "content": "x"}),
        )
        .unwrap();
        assert!(matches!(from_bot, Dispatch::Ignored { .. }));
    }

    #[test]
    fn broken_payloads_are_refused() {
        for body in [
            "{not json",
            "[]",
            r#"{"d": {}}"#,
            r#"{"op": "0"}"#,
            r#"{"op": 7, "d": {}}"#,
            r#"{"op": 0, "d": {}}"#,
            r#"{"op": 13, "d": {"plain_token": "x"}}"#,
            r#"{"op": 0, "t": "GROUP_AT_MESSAGE_CREATE", "d": "x"}"#,
            r#"{"op": 0, "t": "GROUP_AT_MESSAGE_CREATE", "d": {"id": "m", "author": {"member_openid": "u"}}}"#,
            r#"{"op": 0, "t": "GROUP_AT_MESSAGE_CREATE", "d": {"group_openid": "g", "author": {"member_openid": "u"}}}"#,
            r#"{"op": 0, "t": "C2C_MESSAGE_CREATE", "d": {"id": "m", "author": {}}}"#,
        ] {
            assert!(parse(body.as_bytes(), APP).is_err(), "{body}");
        }
    }

    #[test]
    fn validation_and_heartbeat() {
        let body =
            br#"{"d":{"plain_token":"Arq0D5A61EgUu4OxUvOp","event_ts":"1725442341"},"op":13}"#;
        assert_eq!(
            parse(body, APP).unwrap(),
            Payload::Validation {
                plain_token: "Arq0D5A61EgUu4OxUvOp".into(),
                event_ts: "1725442341".into()
            }
        );
        assert_eq!(
            parse(br#"{"op": 1, "d": 42}"#, APP).unwrap(),
            Payload::Heartbeat(json!(42))
        );
    }

    #[test]
    fn content_loses_tags() {
        assert_eq!(plain_text(" <@!ABC> 你好 <@DEF>"), "你好");
        assert_eq!(
            plain_text(r#"好<faceType=1,faceId="13",ext="eyJ0ZXh0Ijoi5ZGy54mZIn0=">的"#),
            "好的"
        );
        assert_eq!(plain_text("a < b &amp;&lt;3&gt;"), "a < b &<3>");
        assert_eq!(plain_text("<@unterminated"), "<@unterminated");
        assert_eq!(plain_text("  "), "");
    }

    #[test]
    fn attachments_only_get_a_placeholder() {
        let d = json!({
            "id": "m", "author": {"user_openid": "u"}, "content": "",
            "attachments": [{"content_type": "image/png", "url": "https://x/y.png"}]
        });
        let Dispatch::Message(incoming) = message(C2C_MESSAGE_CREATE, d).unwrap() else {
            panic!("not a message");
        };
        assert_eq!(incoming.text, "[图片]");
    }
}
