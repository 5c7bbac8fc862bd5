//! Action calls: building requests, reading responses, and what a failure means to the core.

use std::sync::atomic::{AtomicU64, Ordering};

use bangban_contract::{Chat, SendError};
use serde_json::{Map, Value, json};

use crate::cq;
use crate::ids::{id_of, id_param};
use crate::segment::Segment;

/// An action's response, as any implementation sends it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Response {
    /// The request's `echo`, whatever JSON type the implementation sent it back as.
    pub(crate) echo: Option<String>,
    /// `data` (JSON null when absent) on success, the failure otherwise.
    pub(crate) outcome: Result<Value, Failure>,
}

/// `status: "failed"` (or a non-zero `retcode`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Failure {
    pub(crate) retcode: i64,
    /// `message` or `wording`, whichever the implementation filled.
    pub(crate) message: String,
}

/// Why an action call did not succeed, whatever the transport.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CallError {
    #[error("account {0} is not connected")]
    NotConnected(String),
    #[error("could not hand the request to the connection")]
    NotSent,
    #[error("the connection closed before the response")]
    Closed,
    #[error("no response within {0:?}")]
    Timeout(std::time::Duration),
    #[error("HTTP API unreachable: {0}")]
    Unreachable(String),
    #[error("HTTP API failed after the request was sent: {0}")]
    Http(String),
    #[error("HTTP API refused the access token (HTTP {0})")]
    Unauthorized(u16),
    #[error("unreadable response: {0}")]
    BadResponse(String),
    #[error("retcode {}: {}", .0.retcode, .0.message)]
    Failed(Failure),
}

/// Retcodes that say the request itself is wrong, so sending it again fails again:
/// the spec's 1400 (bad request) and 1404 (no such action), go-cqhttp's 100 (bad params) and
/// 102 (no permission, muted). NapCat's 1200 is its catch-all for errors thrown while
/// handling, usually passing ones, so it stays retryable.
const PERMANENT_RETCODES: [i64; 4] = [100, 102, 1400, 1404];

impl From<CallError> for SendError {
    fn from(error: CallError) -> SendError {
        let reason = error.to_string();
        match error {
            CallError::Failed(failure) if PERMANENT_RETCODES.contains(&failure.retcode) => {
                SendError::Permanent { reason }
            }
            CallError::Failed(failure) => SendError::Retryable {
                // NapCat reports "Timeout: NTEvent ..." when QQ did not confirm in time; the
                // message often went out all the same.
                maybe_delivered: failure.message.to_lowercase().contains("timeout"),
                reason,
            },
            CallError::NotConnected(_)
            | CallError::NotSent
            | CallError::Unreachable(_)
            | CallError::Unauthorized(_) => SendError::Retryable {
                reason,
                maybe_delivered: false,
            },
            CallError::Closed
            | CallError::Timeout(_)
            | CallError::Http(_)
            | CallError::BadResponse(_) => SendError::Retryable {
                reason,
                maybe_delivered: true,
            },
        }
    }
}

/// A fresh `echo` for a request, unique within the process.
pub(crate) fn next_echo() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("bangban-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The text of a request frame for a WebSocket link.
pub(crate) fn request_frame(action: &str, params: &Value, echo: &str) -> String {
    /// Borrowed: `json!` would copy `params` into a new value first.
    #[derive(serde::Serialize)]
    struct Request<'a> {
        action: &'a str,
        params: &'a Value,
        echo: &'a str,
    }
    serde_json::to_string(&Request {
        action,
        params,
        echo,
    })
    .expect("a request of strings and JSON values serializes")
}

