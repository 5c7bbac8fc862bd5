//! The AI bot's two ways to answer a message: the passive reply and the `response_url`.
//!
//! **The passive reply** is the HTTP response to the callback itself: an encrypted stream
//! message (`{"msgtype":"stream","stream":{"id","finish","content"}}`). The callback waits
//! [`WeComConfig::passive_wait`](crate::WeComConfig) for the core's answer; when it comes in
//! time it is the response, with `finish` true. When it does not, and
//! [`WeComConfig::stream_window`](crate::WeComConfig) is not zero, the response is an
//! unfinished stream (no content, `finish` false): WeCom then sends stream refresh callbacks
//! (`msgtype` `stream`, the stream's id) and an answer that came meanwhile is the response to
//! the next one. When the window is over the stream is closed (`finish` true, no content).
//!
//! **The `response_url`**: every message to the bot brings one, good for one POST within an
//! hour ("每个 response_url 用户可以调用接口一次, 该 response_url 有效期为 1 个小时").
//!
//! Which one a send takes (the core names the message it answers in `quote`):
//!
//! 1. The quoted message's passive reply, while its callback or stream is open.
//! 2. Else the quoted message's own `response_url`, if unused.
//! 3. Else, for a send this adapter did not hold before (the help desk quotes a ticket's first
//!    message in everything it tells the resident, so the thanks for a rating quotes that, not
//!    the rating): the passive reply of the oldest unanswered message of the chat whose
//!    callback waits or whose stream is open. It is the bot's answer to what the resident just
//!    wrote, and that message's stream is then finished instead of left open.
//! 4. Else (a held send released by the chat's next message, a broadcast, a reply to a message
//!    whose URL is spent) the oldest unused `response_url` in the chat whose own message does
//!    not need it: the message was answered already, or its answer can still go passively (its
//!    callback or stream is open). So a held message that goes when a resident writes again
//!    takes that message's URL while the answer to the resident goes on the callback's stream:
//!    both go, neither uses up what the other needs.
//! 5. Only when no such URL is left, the oldest one whose message still waits for its answer
//!    (its passive window closed, as with passive replies off): the core sends a chat's
//!    messages in order, so a held message that found no URL would hold up everything behind
//!    it, the answers it would keep URLs for included.
//! 6. Nothing left: the send is held for the chat's next message, and remembered as held.
//!
//! A passive reply is delivered (the send succeeds) only once its response was handed to the
//! HTTP server to write ([`Delivery::handed`]); a response that is never written (WeCom hung
//! up, the callback was cancelled) gives the send back, which then takes a `response_url`. A
//! send that no callback collects in time withdraws its text, so it goes once.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use bangban_contract::Chat;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// How long a `response_url` is used after its message arrived. WeCom's docs say one hour;
/// five minutes are kept back so a send in flight does not race the expiry.
pub const RESPONSE_URL_TTL: Duration = Duration::from_secs(55 * 60);
/// WeCom refreshes a stream for at most six minutes after the user's message; an answer kept
/// for a repeated refresh is forgotten after that.
const STREAM_MAX: Duration = Duration::from_secs(6 * 60);
/// How much longer than `passive_wait` a send waits for a refresh to collect its text.
const COLLECT_GRACE: Duration = Duration::from_secs(2);
/// The messages kept per chat; older ones are dropped first.
const PER_CHAT: usize = 32;
/// Above this many chats, chats with nothing left to use are forgotten.
const PRUNE_ABOVE: usize = 4096;
/// The sends held per chat that are remembered as held (older ones are forgotten first).
const HELD_PER_CHAT: usize = 64;

/// Which callback asks for its answer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Ask {
    /// The message's own callback (or WeCom's repeat of it).
    Message,
    /// A stream refresh callback.
    Refresh,
}

/// What a callback answers WeCom.
#[derive(Debug)]
pub(crate) enum Answer {
    /// An empty body: no passive reply.
    Empty,
    /// A stream message; with `delivery` when it carries a send's text.
    Stream {
        id: String,
        finish: bool,
        content: Arc<str>,
        delivery: Option<Delivery>,
    },
}

impl Answer {
    fn stream(id: &str, finish: bool, content: Arc<str>) -> Answer {
        Answer::Stream {
            id: id.to_owned(),
            finish,
            content,
            delivery: None,
        }
    }

    fn close(id: &str) -> Answer {
        Answer::stream(id, true, Arc::from(""))
    }
}

/// A `response_url` taken for a send: `owner` is the message it came with.
pub(crate) struct TakenUrl {
    pub(crate) owner: String,
    /// A capability (anyone holding it can post once): never logged.
    pub(crate) url: String,
}

/// A send's text on its way into a callback's response.
struct Offer {
    id: u64,
    text: Arc<str>,
    /// Whether the response carrying it was handed to the HTTP server.
    done: oneshot::Sender<bool>,
}

impl std::fmt::Debug for Offer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Offer").field("id", &self.id).finish()
    }
}

