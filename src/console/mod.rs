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
//! - [`import`]: spreadsheet import — preview, then commit on confirmation, all or nothing;
//!   [`export`]: the guide written out (the export page and API, and `bangban catalog export`).
//! - [`sandbox`]: talk to the real engine as a resident of a chosen village.
//! - [`desk`]: the agents' tickets; [`stats`]: the statistics page and API; [`broadcasts`]:
//!   broadcasts (群发) — preview, confirm now or at a time, cancel, delivery per group.
//!
//! Every route is registered through [`Routes`], which lists the writes (anything but GET) as
//! it goes: [`write_routes`] is the router's own list, so a test can try each one signed out.

pub mod api;
pub mod auth;
pub mod broadcasts;
pub mod desk;
pub mod export;
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
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{self, MethodRouter};
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
    routes().router.with_state(console)
}

/// Every write route of the console (each method of each path but GET), as the router has them.
pub fn write_routes() -> Vec<WriteRoute> {
    routes().writes
}

fn routes() -> Routes {
    Routes::new()
        .merge(api::routes())
        .merge(pages::routes())
        .merge(stats::routes())
        .merge(desk::routes())
        .merge(broadcasts::routes())
}

/// A route that changes something: its method and path (with `{…}` parameters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteRoute {
    pub method: Method,
    pub path: &'static str,
    /// Signing in (`POST /login`, `POST /api/v1/session`): the one write open to everyone.
    pub sign_in: bool,
}

impl WriteRoute {
    /// Under `/api/`: answered as JSON.
    pub fn api(&self) -> bool {
        self.path.starts_with("/api/")
    }
}

/// The console's router as it is built, with the list of its writes. Handlers are registered
/// only through it, so no write route is missing from [`write_routes`].
pub struct Routes {
    router: Router<Arc<Console>>,
    writes: Vec<WriteRoute>,
}

impl Routes {
    pub fn new() -> Routes {
        Routes {
            router: Router::new(),
            writes: Vec::new(),
        }
    }

    fn add(
        mut self,
        method: Method,
        path: &'static str,
        route: MethodRouter<Arc<Console>>,
        sign_in: bool,
    ) -> Routes {
        if method != Method::GET {
            self.writes.push(WriteRoute {
                method,
                path,
                sign_in,
            });
        }
        self.router = self.router.route(path, route);
        self
    }

    pub fn get<H: Handler<T, Arc<Console>>, T: 'static>(self, path: &'static str, h: H) -> Routes {
        self.add(Method::GET, path, routing::get(h), false)
    }

    pub fn post<H: Handler<T, Arc<Console>>, T: 'static>(self, path: &'static str, h: H) -> Routes {
        self.add(Method::POST, path, routing::post(h), false)
    }

    pub fn put<H: Handler<T, Arc<Console>>, T: 'static>(self, path: &'static str, h: H) -> Routes {
        self.add(Method::PUT, path, routing::put(h), false)
    }

    pub fn delete<H: Handler<T, Arc<Console>>, T: 'static>(
        self,
        path: &'static str,
        h: H,
    ) -> Routes {
        self.add(Method::DELETE, path, routing::delete(h), false)
    }

    /// The sign-in form or API: a POST anyone may make.
    pub fn sign_in<H: Handler<T, Arc<Console>>, T: 'static>(
        self,
        path: &'static str,
        h: H,
    ) -> Routes {
        self.add(Method::POST, path, routing::post(h), true)
    }

    /// Bodies of the routes added so far over `bytes` are refused (413).
    pub fn body_limit(mut self, bytes: usize) -> Routes {
        self.router = self.router.layer(DefaultBodyLimit::max(bytes));
        self
    }

    pub fn merge(mut self, other: Routes) -> Routes {
        self.router = self.router.merge(other.router);
        self.writes.extend(other.writes);
        self
    }
}

impl Default for Routes {
    fn default() -> Routes {
        Routes::new()
    }
}

/// Unix milliseconds now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
