//! [`WeCom`] as the core sees it: the contract's [`Adapter`].

use std::sync::Arc;

use bangban_contract::{
    Adapter, AdapterError, BoxFuture, Chat, ConnectionChange, ConnectionState, Delivered, Event,
    EventSink, Outgoing, Platform, SendError,
};
use tracing::{info, warn};

use crate::WeCom;
use crate::state::Shared;

impl Adapter for WeCom {
    fn platform(&self) -> Platform {
        Platform::Wecom
    }

    /// Checks the configuration, starts taking callbacks (before returning), and reports each
    /// configured account up: WeCom pushes to the adapter and sends are plain HTTPS calls, so
    /// there is no connection to watch. The future then waits until dropped (or the sink
    /// closes); dropping it makes the routes answer 503 and sends fail as not connected.
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
            for account in shared.accounts() {
                info!(%account, "WeCom account up");
                let change = ConnectionChange {
                    platform: Platform::Wecom,
                    account,
                    state: ConnectionState::Up,
                };
                if sink.deliver(Event::Connection(change)).await.is_err() {
                    return Ok(());
                }
            }
            shared.stopped().await;
            Ok(())
        })
    }

    /// Routes by chat and account (see the crate doc): a robot's group → its webhook; the AI
    /// bot's account → the chat's `response_url`; the app's account and a private chat → the
    /// app message API.
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
        if self.shared.running() {
            self.shared.accounts()
        } else {
            Vec::new()
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
        api.send_robot_text(key, text, mention.as_deref()).await?;
        return Ok(Delivered::default());
    }
    if let Some(bot) = &shared.aibot
        && *account == bot.account
    {
        let Some(reply) = shared
            .replies
            .take(chat, quote.as_deref(), shared.clock.now())
        else {
            return Err(SendError::AwaitingMessage {
                reason: "no unused response_url for this AI bot chat".into(),
            });
        };
        return match api.send_response_url(&reply.url, text).await {
            Ok(()) => Ok(Delivered::default()),
            Err(error) => {
                if let SendError::Retryable {
                    maybe_delivered: false,
                    ..
                } = error
                {
                    // The POST never reached WeCom: the URL is still unused.
                    shared.replies.put_back(chat.clone(), reply);
                }
                Err(error)
            }
        };
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
        let message_id = api
            .send_app_text(app_config, shared.clock.as_ref(), user, text)
            .await?;
        return Ok(Delivered { message_id });
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

/// Stops the adapter when `run`'s future ends or is dropped.
struct StopOnDrop(Arc<Shared>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop();
    }
}
