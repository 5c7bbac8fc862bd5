//! The live item guide: the catalog the bot answers from and the matcher trained on it, swapped
//! atomically when an admin saves.
//!
//! sled is the truth once the bot has started ([`crate::store::catalog`]); the first start seeds
//! it from `bot-config/catalog/`. A question takes one [`Live`] snapshot and finishes on it, so a
//! save never changes the card under a question being answered.
//!
//! A save takes effect in two steps, both off the question path:
//! 1. **At once**, when the set of item ids is unchanged (an edit of a card's materials, say):
//!    the new catalog is swapped in with the current matcher, whose classes are still the same
//!    items. The next question is answered from the new card.
//! 2. **After retraining** (about a second; from the model cache when the examples were seen
//!    before, e.g. a restore): a new matcher that has learned the new names, aliases and example
//!    questions, and new or retired items, swapped in with its catalog.
//!
//! Saves during a retraining are coalesced: one more retraining follows with the latest catalog.

use crate::catalog::{Catalog, Item};
use crate::config::Config;
use crate::store::Store;
use crate::understand::Matcher;
use arc_swap::ArcSwap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// What one question is answered from.
pub struct Live {
    pub catalog: Catalog,
    pub matcher: Arc<Matcher>,
    /// Counts the swaps since start; each saved change makes at least one.
    pub generation: u64,
}

pub struct Guide {
    live: ArcSwap<Live>,
    config: Arc<Config>,
    store: Option<Store>,
    retrain: Mutex<Retrain>,
    swapped: watch::Sender<u64>,
}

#[derive(Default)]
struct Retrain {
    running: bool,
    again: bool,
    /// The thread of the latest retraining, for [`Guide::finish_retraining`].
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Guide {
    /// The guide of the data directory: seeded from `config.catalog` on the first start, then
    /// read from sled. If the data directory cannot be read the shipped catalog is used (and the
    /// error logged); the runtime reports the store's health.
    pub fn open(config: Arc<Config>, store: &Store) -> Arc<Guide> {
        let catalog = match load(&config, store) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"),
                    "could not read the item guide from the data directory; answering from bot-config/catalog");
                config.catalog.clone()
            }
        };
        Guide::with_catalog(config, Some(store.clone()), catalog)
    }

    /// A guide of the configuration's catalog alone, kept nowhere (for `chat` and tests).
    pub fn fixed(config: Arc<Config>) -> Arc<Guide> {
        let catalog = config.catalog.clone();
        Guide::with_catalog(config, None, catalog)
    }

    fn with_catalog(config: Arc<Config>, store: Option<Store>, catalog: Catalog) -> Arc<Guide> {
        let matcher = Arc::new(train(&config, &catalog));
        let (swapped, _) = watch::channel(0);
        Arc::new(Guide {
            live: ArcSwap::from_pointee(Live {
                catalog,
                matcher,
                generation: 0,
            }),
            config,
            store,
            retrain: Mutex::new(Retrain::default()),
            swapped,
        })
    }

    /// The current snapshot: answer a whole question from it.
    pub fn load(&self) -> Arc<Live> {
        self.live.load_full()
    }

    /// The generation swapped in last, and each one as it comes.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.swapped.subscribe()
    }

    /// Takes in the items saved in the data directory: at once when only cards changed, and
    /// after retraining in every case. Returns without waiting for the retraining.
    pub fn reload(self: &Arc<Self>) -> anyhow::Result<()> {
        let store = self
            .store
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("this guide is not kept in a data directory"))?;
        {
            // Read and swapped under the lock the retraining swaps under: never an older card
            // over a newer one.
            let _swapping = self.retrain.lock().expect("retrain lock");
            let catalog = load(&self.config, store)?;
            let now = self.load();
            if same_items(&now.catalog, &catalog) {
                self.swap(catalog, now.matcher.clone());
            }
        }
        self.start_retrain();
        Ok(())
    }

    fn swap(&self, catalog: Catalog, matcher: Arc<Matcher>) {
        let generation = self.load().generation + 1;
        self.live.store(Arc::new(Live {
            catalog,
            matcher,
            generation,
        }));
        self.swapped.send_replace(generation);
    }

    fn start_retrain(self: &Arc<Self>) {
        {
            let mut r = self.retrain.lock().expect("retrain lock");
            if r.running {
                r.again = true;
                return;
            }
            r.running = true;
        }
        let guide = self.clone();
        let thread = std::thread::spawn(move || {
            loop {
                match guide.store.as_ref().map(|s| load(&guide.config, s)) {
                    Some(Ok(catalog)) => {
                        let matcher = Arc::new(train(&guide.config, &catalog));
                        // A save during the training swapped newer cards in: keep them, with
                        // this matcher when it knows the same items. Otherwise another round
                        // follows (the save asked for it) and swaps both.
                        let _swapping = guide.retrain.lock().expect("retrain lock");
                        let latest = guide
                            .store
                            .as_ref()
                            .and_then(|s| load(&guide.config, s).ok());
                        match latest {
                            Some(latest) if same_items(&latest, &catalog) => {
                                guide.swap(latest, matcher)
                            }
                            // An item was created or retired meanwhile: the next round.
                            Some(_) => {}
                            None => guide.swap(catalog, matcher),
                        }
                    }
                    Some(Err(e)) => {
                        tracing::error!(error = %format!("{e:#}"), "could not reload the item guide to retrain")
                    }
                    None => {}
                }
                let mut r = guide.retrain.lock().expect("retrain lock");
                if !r.again {
                    r.running = false;
                    return;
                }
                r.again = false;
            }
        });
        self.retrain.lock().expect("retrain lock").thread = Some(thread);
    }

    /// Waits for a retraining still running (at shutdown, once nothing saves any more): it holds
    /// the data directory open, and must not close it after the service has stopped.
    pub async fn finish_retraining(&self) {
        let thread = self.retrain.lock().expect("retrain lock").thread.take();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

/// Whether two catalogs hold the same items in the same order (a matcher of one fits the other).
fn same_items(a: &Catalog, b: &Catalog) -> bool {
    a.len() == b.len() && a.items().iter().zip(b.items()).all(|(x, y)| x.id == y.id)
}

/// The items the bot answers from: the stored ones that are not retired, seeded first if the
/// data directory is new.
pub fn load(config: &Config, store: &Store) -> anyhow::Result<Catalog> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    if store.seed_catalog(config.catalog.items(), now)? {
        tracing::info!(
            items = config.catalog.len(),
            "item guide seeded from bot-config/catalog"
        );
    }
    let items: Vec<Item> = store
        .catalog_current()?
        .into_iter()
        .filter(|r| !r.retired)
        .map(|r| r.item)
        .collect();
    Catalog::from_items(items).map_err(|e| anyhow::anyhow!("the stored item guide is invalid: {e}"))
}

fn train(config: &Config, catalog: &Catalog) -> Matcher {
    if catalog.items() == config.catalog.items() {
        return crate::model_cache::matcher(config);
    }
    let mut c = config.clone();
    c.catalog = catalog.clone();
    crate::model_cache::matcher(&c)
}