enum Passive {
    /// A send for the message can go passively until `until`. `waiter`: a callback waiting for
    /// it now; `ready`: a send's text waiting for the next callback; `streaming`: WeCom was
    /// answered with an unfinished stream, so the stream must be finished.
    Open {
        until: Instant,
        waiter: Option<(u64, oneshot::Sender<Offer>)>,
        ready: Option<Offer>,
        streaming: bool,
    },
    /// A response carries offer `offer`; it is being written.
    Sending {
        offer: u64,
        until: Instant,
        streaming: bool,
    },
    /// Answered passively with `content` (repeated to a refresh or a repeated callback).
    Answered { content: Arc<str> },
    /// No passive reply any more.
    Closed,
}

impl Passive {
    /// Whether an answer to the message can still go (or is going) passively.
    fn open(&self, now: Instant) -> bool {
        match self {
            Passive::Open { until, .. } => now < *until,
            Passive::Sending { until, .. } => now < *until,
            Passive::Answered { .. } | Passive::Closed => false,
        }
    }
}

struct Exchange {
    message_id: String,
    stream_id: String,
    /// When the message arrived, on the adapter's clock (the URL's expiry).
    received: SystemTime,
    /// When the message arrived, on tokio's clock (the stream's six minutes).
    since: Instant,
    /// The unused `response_url`.
    url: Option<String>,
    /// WeCom gave one (a repeat of the message must not bring a used one back).
    had_url: bool,
    /// A reply to the message was delivered.
    answered: bool,
    passive: Passive,
}

impl Exchange {
    fn url_usable(&self, now: SystemTime) -> bool {
        self.url.is_some() && now < self.received + RESPONSE_URL_TTL
    }

    /// Nothing more can be done with it.
    fn spent(&self, now: SystemTime, instant: Instant) -> bool {
        !self.url_usable(now)
            && match self.passive {
                Passive::Open { .. } | Passive::Sending { .. } => !self.passive.open(instant),
                Passive::Answered { .. } => instant >= self.since + STREAM_MAX,
                Passive::Closed => true,
            }
    }

    /// After a response carrying `offer` failed: the message can go passively again, if
    /// there is time.
    fn reopen(&mut self, offer: u64) {
        if let Passive::Sending {
            offer: sending,
            until,
            streaming,
        } = self.passive
            && sending == offer
        {
            self.passive = if Instant::now() < until {
                Passive::Open {
                    until,
                    waiter: None,
                    ready: None,
                    streaming,
                }
            } else {
                Passive::Closed
            };
        }
    }
}

#[derive(Default)]
struct Inner {
    chats: HashMap<Chat, VecDeque<Exchange>>,
    /// Stream id → its chat and message.
    streams: HashMap<String, (Chat, String)>,
    /// Fingerprints of the sends held per chat (see [`Exchanges::hold`]).
    held: HashMap<Chat, VecDeque<u64>>,
}

impl Inner {
    fn find(&mut self, chat: &Chat, message_id: &str) -> Option<&mut Exchange> {
        self.chats
            .get_mut(chat)?
            .iter_mut()
            .find(|e| e.message_id == message_id)
    }

    fn key_of(&self, key: Key<'_>) -> Option<(Chat, String)> {
        match key {
            Key::Message(chat, id) => Some((chat.clone(), id.to_owned())),
            Key::Stream(id) => self.streams.get(id).cloned(),
        }
    }
}

/// Which exchange a callback is about.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Key<'a> {
    Message(&'a Chat, &'a str),
    Stream(&'a str),
}

/// The AI bot's messages still answerable, per chat.
#[derive(Default)]
pub(crate) struct Exchanges {
    inner: Mutex<Inner>,
    ids: AtomicU64,
}

impl Exchanges {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Keeps message `message_id` of `chat`, received at `now`, with its `response_url` and,
    /// unless `passive_until` is `None`, a passive reply possible until then. A repeat of a
    /// message already here changes nothing. The stream id of its passive reply.
    pub(crate) fn arrive(
        &self,
        chat: &Chat,
        message_id: &str,
        url: Option<&str>,
        now: SystemTime,
        passive_until: Option<Instant>,
    ) -> String {
        let instant = Instant::now();
        let stream_id = format!("bb{:016x}{:08x}", random_u64(), self.next_id());
        let mut inner = self.lock();
        if let Some(found) = inner.find(chat, message_id) {
            if !found.had_url && url.is_some() {
                found.url = url.map(str::to_owned);
                found.had_url = true;
            }
            return found.stream_id.clone();
        }
        if inner.chats.len() > PRUNE_ABOVE {
            let mut gone = Vec::new();
            inner.chats.retain(|_, exchanges| {
                exchanges.retain(|e| {
                    let spent = e.spent(now, instant);
                    if spent {
                        gone.push(e.stream_id.clone());
                    }
                    !spent
                });
                !exchanges.is_empty()
            });
            for id in gone {
                inner.streams.remove(&id);
            }
            let Inner { chats, held, .. } = &mut *inner;
            held.retain(|chat, _| chats.contains_key(chat));
        }
        let mut dropped = Vec::new();
        let exchanges = inner.chats.entry(chat.clone()).or_default();
        exchanges.retain(|e| {
            let spent = e.spent(now, instant);
            if spent {
                dropped.push(e.stream_id.clone());
            }
            !spent
        });
        for e in exchanges.iter_mut() {
            // An answer kept for refreshes is not needed after WeCom's six minutes.
            if matches!(e.passive, Passive::Answered { .. }) && instant >= e.since + STREAM_MAX {
                e.passive = Passive::Closed;
            }
        }
        exchanges.push_back(Exchange {
            message_id: message_id.to_owned(),
            stream_id: stream_id.clone(),
            received: now,
            since: instant,
            url: url.map(str::to_owned),
            had_url: url.is_some(),
            answered: false,
            passive: match passive_until {
                Some(until) => Passive::Open {
                    until,
                    waiter: None,
                    ready: None,
                    streaming: false,
                },
                None => Passive::Closed,
            },
        });
        while exchanges.len() > PER_CHAT {
            if let Some(old) = exchanges.pop_front() {
                dropped.push(old.stream_id);
            }
        }
        for id in dropped {
            inner.streams.remove(&id);
        }
        inner
            .streams
            .insert(stream_id.clone(), (chat.clone(), message_id.to_owned()));
        stream_id
    }

