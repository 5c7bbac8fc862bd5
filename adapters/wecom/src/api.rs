//! The outgoing HTTP calls: the app message API (with its access token), the group-robot
//! webhooks and the AI bot's `response_url`s, and how their failures map to [`SendError`].

use std::time::{Duration, SystemTime};

use bangban_contract::SendError;
use reqwest::{StatusCode, Url};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tracing::debug;

use crate::clock::Clock;
use crate::config::{AppConfig, WeComConfig};

/// The most bytes (UTF-8) of a group robot's text message.
pub const ROBOT_TEXT_MAX_BYTES: usize = 2048;
/// The most bytes (UTF-8) of a group robot's markdown message.
pub const ROBOT_MARKDOWN_MAX_BYTES: usize = 4096;
/// The most messages one group robot may send a minute; the core paces to it.
pub const ROBOT_PER_MINUTE: u32 = 20;
/// The most bytes of an app text message (WeCom truncates longer ones; the adapter refuses them).
pub const APP_TEXT_MAX_BYTES: usize = 2048;
/// The most bytes of an AI bot markdown reply (the limit of its stream and markdown content).
pub const AIBOT_MARKDOWN_MAX_BYTES: usize = 20480;
/// How long before its expiry an access token is refreshed.
pub const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);
/// How long the core should wait after WeCom's 45009 (a frequency limit, counted per minute)
/// when the answer names no delay.
pub const RATE_LIMIT_RETRY_AFTER: Duration = Duration::from_secs(60);

/// `errcode`s meaning the access token is invalid (40014) or expired (42001).
const TOKEN_ERRCODES: [i64; 2] = [40014, 42001];
/// `errcode`s of a passing trouble, not a refusal: -1 (busy), 45009 and 45033 (rate limits).
const PASSING_ERRCODES: [i64; 3] = [-1, 45009, 45033];
/// The `errcode` of a call from an address not in the app's 企业可信IP ("not allow to access
/// from your ip"): `gettoken` still works, every call with the token is refused.
pub(crate) const IP_ERRCODE: i64 = 60020;
/// The robot webhook's `errcode` for a key it does not know (`invalid webhook url`: a wrong
/// key, or the robot was removed from its group).
const ROBOT_KEY_ERRCODE: i64 = 93000;

/// Why a call failed.
#[derive(Debug)]
pub(crate) enum CallError {
    /// WeCom refuses what the account sends with: `gettoken` the app's corp id or secret, the
    /// app API the server's address (60020, `from_ip` the address WeCom saw), or a robot
    /// webhook its key. Nothing was delivered, and nothing will be until that is fixed.
    Refused {
        errcode: i64,
        reason: String,
        from_ip: Option<String>,
    },
    /// Anything else, as the core sees it.
    Send(SendError),
}

impl From<SendError> for CallError {
    fn from(error: SendError) -> CallError {
        CallError::Send(error)
    }
}

struct AccessToken {
    value: String,
    refresh_at: SystemTime,
}

pub(crate) struct Api {
    client: reqwest::Client,
    api_base: Url,
    webhook_base: Url,
    /// The app's cached token. The lock is held while fetching, so concurrent sends wait for
    /// one `gettoken` instead of each asking.
    token: Mutex<Option<AccessToken>>,
}

/// A WeCom JSON answer: `errcode` 0 or the error.
enum Answer {
    Ok(Value),
    Error { errcode: i64, errmsg: String },
}

impl Api {
    pub(crate) fn new(config: &WeComConfig) -> Result<Api, String> {
        let client = reqwest::Client::builder()
            .timeout(config.action_timeout)
            .connect_timeout(config.action_timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Api {
            client,
            api_base: base_url(&config.api_base)?,
            webhook_base: base_url(&config.webhook_base)?,
            token: Mutex::new(None),
        })
    }

