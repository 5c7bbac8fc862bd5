//! [`WeCom`] as the core sees it: the contract's [`Adapter`].

use std::collections::HashMap;
use std::sync::Arc;

use bangban_contract::{
    AccountDown, Adapter, AdapterError, BoxFuture, Chat, ConnectionChange, ConnectionState,
    Delivered, Event, EventSink, Outgoing, Platform, SendError,
};
use tracing::{debug, info, warn};

use crate::WeCom;
use crate::api::{AIBOT_MARKDOWN_MAX_BYTES, CallError};
use crate::state::Shared;

impl Adapter for WeCom {
    fn platform(&self) -> Platform {
        Platform::Wecom
    }

    /// Checks the configuration, starts taking callbacks (before returning), and reports each
    /// configured account up: WeCom pushes to the adapter and sends are plain HTTPS calls, so
    /// there is no connection to watch. An account goes down while WeCom refuses its
    /// credentials and comes up again when they are accepted (see the crate doc, "Accounts and
    /// connection state"); the future checks refused ones again from time to time. It waits
    /// until dropped (or the sink closes); dropping it makes the routes answer 503 and sends
    /// fail as not connected.
    fn run(
        self: Arc<Self>,
        sink: Arc<dyn EventSink>,
    ) -> BoxFuture<'static, Result<(), AdapterError>> {
        let shared = self.shared.clone();
        if let Err(error) = check(&shared) {
            return Box::pin(std::future::ready(Err(error)));
        }
        shared.start(sink.clone());
        let stop_on_drop = StopOnDrop(shared.clone());
        Box::pin(async move {
            let _stop_on_drop = stop_on_drop;
            let mut changes = shared.health.subscribe();
            let mut reported: HashMap<String, bool> = HashMap::new();
            loop {
                changes.borrow_and_update();
                for (account, up) in shared.states() {
                    let before = reported.insert(account.clone(), up);
                    if before == Some(up) {
                        continue;
                    }
                    if before.is_none() && up {
                        // Later changes are logged where they are found (`health`).
                        info!(%account, "WeCom account up");
                    }
                    let change = ConnectionChange {
                        platform: Platform::Wecom,
                        account,
                        state: if up {
                            ConnectionState::Up
                        } else {
                            ConnectionState::Down
                        },
                    };
                    if sink.deliver(Event::Connection(change)).await.is_err() {
                        return Ok(());
                    }
                }
                let recheck = shared.health.next_recheck();
                tokio::select! {
                    () = shared.stopped() => return Ok(()),
                    changed = changes.changed() => {
                        if changed.is_err() {
                            return Ok(());
                        }
                    }
                    () = tokio::time::sleep_until(recheck.unwrap_or_else(tokio::time::Instant::now)),
                        if recheck.is_some() => recheck_refused(&shared).await,
                }
            }
        })
    }

    /// Routes by chat and account (see the crate doc): a robot's group → its webhook; the AI
    /// bot's account → the quoted message's passive reply, else a `response_url` of the chat;
    /// the app's account and a private chat → the app message API.
    fn send<'a>(&'a self, action: &'a Outgoing) -> BoxFuture<'a, Result<Delivered, SendError>> {
        Box::pin(async move {
            let timeout = self.shared.config.action_timeout;
            match tokio::time::timeout(timeout, send(&self.shared, action)).await {
                Ok(result) => result,
                Err(_) => Err(SendError::Retryable {
                    reason: format!("WeCom send timed out after {} ms", timeout.as_millis()),
                    maybe_delivered: true,
                }),
            }
        })
    }

    fn connected_accounts(&self) -> Vec<String> {
        if !self.shared.running() {
            return Vec::new();
        }
        self.shared
            .states()
            .into_iter()
            .filter_map(|(account, up)| up.then_some(account))
            .collect()
    }

    /// The app's account while WeCom refuses its secret or the server's address (60020), the
    /// robots' while it refuses every robot's key: what is wrong and what to do, in Chinese.
    fn down_reasons(&self) -> Vec<AccountDown> {
        if !self.shared.running() {
            return Vec::new();
        }
        let shared = &self.shared;
        shared.health.down_reasons(
            shared.app.as_ref().map(|app| app.account.as_str()),
            &shared.robot_account(),
            shared.config.robots.len(),
        )
    }
}