    /// What the callback `key` answers WeCom: the answer to its message if a send brings it
    /// before `deadline` (or brought it already), else an unfinished or closed stream, or an
    /// empty body for a message callback without a stream. Resolves early when `stop` does.
    pub(crate) async fn respond(
        self: &Arc<Self>,
        key: Key<'_>,
        ask: Ask,
        deadline: Instant,
        stop: impl Future<Output = ()>,
    ) -> Answer {
        match self.begin(key, ask) {
            Begun::Answer(answer) => answer,
            Begun::Waiting(waiting) => waiting.finish(deadline, stop).await,
        }
    }

    /// Starts the callback `key`: its answer now, or a wait registered for a send's text,
    /// which [`Waiting::finish`] ends. A message callback begins before the core hears of the
    /// message, so that an answer, however quick, finds it waiting.
    pub(crate) fn begin(self: &Arc<Self>, key: Key<'_>, ask: Ask) -> Begun {
        let unknown = || match (ask, key) {
            // A stream this process does not know (it restarted): closed, so WeCom stops asking.
            (Ask::Refresh, Key::Stream(id)) => Answer::close(id),
            _ => Answer::Empty,
        };
        let mut inner = self.lock();
        let Some((chat, message_id)) = inner.key_of(key) else {
            return Begun::Answer(unknown());
        };
        let Some(exchange) = inner.find(&chat, &message_id) else {
            return Begun::Answer(unknown());
        };
        let stream_id = exchange.stream_id.clone();
        let closed = |streaming: bool| {
            if streaming || ask == Ask::Refresh {
                Answer::close(&stream_id)
            } else {
                Answer::Empty
            }
        };
        match &mut exchange.passive {
            Passive::Answered { content } => {
                Begun::Answer(Answer::stream(&stream_id, true, content.clone()))
            }
            Passive::Closed => Begun::Answer(closed(false)),
            // Another response carries the answer: this one keeps the stream going.
            Passive::Sending { until, .. } if Instant::now() < *until => {
                Begun::Answer(Answer::stream(&stream_id, false, Arc::from("")))
            }
            Passive::Sending { streaming, .. } => {
                let answer = closed(*streaming);
                exchange.passive = Passive::Closed;
                Begun::Answer(answer)
            }
            Passive::Open {
                until,
                waiter,
                ready,
                streaming,
            } => {
                let (until, was_streaming) = (*until, *streaming);
                if let Some(offer) = ready.take() {
                    exchange.passive = Passive::Sending {
                        offer: offer.id,
                        until,
                        streaming: was_streaming,
                    };
                    drop(inner);
                    return Begun::Answer(self.carry(&chat, &message_id, &stream_id, offer));
                }
                if Instant::now() >= until {
                    exchange.passive = Passive::Closed;
                    return Begun::Answer(closed(was_streaming));
                }
                // A callback waiting before gives way (its sender is dropped).
                let id = self.next_id();
                let (tx, rx) = oneshot::channel();
                *waiter = Some((id, tx));
                Begun::Waiting(Box::new(Waiting {
                    exchanges: self.clone(),
                    chat,
                    message_id,
                    stream_id,
                    ask,
                    id,
                    until,
                    rx: Some(rx),
                }))
            }
        }
    }

    /// The answer carrying `offer`, with its delivery.
    fn carry(
        self: &Arc<Self>,
        chat: &Chat,
        message_id: &str,
        stream_id: &str,
        offer: Offer,
    ) -> Answer {
        Answer::Stream {
            id: stream_id.to_owned(),
            finish: true,
            content: offer.text.clone(),
            delivery: Some(Delivery {
                exchanges: self.clone(),
                chat: chat.clone(),
                message_id: message_id.to_owned(),
                offer: offer.id,
                content: offer.text,
                done: Some(offer.done),
            }),
        }
    }

