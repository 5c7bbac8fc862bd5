//! `bot-config/org.toml`: the organisation — district centre, township centres, village stations,
//! their chat groups per platform, agents and admins. (Filled in by the help-desk work.)

use super::ConfigError;
use std::path::Path;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Org {}

/// Loads `org.toml` from the config directory; problems are pushed to `errors`.
pub fn load(_dir: &Path, _errors: &mut Vec<ConfigError>) -> Org {
    Org::default()
}