/// Asks WeCom again about the credentials it refused: `gettoken` for the app, a check that
/// posts nothing for each refused robot key (see `Api::check_robot`).
async fn recheck_refused(shared: &Shared) {
    shared.health.rechecking();
    let Some(api) = shared.api.as_ref() else {
        return;
    };
    let timeout = shared.config.action_timeout;
    if let Some(refusal) = shared.health.app_refusal()
        && let (Some(app), Some(app_config)) = (&shared.app, &shared.config.app)
    {
        let checked = tokio::time::timeout(
            timeout,
            api.check_app(app_config, shared.clock.as_ref(), refusal.address()),
        );
        match checked.await {
            Ok(Ok(())) => shared.health.accept_app(&app.account),
            Ok(Err(CallError::Refused {
                errcode, from_ip, ..
            })) => {
                // A refusal for another reason than before is logged (once).
                shared
                    .health
                    .refuse_app(&app.account, errcode, from_ip.as_deref());
                debug!(account = %app.account, errcode, "WeCom still refuses the app");
            }
            Ok(Err(CallError::Send(error))) => {
                debug!(account = %app.account, %error, "WeCom app check failed; tried again later");
            }
            Err(_) => debug!(account = %app.account, "WeCom app check timed out"),
        }
    }
    let account = shared.robot_account();
    for chat in shared.health.refused_robots() {
        let Some(key) = shared.config.robots.get(&chat) else {
            continue;
        };
        match tokio::time::timeout(timeout, api.check_robot(key)).await {
            Ok(Ok(())) => shared.health.accept_robot(&account, &chat),
            Ok(Err(CallError::Refused { errcode, .. })) => {
                debug!(%account, robot_chat = %chat, errcode, "WeCom still refuses the robot's key");
            }
            Ok(Err(CallError::Send(error))) => {
                debug!(%account, robot_chat = %chat, %error, "WeCom robot check failed; tried again later");
            }
            Err(_) => debug!(%account, robot_chat = %chat, "WeCom robot check timed out"),
        }
    }
}

fn check(shared: &Shared) -> Result<(), AdapterError> {
    let errors = shared.config.validate();
    if !errors.is_empty() {
        let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
        return Err(AdapterError::new(format!(
            "WeCom configuration: {}",
            list.join("; ")
        )));
    }
    if shared.api.is_none() {
        return Err(AdapterError::new(
            "WeCom: the HTTP client could not be built",
        ));
    }
    Ok(())
}