    /// Offers `text` as the passive reply to `message_id` in `chat`. True once a callback's
    /// response carried it to WeCom; false when the message cannot be answered passively (any
    /// more), or no callback collected the text within `passive_wait` plus a grace (then it is
    /// withdrawn: it will not go passively later).
    pub(crate) async fn offer(
        self: &Arc<Self>,
        chat: &Chat,
        message_id: &str,
        text: &str,
        passive_wait: Duration,
    ) -> bool {
        let id = self.next_id();
        let (done, mut delivered) = oneshot::channel();
        {
            let mut inner = self.lock();
            let Some(exchange) = inner.find(chat, message_id) else {
                return false;
            };
            let Passive::Open {
                until,
                waiter,
                ready,
                streaming,
            } = &mut exchange.passive
            else {
                return false;
            };
            if Instant::now() >= *until || ready.is_some() {
                return false;
            }
            let offer = Offer {
                id,
                text: Arc::from(text),
                done,
            };
            let (until, streaming) = (*until, *streaming);
            let handed = match waiter.take() {
                Some((_, waiting)) => waiting.send(offer),
                None => Err(offer),
            };
            match handed {
                Ok(()) => {
                    exchange.passive = Passive::Sending {
                        offer: id,
                        until,
                        streaming,
                    };
                }
                // No callback waits now: only an open stream's next refresh can collect it.
                Err(_) if !streaming => return false,
                Err(offer) => *ready = Some(offer),
            }
        }
        // From here a cancelled send takes its text back.
        let withdraw = Withdraw {
            exchanges: self,
            chat,
            message_id,
            offer: id,
        };
        let collected = tokio::time::timeout(passive_wait + COLLECT_GRACE, &mut delivered).await;
        let handed = match collected {
            Ok(result) => result.unwrap_or(false),
            Err(_) => {
                // Not collected in time: withdrawn, unless a response carries it right now.
                let carried = {
                    let mut inner = self.lock();
                    match inner.find(chat, message_id) {
                        Some(exchange) => match &mut exchange.passive {
                            Passive::Open { ready, .. }
                                if ready.as_ref().is_some_and(|o| o.id == id) =>
                            {
                                *ready = None;
                                false
                            }
                            Passive::Sending { offer, .. } => *offer == id,
                            _ => false,
                        },
                        None => false,
                    }
                };
                carried && (&mut delivered).await.unwrap_or(false)
            }
        };
        drop(withdraw);
        if !handed {
            // A response that took the offer and was dropped unsent leaves it `Sending`.
            if let Some(exchange) = self.lock().find(chat, message_id) {
                exchange.reopen(id);
            }
        }
        handed
    }

    /// The oldest message of `chat` not answered yet whose callback waits for its answer now
    /// or whose stream is open: where a send answering what the resident just wrote can go
    /// passively (step 3 of the module doc).
    pub(crate) fn waiting_message(&self, chat: &Chat) -> Option<String> {
        let now = Instant::now();
        let mut inner = self.lock();
        inner
            .chats
            .get_mut(chat)?
            .iter()
            .find_map(|e| match &e.passive {
                Passive::Open {
                    until,
                    waiter,
                    ready: None,
                    streaming,
                } if !e.answered && now < *until && (waiter.is_some() || *streaming) => {
                    Some(e.message_id.clone())
                }
                _ => None,
            })
    }

    /// Remembers that the send of `text` answering `quote` in `chat` was held for the chat's
    /// next message.
    pub(crate) fn hold(&self, chat: &Chat, quote: Option<&str>, text: &str) {
        let print = fingerprint(quote, text);
        let mut inner = self.lock();
        let held = inner.held.entry(chat.clone()).or_default();
        if !held.contains(&print) {
            held.push_back(print);
        }
        while held.len() > HELD_PER_CHAT {
            held.pop_front();
        }
    }

    /// Whether that send was held before.
    pub(crate) fn was_held(&self, chat: &Chat, quote: Option<&str>, text: &str) -> bool {
        let print = fingerprint(quote, text);
        self.lock()
            .held
            .get(chat)
            .is_some_and(|held| held.contains(&print))
    }

    /// That send went: it is no longer held.
    pub(crate) fn unhold(&self, chat: &Chat, quote: Option<&str>, text: &str) {
        let print = fingerprint(quote, text);
        let mut inner = self.lock();
        if let Some(held) = inner.held.get_mut(chat) {
            held.retain(|p| *p != print);
            if held.is_empty() {
                inner.held.remove(chat);
            }
        }
    }

    /// Takes the `response_url` for a send to `chat` answering `quote` (see the module doc):
    /// the quoted message's own, else (with `others`) the oldest one whose message does not
    /// need it, else the oldest at all. `None` when there is none.
    pub(crate) fn take_url(
        &self,
        chat: &Chat,
        quote: Option<&str>,
        now: SystemTime,
        others: bool,
    ) -> Option<TakenUrl> {
        let instant = Instant::now();
        let mut inner = self.lock();
        let exchanges = inner.chats.get_mut(chat)?;
        let own = quote.and_then(|q| {
            exchanges
                .iter()
                .position(|e| e.message_id == q && e.url_usable(now))
        });
        let index = own
            .or_else(|| {
                others.then(|| {
                    exchanges
                        .iter()
                        .position(|e| e.url_usable(now) && (e.answered || e.passive.open(instant)))
                })?
            })
            .or_else(|| others.then(|| exchanges.iter().position(|e| e.url_usable(now)))?)?;
        let exchange = &mut exchanges[index];
        let url = exchange.url.take()?;
        Some(TakenUrl {
            owner: exchange.message_id.clone(),
            url,
        })
    }

