//! The receiving side: `getMe`, then long polling with `getUpdates`, or registering the webhook.

use std::time::Duration;

use bangban_contract::{AdapterError, Event, EventSink, SendError, SinkClosed};
use teloxide::payloads::{GetUpdatesSetters, SetWebhookSetters};
use teloxide::requests::Requester;
use teloxide::types::{AllowedUpdate, Update, UpdateId};
use tracing::{debug, error, info, warn};

use crate::config::Mode;
use crate::failure::{
    bad_token, describe, polling_conflict, retry_after, send_error, webhook_active,
};
use crate::state::Shared;
use crate::translate::{self, Me};

/// Learns who the bot is, then receives until `sink` closes. Network failures are retried for
/// ever; only a refused token or webhook URL ends it with an error.
pub(crate) async fn run(shared: &Shared, sink: &dyn EventSink) -> Result<(), AdapterError> {
    let me = identify(shared).await?;
    info!(account = %me.account(), mode = ?shared.config.mode, "Telegram bot identified");
    shared.set_me(me.clone());
    match shared.config.mode {
        Mode::Polling => {
            if shared.set_up(sink, &me, true).await.is_ok() {
                let _closed = poll(shared, sink, &me).await;
            }
        }
        Mode::Webhook => {
            if let Some(url) = &shared.config.webhook_url {
                register_webhook(shared, url).await?;
            }
            if shared.set_up(sink, &me, true).await.is_ok() {
                // The webhook route stops the adapter when it finds the sink closed.
                shared.stopped().await;
            }
        }
    }
    // The only way out of receiving is the core closing its sink.
    Ok(())
}

/// `getMe`, retried with backoff until it answers.
async fn identify(shared: &Shared) -> Result<Me, AdapterError> {
    let mut failures = 0;
    loop {
        let error = match tokio::time::timeout(shared.config.action_timeout, shared.bot.get_me())
            .await
        {
            Ok(Ok(me)) => {
                return Ok(Me {
                    id: me.user.id.0,
                    username: me.user.username.clone(),
                });
            }
            Ok(Err(error)) if bad_token(&error) => {
                return Err(AdapterError::new(
                    "Telegram refused the bot token (getMe answered Unauthorized or Not Found): \
                     check the token (BANGBAN_TELEGRAM_TOKEN) and api_url",
                ));
            }
            Ok(Err(error)) => error,
            Err(_) => {
                failures += 1;
                let delay = shared.config.reconnect.delay(failures);
                warn!(?delay, "Telegram getMe timed out; retrying");
                tokio::time::sleep(delay).await;
                continue;
            }
        };
        let delay = retry_after(&error).unwrap_or_else(|| {
            failures += 1;
            shared.config.reconnect.delay(failures)
        });
        warn!(error = %describe(&error, shared.token()), ?delay, "Telegram getMe failed; retrying");
        tokio::time::sleep(delay).await;
    }
}

/// `setWebhook` with the secret, retried until Telegram takes it or refuses it for good.
async fn register_webhook(shared: &Shared, url: &str) -> Result<(), AdapterError> {
    let parsed = url::Url::parse(url)
        .map_err(|_| AdapterError::new("Telegram: webhook_url is not a URL"))?;
    let secret = shared.config.secret().unwrap_or_default().to_owned();
    let mut failures = 0;
    loop {
        let request = shared
            .bot
            .set_webhook(parsed.clone())
            .secret_token(secret.clone())
            .allowed_updates([AllowedUpdate::Message]);
        let delay = match tokio::time::timeout(shared.config.action_timeout, request).await {
            Ok(Ok(_)) => {
                info!(url = %parsed, "Telegram webhook registered");
                return Ok(());
            }
            Ok(Err(error)) => match send_error(&error, shared.token()) {
                SendError::Permanent { reason } => {
                    return Err(AdapterError::new(format!(
                        "Telegram refused the webhook URL {parsed}: {reason}"
                    )));
                }
                SendError::RateLimited { retry_after, .. } => retry_after,
                other => {
                    failures += 1;
                    warn!(error = %other.reason(), "Telegram setWebhook failed; retrying");
                    shared.config.reconnect.delay(failures)
                }
            },
            Err(_) => {
                failures += 1;
                warn!("Telegram setWebhook timed out; retrying");
                shared.config.reconnect.delay(failures)
            }
        };
        tokio::time::sleep(delay).await;
    }
}

