//! The OpenAPI's message endpoints and what their answers mean.
//!
//! `POST {api_base}/v2/groups/{group_openid}/messages` or `/v2/users/{openid}/messages` with
//! `Authorization: QQBot {access_token}` and `{"content", "msg_type": 0, "msg_id", "msg_seq"}`
//! answers `{"id", "timestamp"}`. Failures carry an HTTP status and, in the body,
//! `{"code" or "err_code", "message", "trace_id"}`; some come with HTTP 200.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use serde_json::Value;

/// How long the bot waits after a rate limit when the platform does not say.
pub(crate) const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(2);

/// Codes saying the message replied to can take no more replies: its window passed, its
/// replies are used, or the platform does not take it as a reply target (which it then
/// treats as an unprompted message, refused since 2025-04-21).
const PASSIVE_WINDOW_CODES: &[i64] = &[
    40034005, // 回复消息msg_id已过期
    40034031, // msgid已经过期,不能回复
    40034024, // 请求参数msg_id无效或越权
    40034128, // 被动回复时间或次数超限
    40034102, // 主动消息失败, 无权限
    40034105, // 主动消息发送失败, 无权限
    304103,   // 消息ID已过期, 不能回复
    304026,   // MSG_ID 回复的消息 id 错误
    304027,   // MSG_EXPIRE 回复的消息过期
];

/// Codes asking the bot to slow down.
const RATE_LIMIT_CODES: &[i64] = &[
    22009,   // msg limit exceed 消息发送超频
    20028,   // ChannelHitWriteRateLimit
    304045,  // 子频道主动消息数限频
    304049,  // 私信主动消息数限频
    304050,  // 私信主动消息总量限频
    1100100, // 安全打击: 消息被限频
    1100308, // 触发频道内限频
];

/// Codes of passing system errors ("一般重试一次会好").
const PASSING_CODES: &[i64] = &[11242, 11252, 11263, 11281, 304082, 304083, 1100300];

/// Accepted, pending a manual review (PUSH_MSG_ASYNC_OK, REPLY_MSG_ASYNC_OK).
const ACCEPTED_CODES: &[i64] = &[304023, 304024];

/// The message was dropped as a repeat of an `msg_id` + `msg_seq` already sent.
const DUPLICATE_CODE: i64 = 40054005;

/// How a message call went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The platform took the message; its id if it named one.
    Sent(Option<String>),
    /// HTTP 401: the access token was refused.
    Unauthorized,
    /// The replied-to message takes no more replies.
    WindowClosed(String),
    RateLimited {
        reason: String,
        retry_after: Duration,
    },
    /// A passing failure.
    Retryable {
        reason: String,
        maybe_delivered: bool,
    },
    /// The platform refused the message for good.
    Permanent(String),
}

/// Posts `body` to `url` with `token`.
pub(crate) async fn post(
    client: &reqwest::Client,
    url: Url,
    app_id: &str,
    token: &str,
    body: String,
    timeout: Duration,
) -> Outcome {
    let request = client
        .post(url)
        .header(AUTHORIZATION, format!("QQBot {token}"))
        .header("X-Union-Appid", app_id)
        .header(CONTENT_TYPE, "application/json")
        .body(body)
        .timeout(timeout);
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) => return transport_failure(error),
    };
    let status = response.status();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let trace_id = response
        .headers()
        .get("x-tps-trace-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = match response.bytes().await {
        Ok(bytes) => bytes,
        Err(error) => return transport_failure(error),
    };
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    classify(status, &body, retry_after, trace_id.as_deref())
}

fn transport_failure(error: reqwest::Error) -> Outcome {
    let error = error.without_url();
    // A request that could not connect never reached the platform; after that, a timeout or
    // a lost connection may have come after the platform took the message.
    let maybe_delivered = !(error.is_connect() || error.is_builder());
    let what = if error.is_timeout() {
        "timed out".to_owned()
    } else {
        error.to_string()
    };
    Outcome::Retryable {
        reason: format!("QQ OpenAPI call failed: {what}"),
        maybe_delivered,
    }
}

