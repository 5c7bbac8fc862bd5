//! [`QqBot`] as the core sees it: the contract's [`Adapter`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bangban_contract::{
    Adapter, AdapterError, BoxFuture, Chat, ConnectionChange, ConnectionState, Delivered, Event,
    EventSink, Outgoing, Platform, SendError,
};
use reqwest::Url;
use serde_json::json;
use tracing::{debug, warn};

use crate::QqBot;
use crate::api::{self, Outcome};
use crate::replies::Reservation;
use crate::state::Shared;
use crate::token::Status;

/// The shortest wait of the token loop, so that a token with almost no life left does not
/// make it spin.
const MIN_WAIT: Duration = Duration::from_secs(1);

impl Adapter for QqBot {
    fn platform(&self) -> Platform {
        Platform::Qqbot
    }

    /// Starts taking webhook requests (before returning); the future obtains an access token
    /// and keeps one, reporting the app id [`Up`](ConnectionState::Up) once it holds one and
    /// [`Down`](ConnectionState::Down) when it expired and could not be renewed. Dropping the
    /// future makes the webhook answer 503.
    fn run(
        self: Arc<Self>,
        sink: Arc<dyn EventSink>,
    ) -> BoxFuture<'static, Result<(), AdapterError>> {
        let shared = self.shared.clone();
        shared.start(sink.clone());
        let stop_on_drop = StopOnDrop(shared.clone());
        Box::pin(async move {
            let _stop_on_drop = stop_on_drop;
            keep_token(&shared, sink.as_ref()).await;
            Ok(())
        })
    }

    fn send<'a>(&'a self, action: &'a Outgoing) -> BoxFuture<'a, Result<Delivered, SendError>> {
        Box::pin(async move {
            let Outgoing::SendText {
                platform,
                account,
                chat,
                text,
                quote,
                mention,
            } = action;
            let shared = &self.shared;
            if *platform != Platform::Qqbot {
                return Err(SendError::Permanent {
                    reason: format!("a {platform:?} action sent to the QQ bot adapter"),
                });
            }
            if *account != shared.config.app_id {
                return Err(SendError::Permanent {
                    reason: format!(
                        "the QQ bot adapter serves app {}, not {account}",
                        shared.config.app_id
                    ),
                });
            }
            if text.trim().is_empty() {
                return Err(SendError::Permanent {
                    reason: "QQ does not take an empty message".into(),
                });
            }
            if shared.tokens.status() != Status::Up {
                return Err(SendError::Retryable {
                    reason: format!("QQ bot {account} has no access token yet"),
                    maybe_delivered: false,
                });
            }
            let reservation = shared
                .anchors
                .reserve(chat, quote.as_deref(), shared.clock.now())
                .map_err(|why| SendError::AwaitingMessage {
                    reason: why.reason().to_owned(),
                })?;
            let content = match (chat, mention) {
                (Chat::Group(_), Some(user)) if !user.is_empty() => format!("<@{user}> {text}"),
                _ => text.clone(),
            };
            // The whole send, token renewal and a post after a 401 included, keeps to the
            // action timeout.
            let posted = AtomicBool::new(false);
            let attempt = post_reply(shared, &reservation, &content, &posted);
            let outcome = match tokio::time::timeout(shared.config.action_timeout, attempt).await {
                Ok(outcome) => outcome,
                Err(_) => Outcome::Retryable {
                    reason: "QQ OpenAPI call timed out".into(),
                    maybe_delivered: posted.load(Ordering::SeqCst),
                },
            };
            settle(shared, &reservation, outcome)
        })
    }

    fn connected_accounts(&self) -> Vec<String> {
        match self.shared.tokens.status() {
            Status::Up => vec![self.shared.config.app_id.clone()],
            Status::Down => Vec::new(),
        }
    }
}

/// Posts the reply; after a 401, renews the token and posts once more (same `msg_seq`: the
/// refused request was not taken).
async fn post_reply(
    shared: &Shared,
    reservation: &Reservation,
    content: &str,
    posted: &AtomicBool,
) -> Outcome {
    let url = match message_url(shared.config.api_base(), &reservation.chat) {
        Some(url) => url,
        None => return Outcome::Permanent("the API base URL takes no path".into()),
    };
    let body = json!({
        "content": content,
        "msg_type": 0,
        "msg_id": reservation.message_id,
        "msg_seq": reservation.seq,
    })
    .to_string();
    let post = |token: String| {
        let (url, body) = (url.clone(), body.clone());
        posted.store(true, Ordering::SeqCst);
        async move {
            api::post(
                &shared.client,
                url,
                &shared.config.app_id,
                &token,
                body,
                shared.config.action_timeout,
            )
            .await
        }
    };
    let token = match shared.tokens.get().await {
        Ok(token) => token,
        Err(error) => return no_token(error),
    };
    match post(token.clone()).await {
        Outcome::Unauthorized => {}
        outcome => return outcome,
    }
    debug!("QQ OpenAPI refused the access token; renewing it");
    let token = match shared.tokens.renew(&token).await {
        Ok(token) => token,
        Err(error) => return no_token(error),
    };
    match post(token).await {
        Outcome::Unauthorized => Outcome::Retryable {
            reason: "QQ OpenAPI refused a fresh access token (HTTP 401)".into(),
            maybe_delivered: false,
        },
        outcome => outcome,
    }
}