/// Long polling. The offset moves past an update only once the update is in the sink (or was
/// ignored), so a failed call loses nothing and repeats nothing: the next call asks again from
/// the same offset. A 429 waits its `retry_after`; network and server errors back off, and
/// `down_after_failures` of them in a row report the account down until a call succeeds.
async fn poll(shared: &Shared, sink: &dyn EventSink, me: &Me) -> Result<(), SinkClosed> {
    let config = &shared.config;
    let timeout_secs = u32::try_from(config.poll_timeout.as_secs()).unwrap_or(u32::MAX);
    let mut offset: Option<i32> = None;
    let mut failures = 0;
    let mut conflicts = 0;
    let mut webhook_deleted = false;
    loop {
        let mut request = shared
            .poll_bot
            .get_updates()
            .timeout(timeout_secs)
            .allowed_updates([AllowedUpdate::Message]);
        if let Some(offset) = offset {
            request = request.offset(offset);
        }
        let error = match request.await {
            Ok(updates) => {
                failures = 0;
                conflicts = 0;
                shared.set_up(sink, me, true).await?;
                for update in updates {
                    hand_over(sink, &update, me).await?;
                    offset = Some(next_offset(update.id));
                }
                continue;
            }
            Err(error) => error,
        };
        let reason = describe(&error, shared.token());
        let delay = if let Some(after) = retry_after(&error) {
            warn!(%reason, "Telegram getUpdates rate-limited; waiting");
            after
        } else if webhook_active(&error) && !webhook_deleted {
            webhook_deleted = true;
            warn!("a webhook is set for this bot; deleting it to poll instead");
            delete_webhook(shared).await;
            Duration::ZERO
        } else if polling_conflict(&error) {
            conflicts += 1;
            error!(%reason, "Telegram getUpdates conflict: is another copy of the bot polling?");
            config.reconnect.delay(conflicts)
        } else {
            failures += 1;
            if failures >= config.down_after_failures {
                shared.set_up(sink, me, false).await?;
            }
            let delay = config.reconnect.delay(failures);
            warn!(%reason, failures, ?delay, "Telegram getUpdates failed; retrying");
            delay
        };
        tokio::time::sleep(delay).await;
    }
}

/// Gives the update to the core if it is a message for it.
async fn hand_over(sink: &dyn EventSink, update: &Update, me: &Me) -> Result<(), SinkClosed> {
    match translate::incoming(update, me) {
        Ok(incoming) => sink.deliver(Event::Message(incoming)).await,
        Err(why) => {
            debug!(update_id = update.id.0, why, "Telegram update ignored");
            Ok(())
        }
    }
}

/// The `offset` that confirms `id` and everything before it.
fn next_offset(id: UpdateId) -> i32 {
    i32::try_from(u64::from(id.0) + 1).unwrap_or(i32::MAX)
}

async fn delete_webhook(shared: &Shared) {
    match tokio::time::timeout(shared.config.action_timeout, shared.bot.delete_webhook()).await {
        Ok(Ok(_)) => info!("Telegram webhook deleted"),
        Ok(Err(error)) => {
            warn!(error = %describe(&error, shared.token()), "Telegram deleteWebhook failed")
        }
        Err(_) => warn!("Telegram deleteWebhook timed out"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_confirm_the_update() {
        assert_eq!(next_offset(UpdateId(0)), 1);
        assert_eq!(next_offset(UpdateId(851_793_506)), 851_793_507);
        assert_eq!(next_offset(UpdateId(u32::MAX)), i32::MAX);
    }
}
