//! The runtime's life, on real sled files: with no platform enabled the clock work still runs
//! (an unclaimed ticket climbs the ladder under tokio's paused clock); an adapter that refuses
//! its configuration at start fails the start, and one that stops on its own later is reported,
//! so that the service stops instead of looking healthy while serving nobody.

mod onebot_common;

use bangban::engine::Engine;
use bangban::runtime::{AdapterFailed, Runtime, StartError};
use bangban::store::Store;
use bangban::store::tickets::{Change, Level, Ticket};
use bangban_contract::{
    Adapter, AdapterError, BoxFuture, Chat, Delivered, EventSink, Incoming, Outgoing, Platform,
    SendError,
};
use onebot_common::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::oneshot;

/// A resident's @-question no item of the guide covers: it becomes a ticket.
fn uncovered(message_id: &str) -> Incoming {
    Incoming {
        platform: Platform::Onebot,
        account: BOT.into(),
        chat: Chat::Group("900001".into()),
        sender: "700001".into(),
        sender_name: Some("李阿姨".into()),
        message_id: message_id.into(),
        text: "村里的路灯坏了找谁".into(),
        mentions_bot: true,
        reply_to: None,
    }
}

#[tokio::test(start_paused = true)]
async fn with_no_platform_enabled_the_clock_work_runs_until_stopped() {
    real_time_watchdog(Duration::from_secs(30));
    let (_dir, data) = data_dir();
    let mut config = config();
    config.service.onebot.enabled = false;
    let config = Arc::new(config);
    let store = Store::open(&data).unwrap();
    let engine = Arc::new(Engine::new(config.clone(), store.clone()));
    let runtime = Runtime::start(config.clone(), store.clone(), engine, Vec::new()).unwrap();

    // Virtual minutes pass with no adapter to report anything: the first ticks are behind us.
    tokio::time::sleep(Duration::from_secs(150)).await;
    // Now a ticket nobody claimed for thirty days appears in the data directory (as one left by
    // an earlier run).
    let earlier = Engine::new(config.clone(), store.clone());
    let asked = SystemTime::now() - Duration::from_secs(30 * 86_400);
    earlier.handle_at(&uncovered("m-1"), asked).await.unwrap();
    let tickets = store.tickets().unwrap();
    let waiting = tickets.waiting().unwrap();
    assert_eq!(waiting.len(), 1);
    let id = waiting[0];

    // A tick of the running loop takes it up the ladder (maybe already while the ticket was
    // being flushed: virtual time runs on meanwhile). Were the loop gone, this would wait until
    // the watchdog ends the test.
    let escalated = |t: &Ticket| {
        t.events
            .iter()
            .any(|e| matches!(e.change, Change::Escalated { .. }))
    };
    loop {
        let ticket = tickets.get(id).unwrap().unwrap();
        if escalated(&ticket) {
            assert_ne!(ticket.level, Level::Village);
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    runtime.shutdown().await;
}

/// An adapter whose `run` ends when told: with an error, a panic, or never.
struct Scripted {
    platform: Platform,
    /// `Err` at once, from `run` itself: a configuration refused at start.
    refuse_at_start: bool,
    end: Mutex<Option<oneshot::Receiver<End>>>,
    /// Set when the future `run` returned is dropped (how the core stops an adapter).
    dropped: Arc<AtomicBool>,
}

enum End {
    Refuse,
    Panic,
}

impl Scripted {
    fn new(platform: Platform, refuse_at_start: bool) -> (Arc<Scripted>, oneshot::Sender<End>) {
        let (tell, end) = oneshot::channel();
        let adapter = Scripted {
            platform,
            refuse_at_start,
            end: Mutex::new(Some(end)),
            dropped: Arc::default(),
        };
        (Arc::new(adapter), tell)
    }
}

struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Adapter for Scripted {
    fn platform(&self) -> Platform {
        self.platform
    }

    fn run(
        self: Arc<Self>,
        _sink: Arc<dyn EventSink>,
    ) -> BoxFuture<'static, Result<(), AdapterError>> {
        if self.refuse_at_start {
            return Box::pin(std::future::ready(Err(AdapterError::new(
                "the URL has no host",
            ))));
        }
        let end = self.end.lock().unwrap().take().unwrap();
        let guard = SetOnDrop(self.dropped.clone());
        Box::pin(async move {
            let _guard = guard;
            match end.await {
                Ok(End::Refuse) => Err(AdapterError::new("the server refused the app secret")),
                Ok(End::Panic) => panic!("a bug in the adapter"),
                Err(_) => std::future::pending().await,
            }
        })
    }

    fn send<'a>(&'a self, _: &'a Outgoing) -> BoxFuture<'a, Result<Delivered, SendError>> {
        Box::pin(std::future::ready(Err(SendError::Retryable {
            reason: "not connected".into(),
            maybe_delivered: false,
        })))
    }

    fn connected_accounts(&self) -> Vec<String> {
        Vec::new()
    }
}

fn runtime_parts(data: &std::path::Path) -> (Arc<bangban::config::Config>, Store, Arc<Engine>) {
    let config = Arc::new(config());
    let store = Store::open(data).unwrap();
    let engine = Arc::new(Engine::new(config.clone(), store.clone()));
    (config, store, engine)
}

#[tokio::test]
async fn an_adapter_refusing_its_configuration_fails_the_start_and_stops_the_others() {
    let (_dir, data) = data_dir();
    let (config, store, engine) = runtime_parts(&data);
    let (fine, _keep) = Scripted::new(Platform::Telegram, false);
    let (refusing, _) = Scripted::new(Platform::Wecom, true);
    let adapters: Vec<Arc<dyn Adapter>> = vec![fine.clone(), refusing];
    let error = match Runtime::start(config, store, engine, adapters) {
        Err(StartError::Adapter(failure)) => failure,
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("started with an adapter that refused its configuration"),
    };
    assert_eq!(
        error,
        AdapterFailed {
            platform: "wecom",
            reason: "the URL has no host".into(),
            refused_config: true,
        }
    );
    assert!(
        fine.dropped.load(Ordering::SeqCst),
        "the adapter started first was not stopped"
    );
}

#[tokio::test(start_paused = true)]
async fn an_adapter_that_stops_on_its_own_later_is_reported() {
    for (end, refused_config, reason) in [
        (End::Refuse, true, "the server refused the app secret"),
        (End::Panic, false, "the adapter panicked"),
    ] {
        let (_dir, data) = data_dir();
        let (config, store, engine) = runtime_parts(&data);
        let (adapter, tell) = Scripted::new(Platform::Telegram, false);
        let mut runtime = Runtime::start(config, store, engine, vec![adapter]).unwrap();
        // Nothing to report while it runs (an hour of virtual time).
        assert!(
            tokio::time::timeout(Duration::from_secs(3600), runtime.failed())
                .await
                .is_err()
        );
        let _ = tell.send(end);
        let failure = runtime.failed().await;
        assert_eq!(
            failure,
            AdapterFailed {
                platform: "telegram",
                reason: reason.into(),
                refused_config,
            }
        );
        runtime.shutdown().await;
    }
}