    /// Sends `text` to `user` as the app (`message/send`), refreshing the token once and
    /// sending once more when WeCom says it expired.
    pub(crate) async fn send_app_text(
        &self,
        app: &AppConfig,
        clock: &dyn Clock,
        user: &str,
        text: &str,
    ) -> Result<Option<String>, CallError> {
        if text.len() > APP_TEXT_MAX_BYTES {
            return Err(too_long("app text", text.len(), APP_TEXT_MAX_BYTES).into());
        }
        let body = json!({
            "touser": user,
            "msgtype": "text",
            "agentid": app.agent_id,
            "text": {"content": text},
            "safe": 0,
        });
        let token = self.token(app, clock, None).await?;
        let answer = match self.post_message(&token, &body).await? {
            Answer::Error { errcode, .. } if TOKEN_ERRCODES.contains(&errcode) => {
                debug!(errcode, "WeCom access token refused; fetching a new one");
                let token = self.token(app, clock, Some(&token)).await?;
                self.post_message(&token, &body).await?
            }
            answer => answer,
        };
        match answer {
            Answer::Ok(data) => {
                let invalid = data
                    .get("invaliduser")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if invalid.split('|').any(|u| u == user) {
                    return Err(CallError::Send(SendError::Permanent {
                        reason: "WeCom message/send: the user is not in the app's visible range"
                            .into(),
                    }));
                }
                Ok(data
                    .get("msgid")
                    .and_then(Value::as_str)
                    .filter(|id| !id.is_empty())
                    .map(str::to_owned))
            }
            Answer::Error { errcode, errmsg } if errcode == IP_ERRCODE => {
                Err(ip_refused("WeCom message/send", &errmsg))
            }
            Answer::Error { errcode, errmsg } => Err(CallError::Send(errcode_error(
                "WeCom message/send",
                errcode,
                &errmsg,
            ))),
        }
    }

