//! Reading what an implementation sends: events (`post_type`) and action responses (`echo`).
//!
//! Parsing is lenient: ids may be numbers or strings, unknown fields are ignored, unknown event
//! types become [`EventFrame::Ignored`]. Only text that is not a JSON object is an error.

use bangban_contract::{Chat, Incoming, Platform};
use serde_json::{Map, Value};

use crate::action::{self, Response};
use crate::ids::id_of;
use crate::segment;

/// One frame from an implementation.
#[derive(Debug)]
pub(crate) enum Frame {
    Event(EventFrame),
    Response(Response),
}

/// An event, reduced to what the adapter acts on.
#[derive(Debug, PartialEq)]
pub(crate) enum EventFrame {
    /// A message from a person.
    Message(Incoming),
    /// `meta_event` `heartbeat`: `online` is `status.online` when the implementation gave it.
    Heartbeat {
        self_id: Option<String>,
        online: Option<bool>,
        interval_ms: Option<u64>,
    },
    /// `meta_event` `lifecycle`: `enable`, `disable` or `connect`.
    Lifecycle {
        self_id: Option<String>,
        sub_type: String,
    },
    /// Anything the core does not see: notices, requests, the bot's own messages, unknown types.
    Ignored {
        self_id: Option<String>,
        what: String,
    },
}

impl EventFrame {
    /// The bot account the event is for, when the implementation said.
    pub(crate) fn self_id(&self) -> Option<&str> {
        match self {
            EventFrame::Message(incoming) => Some(&incoming.account),
            EventFrame::Heartbeat { self_id, .. }
            | EventFrame::Lifecycle { self_id, .. }
            | EventFrame::Ignored { self_id, .. } => self_id.as_deref(),
        }
    }
}

/// Why a frame could not be read at all.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FrameError {
    #[error("not JSON: {0}")]
    NotJson(#[from] serde_json::Error),
    #[error("not a JSON object")]
    NotObject,
    #[error("neither an event (post_type) nor an action response (status/retcode/echo)")]
    Unrecognised,
}

/// Reads one frame. `default_self_id` is the account the connection belongs to, used when an
/// event does not carry `self_id`.
pub(crate) fn parse(text: &[u8], default_self_id: Option<&str>) -> Result<Frame, FrameError> {
    let value: Value = serde_json::from_slice(text)?;
    let Value::Object(object) = value else {
        return Err(FrameError::NotObject);
    };
    if object.contains_key("post_type") {
        return Ok(Frame::Event(event(&object, default_self_id)));
    }
    if ["status", "retcode", "echo"]
        .iter()
        .any(|k| object.contains_key(*k))
    {
        return Ok(Frame::Response(action::response(object)));
    }
    Err(FrameError::Unrecognised)
}

fn str_field<'a>(object: &'a Map<String, Value>, key: &str) -> &'a str {
    object.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Reads an event object (a frame with `post_type`).
pub(crate) fn event(object: &Map<String, Value>, default_self_id: Option<&str>) -> EventFrame {
    let self_id = object
        .get("self_id")
        .and_then(id_of)
        .or_else(|| default_self_id.map(str::to_owned));
    let post_type = str_field(object, "post_type");
    match post_type {
        "message" => match message(object, self_id.as_deref()) {
            Ok(incoming) => EventFrame::Message(incoming),
            Err(what) => EventFrame::Ignored { self_id, what },
        },
        "meta_event" => match str_field(object, "meta_event_type") {
            "heartbeat" => {
                let status = object.get("status");
                EventFrame::Heartbeat {
                    self_id,
                    online: status
                        .and_then(|s| s.get("online"))
                        .and_then(Value::as_bool),
                    interval_ms: object.get("interval").and_then(Value::as_u64),
                }
            }
            "lifecycle" => EventFrame::Lifecycle {
                self_id,
                sub_type: str_field(object, "sub_type").to_owned(),
            },
            other => EventFrame::Ignored {
                self_id,
                what: format!("meta_event {other:?}"),
            },
        },
        "message_sent" => EventFrame::Ignored {
            self_id,
            what: "message_sent (the bot's own message)".to_owned(),
        },
        other => EventFrame::Ignored {
            self_id,
            what: format!("post_type {other:?}"),
        },
    }
}

