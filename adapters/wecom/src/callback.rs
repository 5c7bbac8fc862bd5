//! The callback routes: URL verification (GET) and messages (POST), for the app and the AI bot.
//!
//! Every request is checked in this order: the adapter runs (else 503), the part is configured
//! (else 404), the query has `msg_signature`, `timestamp`, `nonce` (else 400), the body parses
//! (else 400), the signature matches (else 403), the timestamp is in the window (else 403), and
//! only then is anything decrypted (bad ciphertext 400, another receive id 403). Accepted app
//! messages are answered 200 with an empty body at once: WeCom then neither retries nor
//! expects a passive reply, and the core answers later through `send`. The AI bot's messages
//! and stream refreshes wait a little for the core's answer and carry it in the response as
//! an encrypted stream message (see `replies`).

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bangban_contract::{Event, Incoming};
use tracing::{debug, warn};

use crate::crypto::{CryptoError, MsgCrypt};
use crate::message::{self, AiBotSide, ParseError, Parsed};
use crate::replies::{Answer, Ask, Begun, Delivery, Key};
use crate::state::Shared;

/// Which callback a request came to, for logs.
#[derive(Clone, Copy)]
enum Route {
    App,
    AiBot,
}

impl Route {
    fn name(self) -> &'static str {
        match self {
            Route::App => "app",
            Route::AiBot => "aibot",
        }
    }
}

struct Params {
    msg_signature: String,
    timestamp: String,
    nonce: String,
    echostr: Option<String>,
}

fn params(route: Route, query: Option<&str>) -> Result<Params, StatusCode> {
    let (mut msg_signature, mut timestamp, mut nonce, mut echostr) = (None, None, None, None);
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let slot = match key.as_ref() {
            "msg_signature" => &mut msg_signature,
            "timestamp" => &mut timestamp,
            "nonce" => &mut nonce,
            "echostr" => &mut echostr,
            _ => continue,
        };
        *slot = Some(value.into_owned());
    }
    match (msg_signature, timestamp, nonce) {
        (Some(msg_signature), Some(timestamp), Some(nonce)) => Ok(Params {
            msg_signature,
            timestamp,
            nonce,
            // Base64 never holds a space: one here is a `+` that was not percent-encoded and
            // that URL decoding turned into a space.
            echostr: echostr.map(|e| e.replace(' ', "+")),
        }),
        _ => Err(refuse(
            route,
            StatusCode::BAD_REQUEST,
            "msg_signature, timestamp or nonce missing",
        )),
    }
}

fn refuse(route: Route, status: StatusCode, why: &str) -> StatusCode {
    warn!(route = route.name(), %status, why, "WeCom callback refused");
    status
}

fn crypto_refusal(route: Route, error: &CryptoError) -> StatusCode {
    let status = match error {
        CryptoError::BadSignature
        | CryptoError::StaleTimestamp { .. }
        | CryptoError::WrongReceiveId => StatusCode::FORBIDDEN,
        CryptoError::BadTimestamp
        | CryptoError::BadBase64
        | CryptoError::Truncated
        | CryptoError::BadPadding
        | CryptoError::BadUtf8 => StatusCode::BAD_REQUEST,
        CryptoError::BadKey(_) | CryptoError::Random(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    refuse(route, status, &error.to_string())
}

fn parse_refusal(route: Route, error: &ParseError) -> StatusCode {
    refuse(route, StatusCode::BAD_REQUEST, &error.to_string())
}

/// Verifies and decrypts `encrypt` under `crypt`: signature and timestamp first.
fn open(
    shared: &Shared,
    route: Route,
    crypt: &MsgCrypt,
    params: &Params,
    encrypt: &str,
) -> Result<String, StatusCode> {
    crypt
        .verify(
            &params.msg_signature,
            &params.timestamp,
            &params.nonce,
            encrypt,
            shared.clock.now(),
        )
        .and_then(|()| crypt.decrypt(encrypt))
        .map_err(|e| crypto_refusal(route, &e))
}

/// The GET of URL verification: the decrypted `echostr`, as plain text.
fn verify_url(shared: &Shared, route: Route, crypt: &MsgCrypt, query: Option<&str>) -> Response {
    let params = match params(route, query) {
        Ok(params) => params,
        Err(status) => return status.into_response(),
    };
    let Some(echostr) = params.echostr.as_deref() else {
        return refuse(route, StatusCode::BAD_REQUEST, "echostr missing").into_response();
    };
    match open(shared, route, crypt, &params, echostr) {
        Ok(plain) => {
            debug!(route = route.name(), "WeCom callback URL verified");
            ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], plain).into_response()
        }
        Err(status) => status.into_response(),
    }
}