    /// Asks WeCom whether it accepts the app's credentials again: an access token (kept for
    /// the next send), and with `address` (the refusal was 60020) also a call with it that
    /// posts nothing — `agent/get`, reading the app itself, which WeCom refuses from an
    /// address outside the app's 企业可信IP. Any answer but 60020 means the address passes.
    pub(crate) async fn check_app(
        &self,
        app: &AppConfig,
        clock: &dyn Clock,
        address: bool,
    ) -> Result<(), CallError> {
        let token = self.token(app, clock, None).await?;
        if !address {
            return Ok(());
        }
        let mut url = self.api_url("cgi-bin/agent/get")?;
        url.query_pairs_mut()
            .append_pair("access_token", &token)
            .append_pair("agentid", &app.agent_id.to_string());
        let response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| http_error("WeCom agent/get", e))?;
        match read_answer("WeCom agent/get", response).await? {
            Answer::Error { errcode, errmsg } if errcode == IP_ERRCODE => {
                Err(ip_refused("WeCom agent/get", &errmsg))
            }
            _ => Ok(()),
        }
    }

    async fn post_message(&self, token: &str, body: &Value) -> Result<Answer, SendError> {
        let mut url = self.api_url("cgi-bin/message/send")?;
        url.query_pairs_mut().append_pair("access_token", token);
        self.post_json("WeCom message/send", url, body).await
    }

    /// The app's access token: the cached one unless it is due for refresh, or is `stale`
    /// (the token WeCom just refused), in which case a new one is fetched.
    async fn token(
        &self,
        app: &AppConfig,
        clock: &dyn Clock,
        stale: Option<&str>,
    ) -> Result<String, CallError> {
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref() {
            let refused = stale == Some(token.value.as_str());
            if !refused && clock.now() < token.refresh_at {
                return Ok(token.value.clone());
            }
        }
        *cached = None;
        let mut url = self.api_url("cgi-bin/gettoken")?;
        url.query_pairs_mut()
            .append_pair("corpid", app.corp_id.trim())
            .append_pair("corpsecret", app.corp_secret.trim());
        let response = self
            .client
            .get(url)
            .send()
            .await
            // Nothing was sent yet: whatever happened to gettoken, the message was not delivered.
            .map_err(|e| not_delivered(http_error("WeCom gettoken", e)))?;
        let answer = read_answer("WeCom gettoken", response)
            .await
            .map_err(not_delivered)?;
        let data = match answer {
            Answer::Ok(data) => data,
            Answer::Error { errcode, errmsg } => {
                let error = not_delivered(errcode_error("WeCom gettoken", errcode, &errmsg));
                if PASSING_ERRCODES.contains(&errcode) {
                    return Err(error.into());
                }
                if errcode == IP_ERRCODE {
                    return Err(ip_refused("WeCom gettoken", &errmsg));
                }
                debug!(
                    errcode,
                    "WeCom gettoken refused the corp id or the app secret"
                );
                return Err(CallError::Refused {
                    errcode,
                    reason: error.reason().to_owned(),
                    from_ip: None,
                });
            }
        };
        let value = data
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| SendError::Retryable {
                reason: "WeCom gettoken answered without an access_token".into(),
                maybe_delivered: false,
            })?
            .to_owned();
        let expires_in = data
            .get("expires_in")
            .and_then(Value::as_u64)
            .unwrap_or(7200);
        let lifetime = Duration::from_secs(expires_in).saturating_sub(TOKEN_REFRESH_MARGIN);
        *cached = Some(AccessToken {
            value: value.clone(),
            refresh_at: clock.now() + lifetime,
        });
        Ok(value)
    }

    /// Posts `text` to the group robot with webhook `key`, @-mentioning `mention` if given.
    pub(crate) async fn send_robot_text(
        &self,
        key: &str,
        text: &str,
        mention: Option<&str>,
    ) -> Result<(), CallError> {
        if text.len() > ROBOT_TEXT_MAX_BYTES {
            return Err(too_long("robot text", text.len(), ROBOT_TEXT_MAX_BYTES).into());
        }
        let mut content = json!({"content": text});
        if let Some(user) = mention.filter(|m| !m.is_empty()) {
            content["mentioned_list"] = json!([user]);
        }
        let body = json!({"msgtype": "text", "text": content});
        match self.post_robot(key, &body).await? {
            Answer::Ok(_) => Ok(()),
            Answer::Error { errcode, errmsg } => Err(robot_error(errcode, &errmsg)),
        }
    }

    /// Asks the robot webhook whether it knows `key`, posting nothing to the group: a text
    /// message with empty content, which WeCom refuses (errcode 44004) for a key it knows and
    /// answers 93000 for one it does not. Any answer but 93000 means the key is accepted.
    pub(crate) async fn check_robot(&self, key: &str) -> Result<(), CallError> {
        let body = json!({"msgtype": "text", "text": {"content": ""}});
        match self.post_robot(key, &body).await? {
            Answer::Error { errcode, errmsg } if errcode == ROBOT_KEY_ERRCODE => {
                Err(robot_error(errcode, &errmsg))
            }
            _ => Ok(()),
        }
    }

    async fn post_robot(&self, key: &str, body: &Value) -> Result<Answer, SendError> {
        let mut url = self
            .webhook_base
            .join("cgi-bin/webhook/send")
            .map_err(|e| permanent(format!("the webhook base URL: {e}")))?;
        url.query_pairs_mut().append_pair("key", key.trim());
        self.post_json("WeCom robot webhook", url, body).await
    }

    /// Posts `text` as markdown to an AI bot `response_url`.
    pub(crate) async fn send_response_url(&self, url: &str, text: &str) -> Result<(), SendError> {
        if text.len() > AIBOT_MARKDOWN_MAX_BYTES {
            return Err(too_long(
                "AI bot reply",
                text.len(),
                AIBOT_MARKDOWN_MAX_BYTES,
            ));
        }
        let url = Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| permanent("the message's response_url is not an http(s) URL".into()))?;
        let body = json!({"msgtype": "markdown", "markdown": {"content": text}});
        match self.post_json("WeCom response_url", url, &body).await? {
            Answer::Ok(_) => Ok(()),
            Answer::Error { errcode, errmsg } => {
                Err(errcode_error("WeCom response_url", errcode, &errmsg))
            }
        }
    }

    async fn post_json(&self, what: &str, url: Url, body: &Value) -> Result<Answer, SendError> {
        let response = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| http_error(what, e))?;
        read_answer(what, response).await
    }

    fn api_url(&self, path: &str) -> Result<Url, SendError> {
        self.api_base
            .join(path)
            .map_err(|e| permanent(format!("the API base URL: {e}")))
    }
}

