//! The help desk: what the bot cannot answer becomes a ticket for a person, and the resident hears
//! back.
//!
//! - [`escalate`]: a ticket is opened (once per source message), flushed, and only then the
//!   resident is told its number and who follows up; the agents are notified where they are.
//! - [`admin`]: admins' chat commands — add an alias or an example question to an item, show its
//!   revision — each confirmed before it becomes a revision.
//! - [`agents`]: the agents' commands ([`commands`] parses them) — claim, reply (relayed to the
//!   resident's group, quoting and @-mentioning them), transfer, resolve, list, show.
//! - [`ladder`]: an unclaimed ticket climbs village → township centre → district centre after T1
//!   and T2 of the responsible agents' duty time ([`hours`]: their own `duty`, or office hours).
//! - [`rating`]: 好差评 after 办结; 不满意 or worse opens a follow-up for the township centre.
//! - [`ledger`]: the 帮代办服务台账 as rows, CSV and XLSX; [`http`] serves it from the running bot.
//! - [`digest`]: each agents' chat gets one short message a day about yesterday.
//! - [`privacy`]: personal numbers found, masked in logs and wherever a group could see them.
//!
//! **Invariant: the desk touches sled only through [`crate::store`], and every write it reports
//! in its returned actions is flushed before it returns.** Each command is idempotent per source
//! message: handling the same platform message again re-announces what was done, and changes
//! nothing.

pub mod admin;
pub mod agents;
pub mod commands;
pub mod digest;
pub mod escalate;
pub mod hours;
pub mod http;
pub mod ladder;
pub mod ledger;
pub mod notify;
pub mod privacy;
pub mod rating;

use crate::config::Config;
use crate::config::org::Person;
use crate::guide::Guide;
use crate::store::Store;
use crate::store::tickets::{Actor, Role};
use std::sync::Arc;

/// The help desk, built once by the engine.
pub struct Desk {
    config: Arc<Config>,
    store: Store,
    /// For the item names in agents' notices, and the admins' edits.
    guide: Arc<Guide>,
    /// Admins' changes waiting for their `确认`.
    pendings: admin::Pendings,
}

impl Desk {
    pub fn new(config: Arc<Config>, store: Store, guide: Arc<Guide>) -> Desk {
        Desk {
            config,
            store,
            guide,
            pendings: admin::Pendings::default(),
        }
    }
}

/// The audit-trail actor for an agent or admin.
pub fn actor(person: Person<'_>) -> Actor {
    Actor {
        role: match person {
            Person::Agent(_) => Role::Agent,
            Person::Admin(_) => Role::Admin,
        },
        id: person.id().to_string(),
        name: person.name().to_string(),
    }
}

/// Fills `{name}` placeholders of a wording template.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// Unix milliseconds → seconds, for the office-hours clock.
pub(crate) fn secs(ms: u64) -> i64 {
    (ms / 1000) as i64
}
