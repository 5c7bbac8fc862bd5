//! [`Telegram`] as the core sees it: the contract's [`Adapter`].

use std::sync::Arc;

use bangban_contract::{
    Adapter, AdapterError, BoxFuture, Chat, Delivered, EventSink, Outgoing, Platform, SendError,
};
use teloxide::payloads::SendMessageSetters;
use teloxide::requests::Requester;
use teloxide::types::{
    ChatId, MessageEntity, MessageEntityKind, MessageId, Recipient, ReplyParameters,
};
use tracing::warn;

use crate::failure::send_error;
use crate::state::Shared;
use crate::translate::{message_key, parse_message_key};
use crate::{MAX_TEXT_CHARS, Telegram, receive};

/// What a mention is rendered as when the message quotes nothing: a link to the user
/// (`tg://user?id=…`, which Telegram shows and notifies as a mention) on this label.
const MENTION_LABEL: &str = "@";

impl Adapter for Telegram {
    fn platform(&self) -> Platform {
        Platform::Telegram
    }

    /// Starts taking webhook updates (before returning); the future calls `getMe`, then polls
    /// or registers the webhook. Dropping it stops polling and closes the webhook route (503).
    fn run(
        self: Arc<Self>,
        sink: Arc<dyn EventSink>,
    ) -> BoxFuture<'static, Result<(), AdapterError>> {
        let shared = self.shared.clone();
        shared.start(sink.clone());
        let stop_on_drop = StopOnDrop(shared.clone());
        Box::pin(async move {
            let _stop_on_drop = stop_on_drop;
            receive::run(&shared, sink.as_ref()).await
        })
    }

    fn send<'a>(&'a self, action: &'a Outgoing) -> BoxFuture<'a, Result<Delivered, SendError>> {
        Box::pin(async move { send_text(&self.shared, action).await })
    }

    fn connected_accounts(&self) -> Vec<String> {
        match self.shared.me() {
            Some(me) if self.shared.is_up() => vec![me.account()],
            _ => Vec::new(),
        }
    }
}

/// `sendMessage`: one call, no retry, within the action timeout.
async fn send_text(shared: &Shared, action: &Outgoing) -> Result<Delivered, SendError> {
    let Outgoing::SendText {
        platform,
        account,
        chat,
        text,
        quote,
        mention,
    } = action;
    let refuse = |reason: String| Err(SendError::Permanent { reason });
    if *platform != Platform::Telegram {
        return refuse(format!(
            "a {platform:?} action sent to the Telegram adapter"
        ));
    }
    let Some(me) = shared.me().filter(|_| shared.is_up()) else {
        return Err(SendError::Retryable {
            reason: format!("Telegram account {account} is not connected"),
            maybe_delivered: false,
        });
    };
    if *account != me.account() {
        return refuse(format!(
            "this Telegram adapter is bot {}, not account {account}",
            me.account()
        ));
    }
    if text.trim().is_empty() {
        return refuse("Telegram does not take an empty message".into());
    }
    let length = text.chars().count();
    if length > MAX_TEXT_CHARS {
        return refuse(format!(
            "the text has {length} characters; Telegram takes at most {MAX_TEXT_CHARS}"
        ));
    }
    let Ok(chat_id) = chat.id().trim().parse::<i64>() else {
        return refuse(format!("{:?} is not a Telegram chat id", chat.id()));
    };

    let mut body = text.clone();
    let mut entities = Vec::new();
    let reply = quote.as_deref().and_then(|quote| {
        let parsed = parse_message_key(quote);
        if parsed.is_none() {
            warn!(
                quote,
                "not a Telegram message id to quote; sending without the quote"
            );
        }
        parsed
    });
    if let Some(user) = mention.as_deref()
        && reply.is_none()
        && matches!(chat, Chat::Group(_))
    {
        // Quoting already notifies the quoted author: a mention is added only without a quote,
        // and only while the text stays within the limit.
        match user.trim().parse::<u64>() {
            Ok(user) if length + MENTION_LABEL.chars().count() < MAX_TEXT_CHARS => {
                // The form Telegram documents for mentioning by id (teloxide's own helper
                // writes `tg://user/?id=`).
                if let Ok(url) = url::Url::parse(&format!("tg://user?id={user}")) {
                    body = format!("{MENTION_LABEL} {text}");
                    let label = MENTION_LABEL.encode_utf16().count();
                    let link = MessageEntityKind::TextLink { url };
                    entities.push(MessageEntity::new(link, 0, label));
                }
            }
            Ok(_) => {}
            Err(_) => warn!(user, "not a Telegram user id to mention; sending without"),
        }
    }

    let mut request = shared.bot.send_message(ChatId(chat_id), body);
    if let Some((quoted_chat, quoted_message)) = reply {
        // If the quoted message is gone, the text still goes out, as a plain message.
        let mut parameters =
            ReplyParameters::new(MessageId(quoted_message)).allow_sending_without_reply();
        if quoted_chat != chat_id {
            parameters = parameters.chat_id(Recipient::Id(ChatId(quoted_chat)));
        }
        request = request.reply_parameters(parameters);
    }
    if !entities.is_empty() {
        request = request.entities(entities);
    }
    match tokio::time::timeout(shared.config.action_timeout, request).await {
        Ok(Ok(sent)) => Ok(Delivered {
            message_id: Some(message_key(sent.chat.id.0, sent.id.0)),
        }),
        Ok(Err(error)) => Err(send_error(&error, shared.token())),
        Err(_) => Err(SendError::Retryable {
            reason: format!(
                "Telegram sendMessage: no answer within {:?}",
                shared.config.action_timeout
            ),
            maybe_delivered: true,
        }),
    }
}

/// Stops the adapter when `run`'s future ends or is dropped.
struct StopOnDrop(Arc<Shared>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop();
    }
}