fn no_token(error: crate::token::TokenError) -> Outcome {
    Outcome::Retryable {
        reason: format!("no QQ bot access token: {error}"),
        maybe_delivered: false,
    }
}

/// `{base}/v2/groups/{group_openid}/messages` or `{base}/v2/users/{openid}/messages`.
fn message_url(base: &str, chat: &Chat) -> Option<Url> {
    let mut url = Url::parse(base).ok()?;
    let (kind, id) = match chat {
        Chat::Group(id) => ("groups", id),
        Chat::Private(id) => ("users", id),
    };
    url.path_segments_mut()
        .ok()?
        .pop_if_empty()
        .extend(["v2", kind, id, "messages"]);
    Some(url)
}

/// The contract's answer for `outcome`; gives the reserved reply back when the platform did
/// not take it.
fn settle(
    shared: &Shared,
    reservation: &Reservation,
    outcome: Outcome,
) -> Result<Delivered, SendError> {
    match outcome {
        Outcome::Sent(message_id) => Ok(Delivered { message_id }),
        Outcome::WindowClosed(reason) => {
            let others = shared.anchors.retire(reservation, shared.clock.now());
            if others {
                // Another recent message can still be replied to: try again soon.
                Err(SendError::Retryable {
                    reason,
                    maybe_delivered: false,
                })
            } else {
                Err(SendError::AwaitingMessage { reason })
            }
        }
        Outcome::RateLimited {
            reason,
            retry_after,
        } => {
            shared.anchors.release(reservation);
            Err(SendError::RateLimited {
                reason,
                retry_after,
            })
        }
        Outcome::Retryable {
            reason,
            maybe_delivered,
        } => {
            if !maybe_delivered {
                shared.anchors.release(reservation);
            }
            Err(SendError::Retryable {
                reason,
                maybe_delivered,
            })
        }
        Outcome::Permanent(reason) => {
            shared.anchors.release(reservation);
            Err(SendError::Permanent { reason })
        }
        Outcome::Unauthorized => {
            shared.anchors.release(reservation);
            Err(SendError::Retryable {
                reason: "QQ OpenAPI refused the access token (HTTP 401)".into(),
                maybe_delivered: false,
            })
        }
    }
}

/// Obtains a token and keeps one until the adapter stops or the sink closes, reporting the
/// account's state on every change (also those a sender caused).
async fn keep_token(shared: &Shared, sink: &dyn EventSink) {
    let stopped = shared.stopped();
    tokio::pin!(stopped);
    let mut status = shared.tokens.subscribe();
    let mut reported = Status::Down;
    let mut failures = 0u32;
    loop {
        let attempt = shared.tokens.get();
        let result = tokio::select! {
            result = attempt => result,
            () = &mut stopped => return,
        };
        match result {
            Ok(_) => failures = 0,
            Err(error) => {
                failures += 1;
                warn!(app_id = %shared.config.app_id, %error, failures, "QQ bot access token request failed");
            }
        }
        loop {
            let now = *status.borrow_and_update();
            if now != reported {
                reported = now;
                let state = match now {
                    Status::Up => ConnectionState::Up,
                    Status::Down => ConnectionState::Down,
                };
                let change = ConnectionChange {
                    platform: Platform::Qqbot,
                    account: shared.config.app_id.clone(),
                    state,
                };
                if sink.deliver(Event::Connection(change)).await.is_err() {
                    return;
                }
            }
            let wait = if failures > 0 {
                shared.config.token_retry.delay(failures)
            } else {
                until_refresh(shared)
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => break,
                changed = status.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    // A sender renewed the token or lost it: report that, then wait anew
                    // (after a loss, the next attempt comes after the backoff).
                    if *status.borrow() == Status::Down {
                        failures = failures.max(1);
                    } else {
                        failures = 0;
                    }
                }
                () = &mut stopped => return,
            }
        }
    }
}

/// How long until the cached token is due (real time, measured on the adapter's clock).
fn until_refresh(shared: &Shared) -> Duration {
    let Some(at) = shared.tokens.refresh_at() else {
        return MIN_WAIT;
    };
    at.duration_since(shared.clock.now())
        .unwrap_or(Duration::ZERO)
        .max(MIN_WAIT)
}

/// Stops the adapter when `run`'s future ends or is dropped.
struct StopOnDrop(Arc<Shared>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_urls() {
        let group = Chat::Group("C9F778FE6ADF9D1D1DBE395BF744A33A".into());
        assert_eq!(
            message_url("https://api.sgroup.qq.com", &group)
                .unwrap()
                .as_str(),
            "https://api.sgroup.qq.com/v2/groups/C9F778FE6ADF9D1D1DBE395BF744A33A/messages"
        );
        let user = Chat::Private("a/b".into());
        assert_eq!(
            message_url("http://127.0.0.1:9/prefix", &user)
                .unwrap()
                .as_str(),
            "http://127.0.0.1:9/prefix/v2/users/a%2Fb/messages"
        );
    }
}
