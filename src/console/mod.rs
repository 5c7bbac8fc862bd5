//! The admin console, served by `bangban run` on the same address as the adapters: web pages
//! (`/login`, `/admin/…`, server-rendered, in Chinese, phone-sized, no front-end build) and the
//! JSON API under `/api/v1/` that mirrors them. Both go through [`items`] for every change to
//! the guide and through [`auth`] for who is asking.
//!
//! - [`auth`]: sign-in, sessions, API tokens, CSRF, the sign-in rate limit.
//! - [`items`]: search, save, create, retire, restore, compare — revisions in sled, audited,
//!   taken in by the live guide at once.
//! - [`api`]: `/api/v1/…` (JSON, errors as `{"error":{"code","message"}}`).
//! - [`pages`]: the HTML pages.
//! - [`import`]: spreadsheet import — preview, then commit on confirmation, all or nothing.
//! - [`sandbox`]: talk to the real engine as a resident of a chosen village.
//! - [`desk`]: the agents' tickets; [`stats`]: the statistics page and API; [`broadcasts`]:
//!   broadcasts (群发) — preview, confirm now or at a time, cancel, delivery per group.

pub mod api;
pub mod auth;
pub mod broadcasts;
pub mod desk;
pub mod gaps;
pub mod import;
pub mod items;
pub mod pages;
pub mod sandbox;
pub mod stats;

use crate::engine::Engine;
use crate::runtime::Poster;
use auth::Limiter;
use axum::Router;
use std::sync::{Arc, OnceLock};

/// What the console's handlers share.
pub struct Console {
    pub engine: Arc<Engine>,
    pub limiter: Limiter,
    pub sandbox: sandbox::Sandbox,
    pub imports: import::Imports,
    /// The running service's way into the outbox; set once the runtime has started (before
    /// any request is served).
    pub poster: OnceLock<Poster>,
}

impl Console {
    pub fn new(engine: Arc<Engine>) -> Arc<Console> {
        Arc::new(Console {
            engine,
            limiter: Limiter::default(),
            sandbox: sandbox::Sandbox::default(),
            imports: import::Imports::default(),
            poster: OnceLock::new(),
        })
    }
}

/// The console's pages and API.
pub fn router(console: Arc<Console>) -> Router {
    Router::new()
        .merge(api::routes())
        .merge(pages::routes())
        .merge(stats::routes())
        .merge(desk::routes())
        .merge(broadcasts::routes())
        .with_state(console)
}

/// Unix milliseconds now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