/// The echo as a string: a string as it is, any other JSON value in its JSON form.
pub(crate) fn echo_key(echo: &Value) -> Option<String> {
    match echo {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Reads a response object. Missing `status` is judged by `retcode`; missing `data` is null.
pub(crate) fn response(mut object: Map<String, Value>) -> Response {
    let echo = object.get("echo").and_then(echo_key);
    let retcode = object
        .get("retcode")
        .and_then(|r| r.as_i64().or_else(|| r.as_str()?.trim().parse().ok()));
    let status = object.get("status").and_then(Value::as_str);
    let ok = match status {
        Some("ok") | Some("async") => true,
        Some(_) => false,
        None => matches!(retcode, Some(0) | Some(1)),
    };
    let outcome = if ok {
        Ok(object.remove("data").unwrap_or(Value::Null))
    } else {
        let text = |key: &str| {
            object
                .get(key)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        Err(Failure {
            retcode: retcode.unwrap_or(-1),
            message: text("message")
                .or_else(|| text("wording"))
                .or_else(|| text("msg"))
                .unwrap_or_else(|| status.unwrap_or("failed").to_owned()),
        })
    };
    Response { echo, outcome }
}

/// `send_group_msg` / `send_private_msg` and its parameters for a text, quoting `quote` and
/// @-mentioning `mention` (in groups only: private chats have no mentions). The message is a
/// segment array, or a CQ string when `as_cq_string`.
pub(crate) fn send_text(
    chat: &Chat,
    text: &str,
    quote: Option<&str>,
    mention: Option<&str>,
    as_cq_string: bool,
) -> (&'static str, Value) {
    let mut segments = Vec::new();
    if let Some(id) = quote {
        segments.push(Segment::reply(id));
    }
    let mention = mention.filter(|_| matches!(chat, Chat::Group(_)));
    if let Some(user) = mention {
        segments.push(Segment::at(user));
    }
    if !text.is_empty() {
        // QQ renders an at-segment as "@name" glued to what follows.
        let spaced = mention.is_some() && !text.starts_with(char::is_whitespace);
        segments.push(Segment::text(&if spaced {
            format!(" {text}")
        } else {
            text.to_owned()
        }));
    }
    let message = if as_cq_string {
        Value::String(cq::render(&segments))
    } else {
        Value::Array(segments.iter().map(Segment::to_json).collect())
    };
    match chat {
        Chat::Group(id) => (
            "send_group_msg",
            json!({"group_id": id_param(id), "message": message}),
        ),
        Chat::Private(id) => (
            "send_private_msg",
            json!({"user_id": id_param(id), "message": message}),
        ),
    }
}

/// The sent message's id in a send response's `data`.
pub(crate) fn message_id(data: &Value) -> Option<String> {
    data.get("message_id").and_then(id_of)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(key: &str) -> Map<String, Value> {
        let all: Value = serde_json::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/onebot-v11.json"
        )))
        .unwrap();
        all[key].as_object().unwrap().clone()
    }

    #[test]
    fn napcat_and_spec_responses() {
        let napcat = response(fixture("send_group_msg_response_napcat"));
        assert_eq!(
            napcat.echo.as_deref(),
            Some("b66ec140-7b5c-41fe-9422-b1ee89e4f89b")
        );
        assert_eq!(
            message_id(napcat.outcome.as_ref().unwrap()).as_deref(),
            Some("1936658337")
        );
        let spec = response(fixture("send_group_msg_response_spec"));
        assert_eq!(spec.echo, None);
        assert_eq!(message_id(&spec.outcome.unwrap()).as_deref(), Some("1234"));
    }

    #[test]
    fn failures_carry_retcode_and_message() {
        let failed = response(fixture("send_failed_napcat"));
        let failure = failed.outcome.unwrap_err();
        assert_eq!(failure.retcode, 1200);
        assert!(failure.message.starts_with("Timeout"));
        let error = SendError::from(CallError::Failed(failure));
        assert!(matches!(
            error,
            SendError::Retryable {
                maybe_delivered: true,
                ..
            }
        ));
        assert!(error.reason().contains("1200"));
    }

    #[test]
    fn lenient_responses() {
        let r = |v: Value| response(v.as_object().unwrap().clone());
        // No data (delete_msg), numeric echo.
        let ok = r(json!({"status": "ok", "retcode": 0, "echo": 17}));
        assert_eq!(ok.echo.as_deref(), Some("17"));
        assert_eq!(ok.outcome, Ok(Value::Null));
        // Object echo, no status, string retcode.
        let failed = r(json!({"retcode": "1400", "wording": "bad", "echo": {"id": 1}}));
        assert_eq!(failed.echo.as_deref(), Some(r#"{"id":1}"#));
        let failure = failed.outcome.unwrap_err();
        assert_eq!((failure.retcode, failure.message.as_str()), (1400, "bad"));
        assert!(!SendError::from(CallError::Failed(failure)).is_retryable());
        assert_eq!(
            r(json!({"status": "async", "retcode": 1})).outcome,
            Ok(Value::Null)
        );
    }

    #[test]
    fn send_text_builds_reply_at_text() {
        let (action, params) = send_text(
            &Chat::Group("987654321".into()),
            "带身份证和户口本",
            Some("2002"),
            Some("345678901"),
            false,
        );
        assert_eq!(action, "send_group_msg");
        assert_eq!(
            params,
            json!({"group_id": 987654321, "message": [
                {"type": "reply", "data": {"id": "2002"}},
                {"type": "at", "data": {"qq": "345678901"}},
                {"type": "text", "data": {"text": " 带身份证和户口本"}},
            ]})
        );
        let (action, params) =
            send_text(&Chat::Private("42".into()), "好的", None, Some("42"), false);
        assert_eq!(action, "send_private_msg");
        assert_eq!(
            params,
            json!({"user_id": 42, "message": [{"type": "text", "data": {"text": "好的"}}]})
        );
    }

    #[test]
    fn send_text_as_cq_string() {
        let (_, params) = send_text(&Chat::Group("1".into()), "[急]", Some("9"), Some("2"), true);
        assert_eq!(
            params,
            json!({"group_id": 1, "message": "[CQ:reply,id=9][CQ:at,qq=2] &#91;急&#93;"})
        );
    }

    #[test]
    fn echoes_are_unique() {
        assert_ne!(next_echo(), next_echo());
    }
}