pub(crate) async fn app_verify(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
) -> Response {
    if !shared.running() {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    match &shared.app {
        Some(app) => verify_url(&shared, Route::App, &app.crypt, query.as_deref()),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

pub(crate) async fn aibot_verify(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
) -> Response {
    if !shared.running() {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    match &shared.aibot {
        Some(bot) => verify_url(&shared, Route::AiBot, &bot.crypt, query.as_deref()),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A message POST to the app: `<xml><ToUserName/><Encrypt/><AgentID/></xml>`.
pub(crate) async fn app_receive(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let route = Route::App;
    if !shared.running() {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let Some(app) = &shared.app else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let params = match params(route, query.as_deref()) {
        Ok(params) => params,
        Err(status) => return status.into_response(),
    };
    let Ok(body) = std::str::from_utf8(&body) else {
        return refuse(route, StatusCode::BAD_REQUEST, "the body is not UTF-8").into_response();
    };
    let envelope = match message::app_envelope(body) {
        Ok(envelope) => envelope,
        Err(error) => return parse_refusal(route, &error).into_response(),
    };
    let plain = match open(&shared, route, &app.crypt, &params, &envelope.encrypt) {
        Ok(plain) => plain,
        Err(status) => return status.into_response(),
    };
    match message::app_message(&plain, &app.account, app.agent_id) {
        Ok(parsed) => accept(&shared, route, parsed).await,
        Err(error) => parse_refusal(route, &error).into_response(),
    }
}

/// A message POST to the AI bot: `{"encrypt": "…"}`.
pub(crate) async fn aibot_receive(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let route = Route::AiBot;
    if !shared.running() {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let Some(bot) = &shared.aibot else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let params = match params(route, query.as_deref()) {
        Ok(params) => params,
        Err(status) => return status.into_response(),
    };
    let envelope = match message::aibot_envelope(&body) {
        Ok(envelope) => envelope,
        Err(error) => return parse_refusal(route, &error).into_response(),
    };
    let plain = match open(&shared, route, &bot.crypt, &params, &envelope.encrypt) {
        Ok(plain) => plain,
        Err(status) => return status.into_response(),
    };
    let side = AiBotSide {
        aibot_id: &bot.aibot_id,
        account: &bot.account,
        name: bot.name.as_deref(),
    };
    let started = tokio::time::Instant::now();
    match message::aibot_message(&plain, &side) {
        Ok(Parsed::WithReply { incoming, url }) => {
            let passive = shared.passive_until(started);
            let chat = incoming.chat.clone();
            let message_id = incoming.message_id.clone();
            // Kept before the core hears of the message, so its answer finds the URL.
            shared.replies.arrive(
                &chat,
                &message_id,
                url.as_deref(),
                shared.clock.now(),
                passive,
            );
            // Waiting before the core hears of it, so that even a quick answer finds the wait.
            let begun = shared
                .replies
                .begin(Key::Message(&chat, &message_id), Ask::Message);
            let delivered = deliver(&shared, incoming).await;
            if delivered.status() != StatusCode::OK {
                return delivered;
            }
            let answer = match begun {
                Begun::Answer(answer) => answer,
                Begun::Waiting(waiting) => {
                    waiting
                        .finish(started + shared.config.passive_wait, shared.stopped())
                        .await
                }
            };
            answer_wecom(&bot.crypt, &params, answer)
        }
        Ok(Parsed::Refresh { stream_id }) => {
            let deadline = started + shared.config.passive_wait;
            let answer = shared
                .replies
                .respond(
                    Key::Stream(&stream_id),
                    Ask::Refresh,
                    deadline,
                    shared.stopped(),
                )
                .await;
            answer_wecom(&bot.crypt, &params, answer)
        }
        Ok(parsed) => accept(&shared, route, parsed).await,
        Err(error) => parse_refusal(route, &error).into_response(),
    }
}

/// The callback's response: empty, or `answer`'s stream message encrypted as WeCom's AI bot
/// expects it (`{"encrypt","msgsignature","timestamp","nonce"}` with the callback's nonce).
fn answer_wecom(crypt: &MsgCrypt, params: &Params, answer: Answer) -> Response {
    let Answer::Stream {
        id,
        finish,
        content,
        delivery,
    } = answer
    else {
        return StatusCode::OK.into_response();
    };
    let plain = serde_json::json!({
        "msgtype": "stream",
        "stream": {"id": id, "finish": finish, "content": &*content},
    })
    .to_string();
    match crypt.encrypt_reply_json(&plain, &params.timestamp, &params.nonce) {
        Ok(body) => (
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            Body::new(Handed {
                data: Some(Bytes::from(body)),
                delivery,
            }),
        )
            .into_response(),
        Err(error) => {
            // Dropping `delivery` gives its send back, to go by a response_url.
            warn!(route = "aibot", %error, "WeCom passive reply could not be encrypted");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// A response body of one chunk that tells its delivery when the HTTP server takes the chunk
/// to write; dropped before that (the connection went away), it gives the send back.
struct Handed {
    data: Option<Bytes>,
    delivery: Option<Delivery>,
}

impl http_body::Body for Handed {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        let Some(data) = this.data.take() else {
            return Poll::Ready(None);
        };
        if let Some(delivery) = this.delivery.take() {
            delivery.handed();
        }
        Poll::Ready(Some(Ok(http_body::Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.data.as_ref().map_or(0, |d| d.len() as u64))
    }
}

/// Hands a parsed app callback to the core: 200 with an empty body, 503 if the core is gone.
async fn accept(shared: &Shared, route: Route, parsed: Parsed) -> Response {
    let incoming: Incoming = match parsed {
        Parsed::Message(incoming) | Parsed::WithReply { incoming, .. } => incoming,
        Parsed::Refresh { .. } => return StatusCode::OK.into_response(),
        Parsed::Ignored { what } => {
            debug!(route = route.name(), %what, "WeCom callback ignored");
            return StatusCode::OK.into_response();
        }
    };
    deliver(shared, incoming).await
}

/// Hands `incoming` to the core: 200, or 503 if the core is gone.
async fn deliver(shared: &Shared, incoming: Incoming) -> Response {
    let Some(sink) = shared.sink() else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    match sink.deliver(Event::Message(incoming)).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(_) => {
            shared.stop();
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}