/// `base` with a trailing slash, so that joining `cgi-bin/…` keeps its path.
fn base_url(base: &str) -> Result<Url, String> {
    let mut url = Url::parse(base.trim()).map_err(|e| e.to_string())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("not an http(s) URL".into());
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// Reads WeCom's `{"errcode": …, "errmsg": …}` answer.
async fn read_answer(what: &str, response: reqwest::Response) -> Result<Answer, SendError> {
    let status = response.status();
    if status == StatusCode::TOO_MANY_REQUESTS {
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
            .map(Duration::from_secs)
            .unwrap_or(RATE_LIMIT_RETRY_AFTER);
        return Err(SendError::RateLimited {
            reason: format!("{what}: HTTP 429"),
            retry_after,
        });
    }
    if status.is_server_error() {
        return Err(SendError::Retryable {
            reason: format!("{what}: HTTP {}", status.as_u16()),
            maybe_delivered: true,
        });
    }
    if !status.is_success() {
        return Err(permanent(format!("{what}: HTTP {}", status.as_u16())));
    }
    let body = response.bytes().await.map_err(|e| http_error(what, e))?;
    let value: Value = serde_json::from_slice(&body).map_err(|_| SendError::Retryable {
        reason: format!("{what}: the answer is not JSON"),
        maybe_delivered: true,
    })?;
    match value.get("errcode").map(Value::as_i64) {
        Some(Some(0)) | None if value.is_object() => Ok(Answer::Ok(value)),
        Some(Some(errcode)) => Ok(Answer::Error {
            errcode,
            errmsg: value
                .get("errmsg")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
        }),
        _ => Err(SendError::Retryable {
            reason: format!("{what}: the answer has no errcode"),
            maybe_delivered: true,
        }),
    }
}

/// Classifies a WeCom `errcode`: -1 (system busy) may be retried, 45009 (frequency limit) and
/// 45033 (too many concurrent calls) are rate limits, anything else is refused.
pub(crate) fn errcode_error(what: &str, errcode: i64, errmsg: &str) -> SendError {
    // errmsg names the error and a hint id, never the request's secrets; keep it short anyway.
    let errmsg: String = errmsg
        .split(", hint")
        .next()
        .unwrap_or("")
        .chars()
        .take(120)
        .collect();
    let reason = format!("{what}: errcode {errcode} {errmsg}")
        .trim_end()
        .to_owned();
    match errcode {
        -1 => SendError::Retryable {
            reason,
            maybe_delivered: false,
        },
        45009 => SendError::RateLimited {
            reason,
            retry_after: RATE_LIMIT_RETRY_AFTER,
        },
        45033 => SendError::RateLimited {
            reason,
            retry_after: Duration::from_secs(1),
        },
        _ => SendError::Permanent { reason },
    }
}

/// A robot webhook's `errcode`: 93000 is its key refused, the others as [`errcode_error`].
fn robot_error(errcode: i64, errmsg: &str) -> CallError {
    let error = errcode_error("WeCom robot webhook", errcode, errmsg);
    if errcode == ROBOT_KEY_ERRCODE {
        CallError::Refused {
            errcode,
            reason: error.reason().to_owned(),
            from_ip: None,
        }
    } else {
        CallError::Send(error)
    }
}

/// WeCom refuses the server's address (60020); its `errmsg` names the address it saw
/// (`…, hint: […], from ip: 203.0.113.7, more info at …`).
fn ip_refused(what: &str, errmsg: &str) -> CallError {
    CallError::Refused {
        errcode: IP_ERRCODE,
        reason: errcode_error(what, IP_ERRCODE, errmsg).reason().to_owned(),
        from_ip: from_ip(errmsg),
    }
}

/// The address in a WeCom `errmsg`'s `from ip: …`, if it names one.
pub(crate) fn from_ip(errmsg: &str) -> Option<String> {
    let (_, rest) = errmsg.split_once("from ip:")?;
    let ip: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_hexdigit() || matches!(c, '.' | ':'))
        .take(45)
        .collect();
    ip.parse::<std::net::IpAddr>().ok().map(|ip| ip.to_string())
}