/// A `message` event as [`Incoming`], or why it is not one.
fn message(object: &Map<String, Value>, self_id: Option<&str>) -> Result<Incoming, String> {
    let self_id = self_id.ok_or("message without self_id")?;
    let sender = object
        .get("user_id")
        .and_then(id_of)
        .or_else(|| object.get("sender")?.get("user_id").and_then(id_of))
        .ok_or("message without user_id")?;
    if sender == self_id {
        return Err("the bot's own message".to_owned());
    }
    let message_id = object
        .get("message_id")
        .and_then(id_of)
        .ok_or("message without message_id")?;
    let message_type = str_field(object, "message_type");
    let chat = match message_type {
        "group" => Chat::Group(
            object
                .get("group_id")
                .and_then(id_of)
                .ok_or("group message without group_id")?,
        ),
        "private" => Chat::Private(sender.clone()),
        other => return Err(format!("message_type {other:?}")),
    };
    // `message` is the spec's field; `raw_message` (a CQ string) is the fallback.
    let body = object
        .get("message")
        .filter(|m| !m.is_null())
        .or_else(|| object.get("raw_message"))
        .unwrap_or(&Value::Null);
    let digest = segment::digest(&segment::from_message(body), self_id);
    let sender_info = object.get("sender");
    let name = |key: &str| {
        sender_info
            .and_then(|s| s.get(key))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    Ok(Incoming {
        platform: Platform::Onebot,
        account: self_id.to_owned(),
        mentions_bot: digest.mentions_self || matches!(chat, Chat::Private(_)),
        chat,
        sender,
        sender_name: name("card").or_else(|| name("nickname")),
        message_id,
        text: digest.text,
        reply_to: digest.reply_to,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event_of(value: Value) -> EventFrame {
        match parse(value.to_string().as_bytes(), None).unwrap() {
            Frame::Event(event) => event,
            Frame::Response(r) => panic!("not an event: {r:?}"),
        }
    }

    #[test]
    fn group_message_with_string_ids() {
        let event = event_of(json!({
            "post_type": "message", "message_type": "group", "self_id": "10001",
            "message_id": "-2147483000", "user_id": "20002", "group_id": "30003",
            "message": "[CQ:reply,id=99][CQ:at,qq=10001]养老认证手机上能做吗",
            "sender": {"nickname": "老张", "card": ""}, "unknown_field": {"x": 1}
        }));
        assert_eq!(
            event,
            EventFrame::Message(Incoming {
                platform: Platform::Onebot,
                account: "10001".into(),
                chat: Chat::Group("30003".into()),
                sender: "20002".into(),
                sender_name: Some("老张".into()),
                message_id: "-2147483000".into(),
                text: "养老认证手机上能做吗".into(),
                mentions_bot: true,
                reply_to: Some("99".into()),
            })
        );
    }

    #[test]
    fn private_messages_are_addressed() {
        let event = event_of(json!({
            "post_type": "message", "message_type": "private", "sub_type": "friend",
            "self_id": 1, "message_id": 5, "user_id": 2,
            "message": [{"type": "text", "data": {"text": "你好"}}]
        }));
        let EventFrame::Message(incoming) = event else {
            panic!("{event:?}")
        };
        assert_eq!(incoming.chat, Chat::Private("2".into()));
        assert!(incoming.mentions_bot);
        assert_eq!(incoming.sender_name, None);
    }

    #[test]
    fn raw_message_is_the_fallback() {
        let event = event_of(json!({
            "post_type": "message", "message_type": "group", "self_id": 1,
            "message_id": 5, "user_id": 2, "group_id": 3, "raw_message": "问一下"
        }));
        let EventFrame::Message(incoming) = event else {
            panic!("{event:?}")
        };
        assert_eq!(incoming.text, "问一下");
    }

    #[test]
    fn own_and_odd_messages_are_ignored() {
        for value in [
            json!({"post_type": "message_sent", "message_type": "group", "self_id": 1,
                   "user_id": 1, "group_id": 3, "message_id": 9, "message": "hi"}),
            json!({"post_type": "message", "message_type": "group", "self_id": 1,
                   "user_id": 1, "group_id": 3, "message_id": 9, "message": "hi"}),
            json!({"post_type": "message", "message_type": "guild", "self_id": 1,
                   "user_id": 2, "message_id": 9, "message": "hi"}),
            json!({"post_type": "message", "message_type": "group", "self_id": 1,
                   "user_id": 2, "message_id": 9, "message": "no group"}),
            json!({"post_type": "notice", "notice_type": "group_increase", "self_id": 1}),
            json!({"post_type": "something_new", "self_id": 1}),
            json!({"post_type": "meta_event", "meta_event_type": "new_kind", "self_id": 1}),
        ] {
            assert!(
                matches!(event_of(value.clone()), EventFrame::Ignored { .. }),
                "{value}"
            );
        }
    }

    #[test]
    fn meta_events() {
        assert_eq!(
            event_of(
                json!({"post_type": "meta_event", "meta_event_type": "heartbeat",
                "self_id": 7, "status": {"online": false, "good": true}, "interval": 5000})
            ),
            EventFrame::Heartbeat {
                self_id: Some("7".into()),
                online: Some(false),
                interval_ms: Some(5000)
            }
        );
        assert_eq!(
            event_of(
                json!({"post_type": "meta_event", "meta_event_type": "lifecycle",
                "self_id": "7", "sub_type": "connect"})
            ),
            EventFrame::Lifecycle {
                self_id: Some("7".into()),
                sub_type: "connect".into()
            }
        );
    }

    #[test]
    fn the_connection_account_fills_a_missing_self_id() {
        let frame = parse(
            br#"{"post_type":"meta_event","meta_event_type":"heartbeat","status":null}"#,
            Some("42"),
        )
        .unwrap();
        let Frame::Event(event) = frame else { panic!() };
        assert_eq!(event.self_id(), Some("42"));
    }

    #[test]
    fn bad_frames_are_errors_not_panics() {
        assert!(matches!(parse(b"{nope", None), Err(FrameError::NotJson(_))));
        assert!(matches!(parse(b"[1,2]", None), Err(FrameError::NotObject)));
        assert!(matches!(
            parse(b"{\"a\":1}", None),
            Err(FrameError::Unrecognised)
        ));
        assert!(matches!(
            parse(&[0xff, 0xfe], None),
            Err(FrameError::NotJson(_))
        ));
    }
}