/// What an answer means.
pub(crate) fn classify(
    status: StatusCode,
    body: &Value,
    retry_after: Option<Duration>,
    trace_id: Option<&str>,
) -> Outcome {
    let code = body
        .get("code")
        .or_else(|| body.get("err_code"))
        .and_then(|c| c.as_i64().or_else(|| c.as_str()?.trim().parse().ok()))
        .filter(|&c| c != 0);
    let id = body
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    if status.is_success() && code.is_none() {
        return Outcome::Sent(id);
    }
    if status == StatusCode::UNAUTHORIZED {
        return Outcome::Unauthorized;
    }
    let message: String = body
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("")
        .chars()
        .take(200)
        .collect();
    let trace_id = body
        .get("trace_id")
        .and_then(Value::as_str)
        .or(trace_id)
        .unwrap_or("none");
    let reason = format!(
        "QQ OpenAPI HTTP {}, code {}, {message:?}, trace {trace_id}",
        status.as_u16(),
        code.map_or("none".to_owned(), |c| c.to_string()),
    );
    match code {
        Some(c) if ACCEPTED_CODES.contains(&c) => return Outcome::Sent(id),
        Some(c) if PASSIVE_WINDOW_CODES.contains(&c) => return Outcome::WindowClosed(reason),
        Some(c) if RATE_LIMIT_CODES.contains(&c) => {
            return Outcome::RateLimited {
                reason,
                retry_after: retry_after.unwrap_or(DEFAULT_RETRY_AFTER),
            };
        }
        Some(c) if PASSING_CODES.contains(&c) => {
            return Outcome::Retryable {
                reason,
                maybe_delivered: false,
            };
        }
        Some(DUPLICATE_CODE) => {
            // The same msg_id + msg_seq already went out: this message may be there.
            return Outcome::Retryable {
                reason,
                maybe_delivered: true,
            };
        }
        _ => {}
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Outcome::RateLimited {
            reason,
            retry_after: retry_after.unwrap_or(DEFAULT_RETRY_AFTER),
        };
    }
    if status.is_server_error() {
        return Outcome::Retryable {
            reason,
            // A 503 turned the request away; other server errors may come after the message
            // was taken.
            maybe_delivered: status != StatusCode::SERVICE_UNAVAILABLE,
        };
    }
    Outcome::Permanent(reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn of(status: u16, body: Value) -> Outcome {
        classify(StatusCode::from_u16(status).unwrap(), &body, None, None)
    }

    #[test]
    fn successes() {
        assert_eq!(
            of(200, json!({"id": "M1", "timestamp": 1700000000})),
            Outcome::Sent(Some("M1".into()))
        );
        assert_eq!(of(200, json!({})), Outcome::Sent(None));
        assert_eq!(
            of(
                202,
                json!({"code": 304024, "message": "REPLY_MSG_ASYNC_OK"})
            ),
            Outcome::Sent(None)
        );
    }

    #[test]
    fn passive_window_errors() {
        for code in [40034005, 40034024, 40034128, 304027] {
            let outcome = of(
                400,
                json!({"err_code": code, "message": "回复消息msg_id已过期"}),
            );
            assert!(
                matches!(outcome, Outcome::WindowClosed(_)),
                "{code}: {outcome:?}"
            );
        }
        // Also when the platform answers HTTP 200 with an error body.
        assert!(matches!(
            of(200, json!({"code": 40034005, "message": "x"})),
            Outcome::WindowClosed(_)
        ));
    }

    #[test]
    fn rate_limits() {
        assert_eq!(
            classify(
                StatusCode::TOO_MANY_REQUESTS,
                &json!({"code": 1}),
                Some(Duration::from_secs(7)),
                None
            ),
            Outcome::RateLimited {
                reason: "QQ OpenAPI HTTP 429, code 1, \"\", trace none".into(),
                retry_after: Duration::from_secs(7)
            }
        );
        match of(
            400,
            json!({"code": 22009, "message": "msg limit exceed", "trace_id": "t1"}),
        ) {
            Outcome::RateLimited {
                reason,
                retry_after,
            } => {
                assert_eq!(retry_after, DEFAULT_RETRY_AFTER);
                assert!(
                    reason.contains("22009") && reason.contains("t1"),
                    "{reason}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn server_errors_and_refusals() {
        assert_eq!(of(401, json!({"code": 11244})), Outcome::Unauthorized);
        assert!(matches!(
            of(500, json!({})),
            Outcome::Retryable {
                maybe_delivered: true,
                ..
            }
        ));
        assert!(matches!(
            of(503, Value::Null),
            Outcome::Retryable {
                maybe_delivered: false,
                ..
            }
        ));
        assert!(matches!(
            of(400, json!({"code": 11281})),
            Outcome::Retryable {
                maybe_delivered: false,
                ..
            }
        ));
        assert!(matches!(
            of(400, json!({"code": 40054005, "message": "消息被去重"})),
            Outcome::Retryable {
                maybe_delivered: true,
                ..
            }
        ));
        for (status, body) in [
            (400, json!({"code": 11255, "message": "invalid request"})),
            (404, json!({"code": 10003})),
            (400, json!({"code": "40054010", "message": "不允许发送URL"})),
            (403, Value::Null),
        ] {
            let outcome = of(status, body);
            assert!(matches!(outcome, Outcome::Permanent(_)), "{outcome:?}");
        }
    }
}
