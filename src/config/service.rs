//! `bot-config/bangban.toml`: how the service runs — listen address, data directory, the enabled
//! adapters and their options, outbox pacing. Secrets never live here: they come from the
//! environment. (Filled in by the runtime work.)

use super::ConfigError;
use std::path::Path;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Service {}

/// Loads `bangban.toml` from the config directory; problems are pushed to `errors`.
pub fn load(_dir: &Path, _errors: &mut Vec<ConfigError>) -> Service {
    Service::default()
}
