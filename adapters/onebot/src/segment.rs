//! Message segments, `{"type": ..., "data": {...}}`, and what the core needs from them.

use serde_json::{Map, Value};
use tracing::debug;

use crate::cq;
use crate::ids::id_of;

/// One piece of a OneBot v11 message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Segment {
    pub(crate) kind: String,
    pub(crate) data: Map<String, Value>,
}

impl Segment {
    pub(crate) fn text(text: &str) -> Segment {
        Segment::with("text", "text", text)
    }

    pub(crate) fn reply(message_id: &str) -> Segment {
        Segment::with("reply", "id", message_id)
    }

    pub(crate) fn at(user_id: &str) -> Segment {
        Segment::with("at", "qq", user_id)
    }

    fn with(kind: &str, key: &str, value: &str) -> Segment {
        let mut data = Map::new();
        data.insert(key.to_owned(), Value::from(value));
        Segment {
            kind: kind.to_owned(),
            data,
        }
    }

    /// A parameter as a string, whether the implementation sent a string or a number.
    pub(crate) fn str_param(&self, key: &str) -> Option<String> {
        match self.data.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    pub(crate) fn to_json(&self) -> Value {
        let mut object = Map::new();
        object.insert("type".to_owned(), Value::from(self.kind.as_str()));
        object.insert("data".to_owned(), Value::Object(self.data.clone()));
        Value::Object(object)
    }
}

/// The segments of an event's `message` field: an array of segments, a CQ string, or (seen in
/// the wild) a single segment object. Elements that are not segments are skipped.
pub(crate) fn from_message(message: &Value) -> Vec<Segment> {
    match message {
        Value::String(s) => cq::parse(s),
        Value::Array(items) => items.iter().filter_map(from_json).collect(),
        Value::Object(_) => from_json(message).into_iter().collect(),
        _ => Vec::new(),
    }
}

fn from_json(value: &Value) -> Option<Segment> {
    let kind = value.get("type").and_then(Value::as_str);
    let Some(kind) = kind else {
        debug!("skipping a message element that is not a segment");
        return None;
    };
    let data = match value.get("data") {
        Some(Value::Object(data)) => data.clone(),
        _ => Map::new(),
    };
    Some(Segment {
        kind: kind.to_owned(),
        data,
    })
}

/// What the core needs from a message's segments.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Digest {
    /// The text segments joined and trimmed; `[图片]` when that is empty and there is an image.
    pub(crate) text: String,
    /// Whether an `at` segment names `self_id`.
    pub(crate) mentions_self: bool,
    /// The id of the first `reply` segment.
    pub(crate) reply_to: Option<String>,
}

/// Placeholder text for a message that is only images.
pub(crate) const IMAGE_PLACEHOLDER: &str = "[图片]";

pub(crate) fn digest(segments: &[Segment], self_id: &str) -> Digest {
    let mut text = String::new();
    let mut digest = Digest::default();
    let mut has_image = false;
    for segment in segments {
        match segment.kind.as_str() {
            "text" => text.push_str(&segment.str_param("text").unwrap_or_default()),
            "at" => {
                let qq = segment.data.get("qq").and_then(id_of);
                digest.mentions_self |= qq.as_deref() == Some(self_id);
            }
            "reply" if digest.reply_to.is_none() => {
                digest.reply_to = segment.data.get("id").and_then(id_of);
            }
            "image" => has_image = true,
            _ => {}
        }
    }
    digest.text = text.trim().to_owned();
    if digest.text.is_empty() && has_image {
        digest.text = IMAGE_PLACEHOLDER.to_owned();
    }
    digest
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn array_messages_digest() {
        let message = json!([
            {"type": "reply", "data": {"id": 2001}},
            {"type": "at", "data": {"qq": 123456789}},
            {"type": "text", "data": {"text": " 老年卡要带什么 "}},
            {"type": "face", "data": {"id": "14"}},
            {"type": "image", "data": {"file": "a.jpg"}},
        ]);
        let digest = digest(&from_message(&message), "123456789");
        assert_eq!(
            digest,
            Digest {
                text: "老年卡要带什么".into(),
                mentions_self: true,
                reply_to: Some("2001".into()),
            }
        );
    }

    #[test]
    fn at_all_and_others_are_not_the_bot() {
        let message = json!([
            {"type": "at", "data": {"qq": "all"}},
            {"type": "at", "data": {"qq": "55"}},
            {"type": "text", "data": {"text": "开会"}},
        ]);
        let digest = digest(&from_message(&message), "123456789");
        assert!(!digest.mentions_self);
        assert_eq!(digest.text, "开会");
    }

    #[test]
    fn cq_string_messages_digest() {
        let message = json!("[CQ:at,qq=123456789]  社保卡&#91;急&#93; ");
        let digest = digest(&from_message(&message), "123456789");
        assert!(digest.mentions_self);
        assert_eq!(digest.text, "社保卡[急]");
    }

    #[test]
    fn image_only_gets_a_placeholder() {
        let message = json!([{"type": "at", "data": {"qq": "1"}}, {"type": "image", "data": {}}]);
        assert_eq!(digest(&from_message(&message), "1").text, IMAGE_PLACEHOLDER);
    }

    #[test]
    fn odd_shapes_are_tolerated() {
        assert_eq!(from_message(&json!(null)), vec![]);
        assert_eq!(
            from_message(&json!([1, "x", {"data": {}}, {"type": "text", "data": null}])),
            vec![Segment {
                kind: "text".into(),
                data: Map::new()
            }]
        );
        assert_eq!(
            from_message(&json!({"type": "text", "data": {"text": "hi"}})),
            vec![Segment::text("hi")]
        );
    }
}
