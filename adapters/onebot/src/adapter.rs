//! [`OneBot`] as the core sees it: the contract's [`Adapter`] and capability traits.

use std::sync::Arc;

use bangban_contract::{
    Adapter, AdapterError, BoxFuture, Chat, Delivered, EventSink, MemberLookup, Outgoing, Platform,
    Recall, SendError,
};
use serde_json::{Value, json};
use tracing::warn;

use crate::OneBot;
use crate::action::{self, CallError};
use crate::config::redact_url;
use crate::forward_ws;
use crate::http_api::{self, HttpApi};
use crate::ids::id_param;
use crate::state::Shared;

impl Adapter for OneBot {
    fn platform(&self) -> Platform {
        Platform::Onebot
    }

    /// Checks the configured URLs and starts taking reverse connections (before returning);
    /// the future keeps the forward WebSocket clients connected and probes the HTTP API
    /// endpoints. Dropping the future closes every connection.
    fn run(
        self: Arc<Self>,
        sink: Arc<dyn EventSink>,
    ) -> BoxFuture<'static, Result<(), AdapterError>> {
        let shared = self.shared.clone();
        let apis = match check_config(&shared) {
            Ok(apis) => apis,
            Err(error) => return Box::pin(std::future::ready(Err(error))),
        };
        if shared.config.token().is_none() {
            warn!("no OneBot access token set: anyone who reaches the OneBot routes can act as QQ");
        }
        shared.start(sink.clone());
        let stop_on_drop = StopOnDrop(shared.clone());
        Box::pin(async move {
            let _stop_on_drop = stop_on_drop;
            for url in &shared.config.forward_ws {
                let task = forward_ws::keep_connected(shared.clone(), sink.clone(), url.clone());
                tokio::spawn(task);
            }
            for api in apis {
                tokio::spawn(http_api::probe(shared.clone(), sink.clone(), api));
            }
            shared.stopped().await;
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
            if *platform != Platform::Onebot {
                return Err(SendError::Permanent {
                    reason: format!("a {platform:?} action sent to the OneBot adapter"),
                });
            }
            if text.trim().is_empty() {
                return Err(SendError::Permanent {
                    reason: "QQ does not take an empty message".into(),
                });
            }
            let (name, params) = action::send_text(
                chat,
                text,
                quote.as_deref(),
                mention.as_deref(),
                self.shared.config.send_cq_strings,
            );
            let data = self.call(account, name, params).await?;
            Ok(Delivered {
                message_id: action::message_id(&data),
            })
        })
    }

    fn connected_accounts(&self) -> Vec<String> {
        self.shared.accounts.connected()
    }

    fn as_recall(&self) -> Option<&dyn Recall> {
        Some(self)
    }

    fn as_member_lookup(&self) -> Option<&dyn MemberLookup> {
        Some(self)
    }
}

impl Recall for OneBot {
    /// `delete_msg`; QQ lets the bot recall its own messages for two minutes.
    fn recall<'a>(
        &'a self,
        account: &'a str,
        _chat: &'a Chat,
        message_id: &'a str,
    ) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            let params = json!({"message_id": id_param(message_id)});
            self.call(account, "delete_msg", params).await.map(drop)
        })
    }
}

impl MemberLookup for OneBot {
    /// `get_group_member_info` (card, else nickname) in groups, `get_stranger_info` otherwise.
    fn member_name<'a>(
        &'a self,
        account: &'a str,
        chat: &'a Chat,
        user: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, SendError>> {
        Box::pin(async move {
            let (name, params) = match chat {
                Chat::Group(group) => (
                    "get_group_member_info",
                    json!({"group_id": id_param(group), "user_id": id_param(user)}),
                ),
                Chat::Private(_) => ("get_stranger_info", json!({"user_id": id_param(user)})),
            };
            let data = self.call(account, name, params).await?;
            let field = |key: &str| {
                data.get(key)
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
            };
            Ok(field("card").or_else(|| field("nickname")))
        })
    }
}

/// Checks the URLs of the configuration; the HTTP API endpoints to probe.
fn check_config(shared: &Shared) -> Result<Vec<Arc<HttpApi>>, AdapterError> {
    let config = &shared.config;
    for url in &config.forward_ws {
        forward_ws::request(url, config.token()).map_err(|e| {
            AdapterError::new(format!("OneBot forward WebSocket {}: {e}", redact_url(url)))
        })?;
    }
    config
        .http_api
        .iter()
        .map(|url| {
            HttpApi::new(shared.next_link_id(), url, config.token())
                .map(Arc::new)
                .map_err(|e| AdapterError::new(format!("OneBot HTTP API {}: {e}", redact_url(url))))
        })
        .collect()
}

impl OneBot {
    /// Calls `action` through `account`'s newest link.
    async fn call(&self, account: &str, action: &str, params: Value) -> Result<Value, SendError> {
        let link = self
            .shared
            .accounts
            .link(account)
            .ok_or_else(|| CallError::NotConnected(account.to_owned()))?;
        Ok(link
            .call(action, params, self.shared.config.action_timeout)
            .await?)
    }
}

/// Stops the adapter when `run`'s future ends or is dropped.
struct StopOnDrop(Arc<Shared>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop();
    }
}