fn http_error(what: &str, error: reqwest::Error) -> SendError {
    // Without the URL: it carries the access token, the robot key or the response code.
    let error = error.without_url();
    if error.is_builder() {
        return permanent(format!("{what}: {error}"));
    }
    SendError::Retryable {
        reason: format!("{what}: {error}"),
        // A connection that was never made carried nothing; after that, anything may have.
        maybe_delivered: !error.is_connect(),
    }
}

fn not_delivered(error: SendError) -> SendError {
    match error {
        SendError::Retryable { reason, .. } => SendError::Retryable {
            reason,
            maybe_delivered: false,
        },
        other => other,
    }
}

fn permanent(reason: String) -> SendError {
    SendError::Permanent { reason }
}

fn too_long(what: &str, bytes: usize, max: usize) -> SendError {
    permanent(format!(
        "{what} of {bytes} bytes is over WeCom's {max}-byte limit (the core splits)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errcodes_are_classified() {
        assert!(matches!(
            errcode_error("x", -1, "system busy"),
            SendError::Retryable {
                maybe_delivered: false,
                ..
            }
        ));
        assert_eq!(
            errcode_error(
                "x",
                45009,
                "api freq out of limit, hint: [1], from ip: 1.2.3.4"
            ),
            SendError::RateLimited {
                reason: "x: errcode 45009 api freq out of limit".into(),
                retry_after: RATE_LIMIT_RETRY_AFTER,
            }
        );
        assert!(matches!(
            errcode_error("x", 81013, "user & party & tag all invalid"),
            SendError::Permanent { .. }
        ));
    }

    #[test]
    fn the_address_wecom_refuses_is_read_from_its_errmsg() {
        let errmsg = "not allow to access from your ip, hint: [1787373915], from ip: 112.43.40.209, more info at https://open.work.weixin.qq.com/devtool/query?e=60020";
        assert_eq!(from_ip(errmsg).as_deref(), Some("112.43.40.209"));
        assert_eq!(
            from_ip("…, from ip: 2408:8207:1850::1, more info").as_deref(),
            Some("2408:8207:1850::1")
        );
        assert_eq!(from_ip("not allow to access from your ip"), None);
        assert_eq!(from_ip("from ip: nonsense"), None);
        let CallError::Refused {
            errcode,
            reason,
            from_ip,
        } = ip_refused("WeCom message/send", errmsg)
        else {
            panic!("a refusal");
        };
        assert_eq!(errcode, 60020);
        assert_eq!(from_ip.as_deref(), Some("112.43.40.209"));
        assert_eq!(
            reason,
            "WeCom message/send: errcode 60020 not allow to access from your ip"
        );
    }

    #[test]
    fn base_urls_keep_their_path() {
        let base = base_url("http://127.0.0.1:9/prefix").unwrap();
        assert_eq!(
            base.join("cgi-bin/gettoken").unwrap().as_str(),
            "http://127.0.0.1:9/prefix/cgi-bin/gettoken"
        );
        assert!(base_url("ftp://x").is_err());
    }
}
