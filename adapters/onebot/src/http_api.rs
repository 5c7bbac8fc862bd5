//! The HTTP API sender: `POST {base}/{action}` with the parameters as a JSON body.

use std::sync::Arc;
use std::time::Duration;

use bangban_contract::{Event, EventSink};
use reqwest::header::CONTENT_TYPE;
use reqwest::{StatusCode, Url};
use serde_json::{Value, json};
use tracing::{info, warn};

use crate::action::{self, CallError};
use crate::config::redact_url;
use crate::ids::id_of;
use crate::link::Link;
use crate::state::Shared;

pub(crate) struct HttpApi {
    pub(crate) id: u64,
    base: Url,
    client: reqwest::Client,
    token: Option<String>,
}

impl HttpApi {
    /// An endpoint at `base` (e.g. `http://127.0.0.1:3000`); `Err` names what is wrong with it.
    pub(crate) fn new(id: u64, base: &str, token: Option<&str>) -> Result<HttpApi, String> {
        let mut base = Url::parse(base).map_err(|e| e.to_string())?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err("the HTTP API URL must be http:// or https://".into());
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let client = reqwest::Client::builder()
            .build()
            .map_err(|e| e.to_string())?;
        Ok(HttpApi {
            id,
            base,
            client,
            token: token.map(str::to_owned),
        })
    }

    /// The base URL fit for logs.
    pub(crate) fn label(&self) -> String {
        redact_url(self.base.as_str())
    }

    pub(crate) async fn call(
        &self,
        action: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, CallError> {
        let url = self
            .base
            .join(action)
            .map_err(|e| CallError::Unreachable(e.to_string()))?;
        let mut request = self
            .client
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .body(params.to_string())
            .timeout(timeout);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|e| classify(e, timeout))?;
        let status = response.status();
        if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            return Err(CallError::Unauthorized(status.as_u16()));
        }
        let body = response.bytes().await.map_err(|e| classify(e, timeout))?;
        let response = match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(object))
                if object.contains_key("status") || object.contains_key("retcode") =>
            {
                Some(object)
            }
            _ => None,
        };
        match response {
            Some(object) => action::response(object).outcome.map_err(CallError::Failed),
            None if status == StatusCode::NOT_FOUND => Err(CallError::Failed(action::Failure {
                retcode: 1404,
                message: format!("no action {action:?}"),
            })),
            None if status.is_success() => Err(CallError::BadResponse(format!(
                "HTTP {status} without a OneBot response"
            ))),
            None => Err(CallError::Http(format!("HTTP {status}"))),
        }
    }
}

fn classify(error: reqwest::Error, timeout: Duration) -> CallError {
    let error = error.without_url();
    if error.is_connect() || error.is_builder() {
        CallError::Unreachable(error.to_string())
    } else if error.is_timeout() {
        CallError::Timeout(timeout)
    } else {
        CallError::Http(error.to_string())
    }
}

/// Learns which account `api` serves (`get_login_info`), retrying with backoff until it answers,
/// then attaches it as that account's link. Ends at shutdown.
pub(crate) async fn probe(shared: Arc<Shared>, sink: Arc<dyn EventSink>, api: Arc<HttpApi>) {
    let mut failures = 0;
    let stopped = shared.stopped();
    tokio::pin!(stopped);
    loop {
        let attempt = api.call("get_login_info", json!({}), shared.config.action_timeout);
        let result = tokio::select! {
            result = attempt => result,
            _ = &mut stopped => return,
        };
        match result.map(|data| data.get("user_id").and_then(id_of)) {
            Ok(Some(account)) => {
                info!(api = %api.label(), %account, "OneBot HTTP API ready");
                if let Some(change) = shared.accounts.attach(&account, Link::Http(api)) {
                    let _ = sink.deliver(Event::Connection(change)).await;
                }
                return;
            }
            Ok(None) => warn!(api = %api.label(), "get_login_info gave no user_id"),
            Err(error) => warn!(api = %api.label(), %error, "OneBot HTTP API not ready"),
        }
        failures += 1;
        let delay = shared.config.reconnect.delay(failures);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = &mut stopped => return,
        }
    }
}
