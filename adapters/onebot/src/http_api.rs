//! The HTTP API sender: `POST {base}/{action}` with the parameters as a JSON body.
//!
//! An HTTP API endpoint has no connection to lose, so its account's state is learnt by asking:
//! [`probe`] calls `get_login_info` until the endpoint answers, and attaches it as its account's
//! link (the account is up). When sends then fail to connect [`DOWN_AFTER`] times in a row (the
//! implementation stopped or restarted), the link is detached (the account is down, so the core
//! holds its messages instead of spending their tries) and [`probe`] asks again, with backoff,
//! until the endpoint answers and the account is up again.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bangban_contract::{Event, EventSink};
use reqwest::header::CONTENT_TYPE;
use reqwest::{StatusCode, Url};
use serde_json::{Value, json};
use tokio::sync::Notify;
use tracing::{info, warn};

use crate::action::{self, CallError};
use crate::config::redact_url;
use crate::ids::id_of;
use crate::link::Link;
use crate::state::Shared;

/// Sends that could not connect, in a row, after which the endpoint counts as gone. One stray
/// connection error does not make the account go down; an implementation that stopped does.
const DOWN_AFTER: u32 = 2;

pub(crate) struct HttpApi {
    pub(crate) id: u64,
    base: Url,
    client: reqwest::Client,
    token: Option<String>,
    /// Calls that could not connect, in a row; any answer resets it.
    unreachable: AtomicU32,
    /// Whether the link is detached for being unreachable (and [`probe`] is asking again).
    lost: AtomicBool,
    /// Wakes [`probe`] when the link was detached.
    lost_signal: Notify,
    /// Whom the endpoint serves, once [`probe`] learnt it: where to report it gone.
    serving: Mutex<Option<Serving>>,
}

struct Serving {
    shared: Weak<Shared>,
    account: String,
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
            unreachable: AtomicU32::new(0),
            lost: AtomicBool::new(false),
            lost_signal: Notify::new(),
            serving: Mutex::new(None),
        })
    }

    /// The base URL fit for logs.
    pub(crate) fn label(&self) -> String {
        redact_url(self.base.as_str())
    }

    /// Calls `action` for a sender. A call that cannot connect counts towards detaching the
    /// link (see the module doc); any answer from the endpoint resets the count.
    pub(crate) async fn call(
        &self,
        action: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, CallError> {
        let result = self.request(action, params, timeout).await;
        match &result {
            Err(CallError::Unreachable(_)) => self.unreachable().await,
            _ => self.unreachable.store(0, Ordering::Relaxed),
        }
        result
    }

    /// One more call could not connect: after [`DOWN_AFTER`] in a row, the link is detached
    /// (the account goes down unless another link serves it) before the caller hears of the
    /// failure, so the core does not count it against the message.
    async fn unreachable(&self) {
        let failures = self.unreachable.fetch_add(1, Ordering::Relaxed) + 1;
        if failures < DOWN_AFTER
            || self
                .lost
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return;
        }
        let serving = self
            .serving
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .and_then(|s| Some((s.shared.upgrade()?, s.account.clone())));
        if let Some((shared, account)) = serving {
            warn!(api = %self.label(), %account, failures,
                "OneBot HTTP API unreachable; its sends wait until it answers again");
            if let Some(change) = shared.accounts.detach(&account, self.id)
                && let Some(sink) = shared.sink()
            {
                let _ = sink.deliver(Event::Connection(change)).await;
            }
        }
        self.lost_signal.notify_one();
    }

    async fn request(
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
/// then attaches it as that account's link; when the link is detached for being unreachable,
/// does it all again. Ends at shutdown.
pub(crate) async fn probe(shared: Arc<Shared>, sink: Arc<dyn EventSink>, api: Arc<HttpApi>) {
    let stopped = shared.stopped();
    tokio::pin!(stopped);
    loop {
        let mut failures = 0;
        let account = loop {
            let attempt = api.request("get_login_info", json!({}), shared.config.action_timeout);
            let result = tokio::select! {
                result = attempt => result,
                _ = &mut stopped => return,
            };
            match result.map(|data| data.get("user_id").and_then(id_of)) {
                Ok(Some(account)) => break account,
                Ok(None) => warn!(api = %api.label(), "get_login_info gave no user_id"),
                Err(error) => warn!(api = %api.label(), %error, "OneBot HTTP API not ready"),
            }
            failures += 1;
            let delay = shared.config.reconnect.delay(failures);
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = &mut stopped => return,
            }
        };
        info!(api = %api.label(), %account, "OneBot HTTP API ready");
        *api.serving.lock().unwrap_or_else(|e| e.into_inner()) = Some(Serving {
            shared: Arc::downgrade(&shared),
            account: account.clone(),
        });
        api.unreachable.store(0, Ordering::Relaxed);
        if let Some(change) = shared.accounts.attach(&account, Link::Http(api.clone())) {
            let _ = sink.deliver(Event::Connection(change)).await;
        }
        api.lost.store(false, Ordering::Release);
        tokio::select! {
            () = api.lost_signal.notified() => {}
            _ = &mut stopped => return,
        }
    }
}