async fn send(shared: &Shared, action: &Outgoing) -> Result<Delivered, SendError> {
    let Outgoing::SendText {
        platform,
        account,
        chat,
        text,
        quote,
        mention,
    } = action;
    if *platform != Platform::Wecom {
        return Err(SendError::Permanent {
            reason: format!("a {platform:?} action sent to the WeCom adapter"),
        });
    }
    let (true, Some(api)) = (shared.running(), shared.api.as_ref()) else {
        return Err(SendError::Retryable {
            reason: "the WeCom adapter is not running".into(),
            maybe_delivered: false,
        });
    };
    if text.trim().is_empty() {
        return Err(SendError::Permanent {
            reason: "WeCom does not take an empty message".into(),
        });
    }
    if let Chat::Group(id) = chat
        && let Some(key) = shared.config.robots.get(id)
    {
        let robot_account = shared.robot_account();
        return match api.send_robot_text(key, text, mention.as_deref()).await {
            Ok(()) => {
                shared.health.accept_robot(&robot_account, id);
                Ok(Delivered::default())
            }
            Err(CallError::Refused {
                errcode, reason, ..
            }) => {
                let robots = shared.config.robots.len();
                shared
                    .health
                    .refuse_robot(&robot_account, id, robots, errcode);
                if shared.health.robots_refused(robots) {
                    // The account is down: the message waits for it to come up again.
                    Err(SendError::Retryable {
                        reason,
                        maybe_delivered: false,
                    })
                } else {
                    Err(SendError::Permanent { reason })
                }
            }
            Err(CallError::Send(error)) => Err(error),
        };
    }
    if let Some(bot) = &shared.aibot
        && *account == bot.account
    {
        if text.len() > AIBOT_MARKDOWN_MAX_BYTES {
            return Err(SendError::Permanent {
                reason: format!(
                    "AI bot reply of {} bytes is over WeCom's {AIBOT_MARKDOWN_MAX_BYTES}-byte limit (the core splits)",
                    text.len()
                ),
            });
        }
        return send_aibot(shared, api, chat, quote.as_deref(), text).await;
    }
    if let (Some(app), Some(app_config)) = (&shared.app, &shared.config.app)
        && *account == app.account
    {
        let Chat::Private(user) = chat else {
            return Err(SendError::Permanent {
                reason: "the WeCom app sends to private chats only; give the group a robot key"
                    .into(),
            });
        };
        if shared.health.app_refused() {
            return Err(SendError::Retryable {
                reason:
                    "WeCom refuses the app (its secret or this server's address); checked again from time to time"
                        .into(),
                maybe_delivered: false,
            });
        }
        return match api
            .send_app_text(app_config, shared.clock.as_ref(), user, text)
            .await
        {
            Ok(message_id) => {
                shared.health.accept_app(&app.account);
                Ok(Delivered { message_id })
            }
            Err(CallError::Refused {
                errcode,
                reason,
                from_ip,
            }) => {
                // The account is down: the message waits for it to come up again.
                shared
                    .health
                    .refuse_app(&app.account, errcode, from_ip.as_deref());
                Err(SendError::Retryable {
                    reason,
                    maybe_delivered: false,
                })
            }
            Err(CallError::Send(error)) => Err(error),
        };
    }
    if matches!(chat, Chat::Group(_)) && *account == shared.config.robot_account {
        warn!("WeCom send to a group without a robot key");
        return Err(SendError::Permanent {
            reason: "no robot key configured for this group".into(),
        });
    }
    Err(SendError::Permanent {
        reason: "not a WeCom account of this adapter".into(),
    })
}

/// An AI bot send (see `replies` for the order of the ways it can go).
async fn send_aibot(
    shared: &Shared,
    api: &crate::api::Api,
    chat: &Chat,
    quote: Option<&str>,
    text: &str,
) -> Result<Delivered, SendError> {
    let replies = &shared.replies;
    let wait = shared.config.passive_wait;
    let delivered = |answering: Option<&str>| {
        replies.unhold(chat, quote, text);
        if let Some(message_id) = answering {
            replies.answered(chat, message_id);
        }
        Ok(Delivered::default())
    };
    // 1. The quoted message's passive reply, while its callback or stream is open.
    if let Some(message_id) = quote
        && replies.offer(chat, message_id, text, wait).await
    {
        return delivered(None);
    }
    // 2. Its own response_url.
    let now = shared.clock.now();
    let mut taken = replies.take_url(chat, quote, now, false);
    // 3. A send not held before answers what the resident just wrote: that message's stream.
    if taken.is_none() && !replies.was_held(chat, quote, text) {
        while let Some(waiting) = replies.waiting_message(chat) {
            if replies.offer(chat, &waiting, text, wait).await {
                return delivered(quote);
            }
            if replies.waiting_message(chat).as_deref() == Some(waiting.as_str()) {
                break;
            }
        }
    }
    // 4–5. Another message's response_url.
    if taken.is_none() {
        taken = replies.take_url(chat, quote, now, true);
    }
    let Some(taken) = taken else {
        // 6. Held for the chat's next message.
        replies.hold(chat, quote, text);
        return Err(SendError::AwaitingMessage {
            reason: "no passive reply and no unused response_url for this AI bot chat".into(),
        });
    };
    match api.send_response_url(&taken.url, text).await {
        Ok(()) => delivered(quote),
        Err(error) => {
            if let SendError::Retryable {
                maybe_delivered: false,
                ..
            } = error
            {
                // The POST never reached WeCom: the URL is still unused.
                replies.put_back(chat, taken);
            }
            Err(error)
        }
    }
}

/// Stops the adapter when `run`'s future ends or is dropped.
struct StopOnDrop(Arc<Shared>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop();
    }
}