    /// Gives back a URL whose POST never reached WeCom, so a later send can use it.
    pub(crate) fn put_back(&self, chat: &Chat, taken: TakenUrl) {
        let mut inner = self.lock();
        if let Some(exchange) = inner.find(chat, &taken.owner)
            && exchange.url.is_none()
        {
            exchange.url = Some(taken.url);
        }
    }

    /// A reply to `message_id` in `chat` was delivered (other than passively): the message needs
    /// neither its URL nor its passive reply any more, and an open stream is closed.
    pub(crate) fn answered(&self, chat: &Chat, message_id: &str) {
        let mut inner = self.lock();
        if let Some(exchange) = inner.find(chat, message_id) {
            exchange.answered = true;
            if matches!(exchange.passive, Passive::Open { .. }) {
                // A callback waiting now wakes (its sender is dropped) and closes the stream.
                exchange.passive = Passive::Closed;
            }
        }
    }

    #[cfg(test)]
    fn forget_all(&self) {
        let mut inner = self.lock();
        let all: Vec<Exchange> = inner.chats.drain().flat_map(|(_, e)| e).collect();
        for e in &all {
            inner.streams.remove(&e.stream_id);
        }
    }
}

/// How a callback starts (see [`Exchanges::begin`]).
pub(crate) enum Begun {
    /// Its answer, at once.
    Answer(Answer),
    /// It waits for a send's text.
    Waiting(Box<Waiting>),
}

impl Begun {
    #[cfg(test)]
    fn waiting(self) -> Box<Waiting> {
        match self {
            Begun::Waiting(waiting) => waiting,
            Begun::Answer(answer) => panic!("expected a wait, got {answer:?}"),
        }
    }
}

/// A callback waiting for a send's text (see [`Exchanges::begin`]). Dropped unfinished (the
/// callback was cancelled: WeCom hung up), it stops waiting, and a message callback that
/// opened no stream closes the passive reply, so the answer goes by `response_url` at once.
pub(crate) struct Waiting {
    exchanges: Arc<Exchanges>,
    chat: Chat,
    message_id: String,
    stream_id: String,
    ask: Ask,
    id: u64,
    until: Instant,
    /// `None` once finished.
    rx: Option<oneshot::Receiver<Offer>>,
}

impl Waiting {
    /// Waits until `deadline` (or the passive window's end, or `stop`) for a send's text; the
    /// callback's answer.
    pub(crate) async fn finish(
        mut self: Box<Self>,
        deadline: Instant,
        stop: impl Future<Output = ()>,
    ) -> Answer {
        let Some(mut rx) = self.rx.take() else {
            return Answer::Empty;
        };
        let got = tokio::select! {
            got = tokio::time::timeout_at(deadline.min(self.until), &mut rx) => got.ok().and_then(Result::ok),
            () = stop => None,
        };
        let exchanges = self.exchanges.clone();
        // Settled under the lock, so that an offer sent just now is not lost.
        let mut inner = exchanges.lock();
        let offer = got.or_else(|| rx.try_recv().ok());
        let Some(exchange) = inner.find(&self.chat, &self.message_id) else {
            // Forgotten meanwhile (an offer dropped here fails its send, which goes by URL).
            return Answer::Empty;
        };
        if let Some(offer) = offer {
            // The send marked the exchange `Sending` when it handed the offer over.
            drop(inner);
            return exchanges.carry(&self.chat, &self.message_id, &self.stream_id, offer);
        }
        let stream_id = &self.stream_id;
        let closed = |streaming: bool| {
            if streaming || self.ask == Ask::Refresh {
                Answer::close(stream_id)
            } else {
                Answer::Empty
            }
        };
        match &mut exchange.passive {
            Passive::Open {
                until,
                waiter,
                streaming,
                ..
            } => {
                if waiter.as_ref().is_some_and(|(id, _)| *id == self.id) {
                    *waiter = None;
                }
                if Instant::now() >= *until {
                    let answer = closed(*streaming);
                    exchange.passive = Passive::Closed;
                    answer
                } else {
                    *streaming = true;
                    Answer::stream(stream_id, false, Arc::from(""))
                }
            }
            Passive::Sending { .. } => Answer::stream(stream_id, false, Arc::from("")),
            Passive::Answered { content } => Answer::stream(stream_id, true, content.clone()),
            Passive::Closed => closed(false),
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let Some(mut rx) = self.rx.take() else {
            return;
        };
        // An offer already in the channel is dropped with it: its send goes by URL.
        rx.close();
        let mut inner = self.exchanges.lock();
        if let Some(exchange) = inner.find(&self.chat, &self.message_id)
            && let Passive::Open {
                waiter, streaming, ..
            } = &mut exchange.passive
            && waiter.as_ref().is_some_and(|(id, _)| *id == self.id)
        {
            *waiter = None;
            if self.ask == Ask::Message && !*streaming {
                exchange.passive = Passive::Closed;
            }
        }
    }
}

/// Takes a send's text back when the send ends (or is cancelled) before a response carried it.
struct Withdraw<'a> {
    exchanges: &'a Exchanges,
    chat: &'a Chat,
    message_id: &'a str,
    offer: u64,
}

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        let mut inner = self.exchanges.lock();
        if let Some(exchange) = inner.find(self.chat, self.message_id)
            && let Passive::Open { ready, .. } = &mut exchange.passive
            && ready.as_ref().is_some_and(|o| o.id == self.offer)
        {
            *ready = None;
        }
    }
}

