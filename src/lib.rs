//! bangban (帮办): the platform-blind core of a district's help-and-proxy chat-group bot.
//! Start with ARCHITECTURE.md for the map.

pub mod broadcast;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod console;
pub mod engine;
pub mod guide;
pub mod helpdesk;
pub mod model_cache;
pub mod reply;
pub mod runtime;
pub mod server;
pub mod stats;
pub mod store;
pub mod understand;