/// A send's text in a callback's response. [`Delivery::handed`] when the HTTP server takes the
/// response body to write: the send is delivered. Dropped before that (the response was never
/// written): the send is given back, to go by a `response_url`.
pub(crate) struct Delivery {
    exchanges: Arc<Exchanges>,
    chat: Chat,
    message_id: String,
    offer: u64,
    content: Arc<str>,
    done: Option<oneshot::Sender<bool>>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("message_id", &self.message_id)
            .field("offer", &self.offer)
            .finish()
    }
}

impl Delivery {
    pub(crate) fn handed(mut self) {
        let Some(done) = self.done.take() else {
            return;
        };
        {
            let mut inner = self.exchanges.lock();
            if let Some(exchange) = inner.find(&self.chat, &self.message_id) {
                exchange.answered = true;
                if matches!(exchange.passive, Passive::Sending { offer, .. } if offer == self.offer)
                {
                    exchange.passive = Passive::Answered {
                        content: self.content.clone(),
                    };
                }
            }
        }
        let _ = done.send(true);
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        let Some(done) = self.done.take() else {
            return;
        };
        {
            let mut inner = self.exchanges.lock();
            if let Some(exchange) = inner.find(&self.chat, &self.message_id) {
                exchange.reopen(self.offer);
            }
        }
        let _ = done.send(false);
    }
}

/// What tells one send from another, for [`Exchanges::hold`].
fn fingerprint(quote: Option<&str>, text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    quote.hash(&mut hasher);
    text.hash(&mut hasher);
    hasher.finish()
}

fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    // Stream ids need only be unique; the counter beside this makes them so anyway.
    let _ = getrandom::fill(&mut bytes);
    u64::from_le_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn group() -> Chat {
        Chat::Group("g".into())
    }

    fn urls(exchanges: &Exchanges, chat: &Chat, quote: Option<&str>, now: u64) -> Option<String> {
        exchanges
            .take_url(chat, quote, at(now), true)
            .map(|t| t.url)
    }

    #[test]
    fn own_url_first_then_the_oldest_one_not_needed_each_once_until_expiry() {
        let ex = Exchanges::default();
        let g = group();
        let open = Some(Instant::now() + Duration::from_secs(600));
        ex.arrive(&g, "m1", Some("u1"), at(0), None);
        ex.arrive(&g, "m2", Some("u2"), at(10), open);
        ex.arrive(&g, "m3", Some("u3"), at(20), None);
        // m3's answer has not gone and cannot go passively: its URL is kept for it.
        assert_eq!(urls(&ex, &g, Some("m3"), 30).as_deref(), Some("u3"));
        // A stale reply (m0 is gone) takes the oldest URL whose message does not need it: m2's
        // answer can still go passively, m1's cannot (and it was not answered).
        assert_eq!(urls(&ex, &g, Some("m0"), 30).as_deref(), Some("u2"));
        // Answered messages' URLs are free for others too, the oldest first…
        ex.arrive(&g, "m5", Some("u5"), at(25), None);
        ex.answered(&g, "m5");
        assert_eq!(urls(&ex, &g, None, 30).as_deref(), Some("u5"));
        // …and only when none is left, one whose message still waits for its answer.
        assert_eq!(urls(&ex, &g, None, 30).as_deref(), Some("u1"));
        assert_eq!(urls(&ex, &g, None, 30), None);
        // URLs expire 55 minutes after their message.
        ex.arrive(&g, "m4", Some("u4"), at(100), None);
        assert_eq!(
            urls(&ex, &g, Some("m4"), 100 + RESPONSE_URL_TTL.as_secs()),
            None
        );
        assert!(
            ex.take_url(&Chat::Private("g".into()), None, at(0), true)
                .is_none()
        );
    }

    #[test]
    fn a_url_given_back_is_used_again_and_a_repeated_message_changes_nothing() {
        let ex = Exchanges::default();
        let chat = Chat::Private("u".into());
        let stream = ex.arrive(&chat, "m1", Some("u1"), at(0), None);
        assert_eq!(ex.arrive(&chat, "m1", Some("other"), at(1), None), stream);
        let taken = ex.take_url(&chat, Some("m1"), at(1), false).unwrap();
        assert!(ex.take_url(&chat, Some("m1"), at(1), true).is_none());
        // WeCom repeating the message does not bring the used URL back.
        ex.arrive(&chat, "m1", Some("u1"), at(1), None);
        assert!(ex.take_url(&chat, Some("m1"), at(1), true).is_none());
        ex.put_back(&chat, taken);
        assert_eq!(urls(&ex, &chat, Some("m1"), 2).as_deref(), Some("u1"));
    }

    #[test]
    fn chats_keep_a_bounded_number() {
        let ex = Exchanges::default();
        let chat = group();
        for i in 0..100 {
            ex.arrive(&chat, &format!("m{i}"), Some(&format!("u{i}")), at(i), None);
            ex.answered(&chat, &format!("m{i}"));
        }
        let mut count = 0;
        while ex.take_url(&chat, None, at(100), true).is_some() {
            count += 1;
        }
        assert_eq!(count, PER_CHAT);
        assert!(ex.lock().streams.len() <= PER_CHAT);
        ex.forget_all();
        assert!(ex.lock().streams.is_empty());
    }

    fn never() -> std::future::Pending<()> {
        std::future::pending()
    }

    #[tokio::test]
    async fn a_waiting_callback_carries_the_answer_and_the_send_is_delivered_when_handed() {
        let ex = Arc::new(Exchanges::default());
        let g = group();
        let soon = Instant::now() + Duration::from_secs(30);
        let stream = ex.arrive(&g, "m1", Some("u1"), at(0), Some(soon));
        // The callback waits before the core hears of the message.
        let waiting = ex.begin(Key::Message(&g, "m1"), Ask::Message).waiting();
        let responder = tokio::spawn(async move { waiting.finish(soon, never()).await });
        let sender = {
            let ex = ex.clone();
            let g = g.clone();
            tokio::spawn(async move { ex.offer(&g, "m1", "答案", Duration::from_secs(3)).await })
        };
        let Answer::Stream {
            id,
            finish,
            content,
            delivery,
        } = responder.await.unwrap()
        else {
            panic!("a stream");
        };
        assert_eq!(
            (id.as_str(), finish, &*content),
            (stream.as_str(), true, "答案")
        );
        delivery.unwrap().handed();
        assert!(sender.await.unwrap());
        // A refresh or a repeated callback gets the same answer; the URL is still there and,
        // the message answered, free for another send.
        match ex
            .respond(Key::Stream(&stream), Ask::Refresh, soon, never())
            .await
        {
            Answer::Stream {
                finish, content, ..
            } => assert_eq!((finish, &*content), (true, "答案")),
            Answer::Empty => panic!("the answer again"),
        }
        assert_eq!(urls(&ex, &g, None, 1).as_deref(), Some("u1"));
    }

    #[tokio::test]
    async fn a_response_never_written_gives_the_send_back() {
        let ex = Arc::new(Exchanges::default());
        let g = group();
        let soon = Instant::now() + Duration::from_secs(30);
        ex.arrive(&g, "m1", Some("u1"), at(0), Some(soon));
        // The callback waits before the core hears of the message.
        let waiting = ex.begin(Key::Message(&g, "m1"), Ask::Message).waiting();
        let responder = tokio::spawn(async move { waiting.finish(soon, never()).await });
        let sender = {
            let ex = ex.clone();
            let g = g.clone();
            tokio::spawn(async move { ex.offer(&g, "m1", "答案", Duration::from_secs(3)).await })
        };
        drop(responder.await.unwrap());
        assert!(!sender.await.unwrap(), "not delivered");
        // Still the message's own URL for the send's fallback.
        assert_eq!(urls(&ex, &g, Some("m1"), 1).as_deref(), Some("u1"));
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_too_late_for_the_callback_goes_in_a_refresh_and_the_window_closes() {
        let ex = Arc::new(Exchanges::default());
        let g = group();
        let wait = Duration::from_secs(3);
        let until = Instant::now() + wait + Duration::from_secs(60);
        let stream = ex.arrive(&g, "m1", Some("u1"), at(0), Some(until));
        // Nothing within the wait: an unfinished stream.
        match ex
            .respond(
                Key::Message(&g, "m1"),
                Ask::Message,
                Instant::now() + wait,
                never(),
            )
            .await
        {
            Answer::Stream {
                finish, content, ..
            } => assert_eq!((finish, &*content), (false, "")),
            Answer::Empty => panic!("a stream"),
        }
        // The answer comes between refreshes and waits for the next one.
        let sender = {
            let ex = ex.clone();
            let g = g.clone();
            tokio::spawn(async move { ex.offer(&g, "m1", "晚到的答案", wait).await })
        };
        tokio::task::yield_now().await;
        let Answer::Stream {
            finish,
            content,
            delivery,
            ..
        } = ex
            .respond(
                Key::Stream(&stream),
                Ask::Refresh,
                Instant::now() + wait,
                never(),
            )
            .await
        else {
            panic!("a stream");
        };
        assert_eq!((finish, &*content), (true, "晚到的答案"));
        delivery.unwrap().handed();
        assert!(sender.await.unwrap());

        // Another message's stream stays open until its window ends, then it is closed.
        let until = Instant::now() + wait + Duration::from_secs(60);
        let stream = ex.arrive(&g, "m2", Some("u2"), at(1), Some(until));
        tokio::time::advance(Duration::from_secs(50)).await;
        match ex
            .respond(
                Key::Stream(&stream),
                Ask::Refresh,
                Instant::now() + wait,
                never(),
            )
            .await
        {
            Answer::Stream {
                finish, content, ..
            } => assert_eq!((finish, &*content), (false, "")),
            Answer::Empty => panic!("a stream"),
        }
        tokio::time::advance(Duration::from_secs(20)).await;
        match ex
            .respond(
                Key::Stream(&stream),
                Ask::Refresh,
                Instant::now() + wait,
                never(),
            )
            .await
        {
            Answer::Stream {
                finish, content, ..
            } => assert_eq!((finish, &*content), (true, "")),
            Answer::Empty => panic!("closed"),
        }
        // Closed: a send does not go passively; m2's own answer takes its URL.
        assert!(!ex.offer(&g, "m2", "太晚了", wait).await);
        assert_eq!(urls(&ex, &g, Some("m2"), 2).as_deref(), Some("u2"));
        // A stream this process never opened is closed.
        match ex
            .respond(
                Key::Stream("unknown"),
                Ask::Refresh,
                Instant::now(),
                never(),
            )
            .await
        {
            Answer::Stream { id, finish, .. } => {
                assert_eq!((id.as_str(), finish), ("unknown", true))
            }
            Answer::Empty => panic!("closed"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_send_no_callback_collects_is_withdrawn_and_goes_once() {
        let ex = Arc::new(Exchanges::default());
        let g = group();
        let wait = Duration::from_secs(3);
        let until = Instant::now() + Duration::from_secs(60);
        let stream = ex.arrive(&g, "m1", Some("u1"), at(0), Some(until));
        // WeCom stopped refreshing: nobody collects the text.
        assert!(!ex.offer(&g, "m1", "答案", wait).await);
        // A refresh after that does not carry it (the send went by URL meanwhile).
        match ex
            .respond(
                Key::Stream(&stream),
                Ask::Refresh,
                Instant::now() + wait,
                never(),
            )
            .await
        {
            Answer::Stream {
                finish, content, ..
            } => assert_eq!((finish, &*content), (false, "")),
            Answer::Empty => panic!("a stream"),
        }
        // Answered by URL: the stream is closed at the next refresh.
        ex.answered(&g, "m1");
        match ex
            .respond(
                Key::Stream(&stream),
                Ask::Refresh,
                Instant::now() + wait,
                never(),
            )
            .await
        {
            Answer::Stream {
                finish, content, ..
            } => assert_eq!((finish, &*content), (true, "")),
            Answer::Empty => panic!("closed"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_callback_cancelled_while_waiting_sends_the_answer_by_url_at_once() {
        let ex = Arc::new(Exchanges::default());
        let g = group();
        let until = Instant::now() + Duration::from_secs(60);
        ex.arrive(&g, "m1", Some("u1"), at(0), Some(until));
        let waiting = ex.begin(Key::Message(&g, "m1"), Ask::Message).waiting();
        // WeCom hung up: the handler's future, and with it the wait, is dropped.
        drop(waiting);
        let start = Instant::now();
        assert!(!ex.offer(&g, "m1", "答案", Duration::from_secs(3)).await);
        assert_eq!(Instant::now(), start, "no wait for a callback that is gone");
        assert_eq!(urls(&ex, &g, Some("m1"), 1).as_deref(), Some("u1"));
    }

    #[test]
    fn held_sends_are_remembered_until_they_go() {
        let ex = Exchanges::default();
        let g = group();
        assert!(!ex.was_held(&g, Some("m1"), "回复"));
        ex.hold(&g, Some("m1"), "回复");
        assert!(ex.was_held(&g, Some("m1"), "回复"));
        assert!(!ex.was_held(&g, Some("m1"), "另一条"));
        assert!(!ex.was_held(&Chat::Private("g".into()), Some("m1"), "回复"));
        ex.unhold(&g, Some("m1"), "回复");
        assert!(!ex.was_held(&g, Some("m1"), "回复"));
        for i in 0..100 {
            ex.hold(&g, None, &format!("通知{i}"));
        }
        assert!(!ex.was_held(&g, None, "通知0") && ex.was_held(&g, None, "通知99"));
    }

    #[tokio::test]
    async fn the_waiting_message_is_the_oldest_unanswered_one_with_a_callback_or_stream() {
        let ex = Arc::new(Exchanges::default());
        let g = group();
        let open = Some(Instant::now() + Duration::from_secs(60));
        ex.arrive(&g, "m1", Some("u1"), at(0), open);
        ex.arrive(&g, "m2", Some("u2"), at(1), open);
        // Nobody waits yet (no callback, no stream).
        assert_eq!(ex.waiting_message(&g), None);
        let _w2 = ex.begin(Key::Message(&g, "m2"), Ask::Message).waiting();
        assert_eq!(ex.waiting_message(&g).as_deref(), Some("m2"));
        let _w1 = ex.begin(Key::Message(&g, "m1"), Ask::Message).waiting();
        assert_eq!(ex.waiting_message(&g).as_deref(), Some("m1"));
        ex.answered(&g, "m1");
        assert_eq!(ex.waiting_message(&g).as_deref(), Some("m2"));
    }

    #[tokio::test]
    async fn without_a_passive_window_the_callback_answers_empty_at_once() {
        let ex = Arc::new(Exchanges::default());
        let g = group();
        ex.arrive(&g, "m1", Some("u1"), at(0), None);
        let far = Instant::now() + Duration::from_secs(3600);
        assert!(matches!(
            ex.respond(Key::Message(&g, "m1"), Ask::Message, far, never())
                .await,
            Answer::Empty
        ));
        assert!(!ex.offer(&g, "m1", "答案", Duration::from_secs(3)).await);
    }
}
