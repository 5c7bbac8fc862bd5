//! `bot-config/org.toml`: the organisation — the district centre, the township centres, the village
//! stations and their chat groups per platform, the agents (帮办代办专员), what they cover and
//! their own duty hours, the admins, the agents' chats, office hours, the ladder's escalation
//! times, how long dialogue context lasts, how long after 办结 a rating is taken, and the help
//! desk's wording for residents.
//!
//! Tables are keyed by a stable id (`[villages] v01 = { … }`) so that an error names
//! `villages.v01.township` and other records refer to each other by id.

use super::{ConfigError, read_toml};
use crate::helpdesk::hours::{self, DutySpec, HoursSpec, OfficeHours};
use bangban_contract::Platform;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

/// The organisation, checked and indexed.
#[derive(Debug, Clone, Default)]
pub struct Org {
    pub district: Centre,
    /// In id order.
    pub townships: Vec<Township>,
    /// In id order.
    pub villages: Vec<Village>,
    /// In id order.
    pub agents: Vec<Agent>,
    pub admins: Vec<Admin>,
    /// Group chats where agents are notified and work (the agents' group).
    pub agents_chats: Vec<AgentsChat>,
    pub hours: OfficeHours,
    pub escalation: Escalation,
    /// How long dialogue context (the item just discussed, a pending choice) lasts, in seconds.
    pub context_secs: i64,
    /// How long after 办结 a resident's reply counts as their rating, in seconds.
    pub rating_window: i64,
    pub digest: Digest,
    pub replies: DeskReplies,
    chats: HashMap<(Platform, String), usize>,
    people: HashMap<(Platform, String), PersonRef>,
}

/// A service centre or station, as residents are told about it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Centre {
    pub name: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub phone: String,
    /// Opening hours as residents read them (display only; the help desk uses `[office_hours]`
    /// and the agents' `duty`).
    #[serde(default)]
    pub hours: String,
}

impl Centre {
    /// `大湖村便民服务站（地址：…，电话：…）`: what is known, nothing invented.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.address.is_empty() {
            parts.push(format!("地址：{}", self.address));
        }
        if !self.phone.is_empty() {
            parts.push(format!("电话：{}", self.phone));
        }
        if parts.is_empty() {
            self.name.clone()
        } else {
            format!("{}（{}）", self.name, parts.join("，"))
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Township {
    pub id: String,
    /// 庙岭镇.
    pub name: String,
    /// 庙岭镇便民服务中心.
    pub centre: Centre,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Village {
    pub id: String,
    /// 大湖村.
    pub name: String,
    /// Township id.
    pub township: String,
    /// 大湖村便民服务站.
    pub station: Centre,
    /// The village's resident groups, per platform.
    pub groups: PerPlatform<Vec<Id>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    pub id: String,
    pub name: String,
    /// Village ids this agent serves (village station agents).
    pub villages: Vec<String>,
    /// Township ids this agent serves (township centre agents): all their villages too.
    pub townships: Vec<String>,
    /// A district centre agent: the top of the ladder, may act on every ticket.
    pub district: bool,
    /// The agent's own user id on each platform.
    pub accounts: PerPlatform<Option<Id>>,
    /// Also notify the agent in a private chat (besides the agents' group).
    pub private: bool,
    /// The agent's own duty hours (on the office's calendar); `None`: office hours. See
    /// [`Org::duty`].
    pub duty: Option<OfficeHours>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Admin {
    pub id: String,
    pub name: String,
    pub accounts: PerPlatform<Option<Id>>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentsChat {
    pub platform: Platform,
    pub chat: Id,
    /// The bot account that is in this chat; by default the account the ticket came in on, when
    /// it is on the same platform.
    #[serde(default)]
    pub account: Option<Id>,
    /// The township (id) whose centre works in this chat: its daily digest comes here. Without
    /// one, the chat gets the whole district's digest.
    #[serde(default)]
    pub township: Option<String>,
}

/// The daily digest to the agents' chats (see `helpdesk::digest`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Digest {
    /// Local time of day it is sent, seconds after midnight; `None`: switched off.
    pub at: Option<i64>,
    /// A ticket still open after this much office time counts as overdue, seconds.
    pub overdue: i64,
}

impl Default for Digest {
    fn default() -> Digest {
        Digest {
            at: Some(8 * 3600 + 1800),
            overdue: 7 * 3600,
        }
    }
}

/// The ladder: an unclaimed ticket goes to the township centre after `t1` and to the district
/// centre after `t2` (seconds, both from when it began to wait) of the responsible agents' duty
/// time (see `helpdesk::ladder`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Escalation {
    pub t1: i64,
    pub t2: i64,
}

impl Default for Escalation {
    fn default() -> Escalation {
        Escalation {
            t1: 30 * 60,
            t2: 120 * 60,
        }
    }
}

/// The help desk's wording for residents (`[replies]` in `org.toml`). `{name}` placeholders are
/// filled in by the help desk; each template's doc names the ones it takes.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeskReplies {
    /// Added to the hand-over reply: `{ticket}` number, `{who}` follows up.
    pub ticket: String,
    /// Added when the ticket came in while none of the agents who follow it up was on duty:
    /// `{when}` the earliest of them is next on duty.
    pub after_hours: String,
    /// Added on a platform where the bot can only reply to a message just received (the QQ
    /// official bot, the WeCom AI bot): the agent's answer reaches the resident with their next
    /// message. Said in groups (it may ask for an @), and in private chats unless
    /// `reply_later_private` is set.
    pub reply_later: String,
    /// `reply_later` for a private chat with the bot (no group, no @). Optional; without it
    /// `reply_later` is used there too.
    #[serde(default)]
    pub reply_later_private: String,
    /// An ID-card, phone or bank-card number was posted in a group: `{what}` names which.
    pub privacy: String,
    /// An agent's answer relayed to the resident: `{agent}`, `{text}`, `{ticket}`.
    pub agent_reply: String,
    /// The ticket is resolved; asks for a rating: `{ticket}`, `{agent}`.
    pub resolved: String,
    /// `resolved` where the bot sees only messages that @-mention it (a group of the QQ
    /// official bot or the WeCom AI bot): the resident must @ the bot with the number. Optional;
    /// without it `resolved` is used there too.
    #[serde(default)]
    pub resolved_mention: String,
    /// Thanks for a rating of 基本满意 or better.
    pub rated: String,
    /// A rating of 不满意 or worse: `{who}` will call back, `{ticket}` the follow-up ticket.
    pub rated_bad: String,
    /// Someone who is not an agent used an agent command.
    pub not_agent: String,
    /// Added to a "where" answer: `{places}` the asker's own village station and township centre.
    pub nearby: String,
}

/// A user id on a platform: written as a string or a number in `org.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(pub String);

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Id, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Id;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an id as a string or a whole number")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Id, E> {
                Ok(Id(v.trim().to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Id, E> {
                Ok(Id(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Id, E> {
                Ok(Id(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// One value per platform, written as `{ onebot = …, wecom = … }`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PerPlatform<T> {
    pub onebot: T,
    pub wecom: T,
    pub qqbot: T,
    pub telegram: T,
    pub sandbox: T,
}

impl<T> PerPlatform<T> {
    pub fn get(&self, platform: Platform) -> &T {
        match platform {
            Platform::Onebot => &self.onebot,
            Platform::Wecom => &self.wecom,
            Platform::Qqbot => &self.qqbot,
            Platform::Telegram => &self.telegram,
            Platform::Sandbox => &self.sandbox,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (Platform, &T)> {
        [
            (Platform::Onebot, &self.onebot),
            (Platform::Wecom, &self.wecom),
            (Platform::Qqbot, &self.qqbot),
            (Platform::Telegram, &self.telegram),
            (Platform::Sandbox, &self.sandbox),
        ]
        .into_iter()
    }
}

impl PerPlatform<Option<Id>> {
    /// The user id on `platform`, if any.
    pub fn on(&self, platform: Platform) -> Option<&str> {
        self.get(platform).as_ref().map(|id| id.0.as_str())
    }
}

/// Someone allowed to use the agents' commands.
#[derive(Debug, Clone, Copy)]
pub enum Person<'a> {
    Agent(&'a Agent),
    Admin(&'a Admin),
}

impl Person<'_> {
    pub fn id(&self) -> &str {
        match self {
            Person::Agent(a) => &a.id,
            Person::Admin(a) => &a.id,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Person::Agent(a) => &a.name,
            Person::Admin(a) => &a.name,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum PersonRef {
    Agent(usize),
    Admin(usize),
}

/// The sandbox group of village `id` (the console's sandbox page talks in it).
pub fn sandbox_group(village: &str) -> String {
    format!("sandbox-{village}")
}

impl Org {
    /// The village whose resident group `chat` is.
    pub fn village_of_chat(&self, platform: Platform, chat: &str) -> Option<&Village> {
        self.chats
            .get(&(platform, chat.to_string()))
            .map(|&i| &self.villages[i])
    }

    /// Whether `chat` is one of the agents' chats.
    pub fn is_agents_chat(&self, platform: Platform, chat: &str) -> bool {
        self.agents_chats
            .iter()
            .any(|c| c.platform == platform && c.chat.0 == chat)
    }

    /// The agent or admin with user id `user` on `platform`.
    pub fn person(&self, platform: Platform, user: &str) -> Option<Person<'_>> {
        self.people
            .get(&(platform, user.to_string()))
            .map(|p| match *p {
                PersonRef::Agent(i) => Person::Agent(&self.agents[i]),
                PersonRef::Admin(i) => Person::Admin(&self.admins[i]),
            })
    }

    pub fn village(&self, id: &str) -> Option<&Village> {
        self.villages.iter().find(|v| v.id == id)
    }

    pub fn township(&self, id: &str) -> Option<&Township> {
        self.townships.iter().find(|t| t.id == id)
    }

    pub fn agent(&self, id: &str) -> Option<&Agent> {
        self.agents.iter().find(|a| a.id == id)
    }

    /// When `agent` is on duty: their own `duty`, or office hours.
    pub fn duty<'a>(&'a self, agent: &'a Agent) -> &'a OfficeHours {
        agent.duty.as_ref().unwrap_or(&self.hours)
    }

    /// Agents who serve `village` directly (its station's agents).
    pub fn village_agents(&self, village: &str) -> Vec<&Agent> {
        self.agents
            .iter()
            .filter(|a| a.villages.iter().any(|v| v == village))
            .collect()
    }

    /// The township centre's agents.
    pub fn township_agents(&self, township: &str) -> Vec<&Agent> {
        self.agents
            .iter()
            .filter(|a| a.townships.iter().any(|t| t == township))
            .collect()
    }

    /// The district centre's agents.
    pub fn district_agents(&self) -> Vec<&Agent> {
        self.agents.iter().filter(|a| a.district).collect()
    }

    /// Whether `agent` serves `village`, directly or through its township, or is a district agent.
    pub fn covers(&self, agent: &Agent, village: &str) -> bool {
        agent.district
            || agent.villages.iter().any(|v| v == village)
            || self
                .village(village)
                .is_some_and(|v| agent.townships.contains(&v.township))
    }
}

/// `org.toml` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrgFile {
    district: Centre,
    townships: BTreeMap<String, TownshipSpec>,
    villages: BTreeMap<String, VillageSpec>,
    agents: BTreeMap<String, AgentSpec>,
    #[serde(default)]
    admins: BTreeMap<String, AdminSpec>,
    #[serde(default)]
    agents_chats: Vec<AgentsChat>,
    office_hours: HoursSpec,
    escalation: EscalationSpec,
    dialogue: DialogueSpec,
    #[serde(default)]
    rating: RatingSpec,
    #[serde(default)]
    digest: DigestSpec,
    replies: DeskReplies,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TownshipSpec {
    name: String,
    /// Default: `{name}便民服务中心`.
    #[serde(default)]
    centre: Option<String>,
    #[serde(default)]
    address: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    hours: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VillageSpec {
    name: String,
    township: String,
    /// Default: `{name}便民服务站`.
    #[serde(default)]
    station: Option<String>,
    #[serde(default)]
    address: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    groups: PerPlatform<Vec<Id>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentSpec {
    name: String,
    #[serde(default)]
    villages: Vec<String>,
    #[serde(default)]
    townships: Vec<String>,
    #[serde(default)]
    district: bool,
    #[serde(default)]
    accounts: PerPlatform<Option<Id>>,
    #[serde(default)]
    private: bool,
    /// Absent: the agent follows `[office_hours]`.
    #[serde(default)]
    duty: Option<DutySpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdminSpec {
    name: String,
    #[serde(default)]
    accounts: PerPlatform<Option<Id>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EscalationSpec {
    t1_minutes: i64,
    t2_minutes: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DialogueSpec {
    context_minutes: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RatingSpec {
    /// A reply 1–5 counts as the rating for this many days after 办结.
    #[serde(default = "default_rating_days")]
    window_days: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DigestSpec {
    /// "HH:MM" local time; "" switches the digest off.
    #[serde(default = "default_digest_at")]
    at: String,
    #[serde(default = "default_overdue_hours")]
    overdue_hours: i64,
}

fn default_digest_at() -> String {
    "08:30".into()
}

fn default_overdue_hours() -> i64 {
    7
}

impl Default for DigestSpec {
    fn default() -> DigestSpec {
        DigestSpec {
            at: default_digest_at(),
            overdue_hours: default_overdue_hours(),
        }
    }
}

fn default_rating_days() -> i64 {
    3
}

impl Default for RatingSpec {
    fn default() -> RatingSpec {
        RatingSpec {
            window_days: default_rating_days(),
        }
    }
}

/// Loads `org.toml` from the config directory; problems are pushed to `errors`.
pub fn load(dir: &Path, errors: &mut Vec<ConfigError>) -> Org {
    let file = dir.join("org.toml");
    match read_toml::<OrgFile>(&file, errors) {
        Ok(spec) => build(spec, &file, errors),
        Err(()) => Org::default(),
    }
}

fn build(spec: OrgFile, file: &Path, errors: &mut Vec<ConfigError>) -> Org {
    let mut v = Validator {
        file: file.to_path_buf(),
        errors,
    };
    if spec.district.name.trim().is_empty() {
        v.err("district.name", "expected the district centre's name");
    }
    let townships: Vec<Township> = spec
        .townships
        .into_iter()
        .map(|(id, t)| {
            if t.name.trim().is_empty() {
                v.err(
                    &format!("townships.{id}.name"),
                    "expected the township's name",
                );
            }
            Township {
                centre: Centre {
                    name: t
                        .centre
                        .unwrap_or_else(|| format!("{}便民服务中心", t.name)),
                    address: t.address,
                    phone: t.phone,
                    hours: t.hours.unwrap_or_else(|| spec.district.hours.clone()),
                },
                id,
                name: t.name,
            }
        })
        .collect();
    if townships.is_empty() {
        v.err("townships", "expected at least one township centre");
    }
    let mut chats = HashMap::new();
    let mut villages = Vec::new();
    for (id, s) in spec.villages {
        let key = format!("villages.{id}");
        if s.name.trim().is_empty() {
            v.err(&format!("{key}.name"), "expected the village's name");
        }
        if !townships.iter().any(|t| t.id == s.township) {
            v.err(
                &format!("{key}.township"),
                &format!(
                    "\"{}\" is not a township; expected one of {}",
                    s.township,
                    ids(townships.iter().map(|t| &t.id))
                ),
            );
        }
        for (platform, groups) in s.groups.iter() {
            for g in groups {
                if let Some(&other) = chats.get(&(platform, g.0.clone())) {
                    let other: &Village = &villages[other];
                    v.err(
                        &format!("{key}.groups"),
                        &format!(
                            "group {g} is already village {}'s; expected each group in one village",
                            other.id
                        ),
                    );
                } else {
                    chats.insert((platform, g.0.clone()), villages.len());
                }
            }
        }
        // Every village has a sandbox group of its own, for the console's sandbox page.
        chats
            .entry((Platform::Sandbox, sandbox_group(&id)))
            .or_insert(villages.len());
        villages.push(Village {
            station: Centre {
                name: s.station.unwrap_or_else(|| format!("{}便民服务站", s.name)),
                address: s.address,
                phone: s.phone,
                hours: spec.district.hours.clone(),
            },
            id,
            name: s.name,
            township: s.township,
            groups: s.groups,
        });
    }
    if villages.is_empty() {
        v.err("villages", "expected at least one village station");
    }
    for (i, c) in spec.agents_chats.iter().enumerate() {
        if c.chat.0.is_empty() {
            v.err(&format!("agents_chats[{i}].chat"), "expected the chat's id");
        }
        if chats.contains_key(&(c.platform, c.chat.0.clone())) {
            v.err(
                &format!("agents_chats[{i}].chat"),
                "this is a village group; expected a chat of agents only",
            );
        }
        if let Some(t) = &c.township
            && !townships.iter().any(|x| &x.id == t)
        {
            v.err(
                &format!("agents_chats[{i}].township"),
                &format!("\"{t}\" is not a township; expected one of [townships]"),
            );
        }
    }
    // Before the agents: their duty hours take its calendar.
    let hours = OfficeHours::from_spec(&spec.office_hours, file, v.errors);
    let mut people = HashMap::new();
    let mut agents = Vec::new();
    for (id, s) in spec.agents {
        let key = format!("agents.{id}");
        if s.name.trim().is_empty() {
            v.err(&format!("{key}.name"), "expected the agent's name");
        }
        for vid in &s.villages {
            if !villages.iter().any(|x| &x.id == vid) {
                v.err(
                    &format!("{key}.villages"),
                    &format!("\"{vid}\" is not a village; expected ids from [villages]"),
                );
            }
        }
        for tid in &s.townships {
            if !townships.iter().any(|t| &t.id == tid) {
                v.err(
                    &format!("{key}.townships"),
                    &format!("\"{tid}\" is not a township; expected ids from [townships]"),
                );
            }
        }
        if s.villages.is_empty() && s.townships.is_empty() && !s.district {
            v.err(
                &key,
                "covers nothing; expected villages = [...], townships = [...] or district = true",
            );
        }
        index_accounts(
            &mut v,
            &mut people,
            &key,
            &s.accounts,
            PersonRef::Agent(agents.len()),
        );
        let duty = s
            .duty
            .map(|d| hours.duty(&d, &format!("{key}.duty"), file, v.errors));
        agents.push(Agent {
            id,
            name: s.name,
            villages: s.villages,
            townships: s.townships,
            district: s.district,
            accounts: s.accounts,
            private: s.private,
            duty,
        });
    }
    let mut admins = Vec::new();
    for (id, s) in spec.admins {
        let key = format!("admins.{id}");
        index_accounts(
            &mut v,
            &mut people,
            &key,
            &s.accounts,
            PersonRef::Admin(admins.len()),
        );
        admins.push(Admin {
            id,
            name: s.name,
            accounts: s.accounts,
        });
    }
    for village in &villages {
        let served = agents
            .iter()
            .any(|a| a.villages.contains(&village.id) || a.townships.contains(&village.township));
        if !served {
            v.err(
                &format!("villages.{}", village.id),
                &format!(
                    "no agent serves this village; expected an agent with villages = [\"{}\"] or \
                     townships = [\"{}\"]",
                    village.id, village.township
                ),
            );
        }
    }
    if !agents.iter().any(|a| a.district) && !agents.is_empty() {
        v.err(
            "agents",
            "no district centre agent; expected at least one agent with district = true (the top \
             of the ladder)",
        );
    }
    if spec.agents_chats.is_empty() && agents.iter().any(|a| !a.private) {
        v.err(
            "agents_chats",
            "agents would not be notified; expected an agents' group here, or private = true for \
             every agent",
        );
    }
    let e = &spec.escalation;
    if e.t1_minutes < 1 {
        v.err(
            "escalation.t1_minutes",
            "expected a whole number of minutes ≥ 1",
        );
    }
    if e.t2_minutes <= e.t1_minutes {
        v.err(
            "escalation.t2_minutes",
            "expected more minutes than t1_minutes (T2 counts from the same start)",
        );
    }
    let c = spec.dialogue.context_minutes;
    if !(1..=24 * 60).contains(&c) {
        v.err(
            "dialogue.context_minutes",
            "expected a whole number of minutes from 1 to 1440",
        );
    }
    let rating_days = spec.rating.window_days;
    if !(1..=30).contains(&rating_days) {
        v.err(
            "rating.window_days",
            "expected a whole number of days from 1 to 30",
        );
    }
    let digest = digest(&spec.digest, &mut v);
    let r = &spec.replies;
    for (key, text, needed) in [
        ("ticket", &r.ticket, &["{ticket}", "{who}"][..]),
        ("after_hours", &r.after_hours, &["{when}"]),
        ("reply_later", &r.reply_later, &[]),
        ("reply_later_private", &r.reply_later_private, &[]),
        ("privacy", &r.privacy, &["{what}"]),
        ("agent_reply", &r.agent_reply, &["{text}"]),
        ("resolved", &r.resolved, &["{ticket}"]),
        ("resolved_mention", &r.resolved_mention, &["{ticket}"]),
        ("rated", &r.rated, &[]),
        ("rated_bad", &r.rated_bad, &["{ticket}"]),
        ("not_agent", &r.not_agent, &[]),
        ("nearby", &r.nearby, &["{places}"]),
    ] {
        if matches!(key, "resolved_mention" | "reply_later_private") && text.is_empty() {
            continue; // optional: `resolved` / `reply_later` is used
        }
        if text.trim().is_empty() {
            v.err(&format!("replies.{key}"), "expected the wording");
        }
        for p in needed {
            if !text.contains(p) {
                v.err(
                    &format!("replies.{key}"),
                    &format!("expected the placeholder {p} in the wording"),
                );
            }
        }
    }
    Org {
        district: spec.district,
        townships,
        villages,
        agents,
        admins,
        agents_chats: spec.agents_chats,
        hours,
        escalation: Escalation {
            t1: e.t1_minutes * 60,
            t2: e.t2_minutes * 60,
        },
        context_secs: c * 60,
        rating_window: rating_days * 86_400,
        digest,
        replies: spec.replies,
        chats,
        people,
    }
}

fn digest(spec: &DigestSpec, v: &mut Validator) -> Digest {
    let at = match spec.at.trim() {
        "" => None,
        text => {
            let at = hours::parse_clock(text).filter(|&s| s < 24 * 3600);
            if at.is_none() {
                v.err(
                    "digest.at",
                    &format!(
                        "\"{text}\" is not a time; expected \"HH:MM\" (or \"\" for no digest)"
                    ),
                );
            }
            at
        }
    };
    if !(1..=24 * 30).contains(&spec.overdue_hours) {
        v.err(
            "digest.overdue_hours",
            "expected a whole number of office hours from 1 to 720",
        );
    }
    Digest {
        at,
        overdue: spec.overdue_hours * 3600,
    }
}

fn index_accounts(
    v: &mut Validator,
    people: &mut HashMap<(Platform, String), PersonRef>,
    key: &str,
    accounts: &PerPlatform<Option<Id>>,
    who: PersonRef,
) {
    let mut any = false;
    for (platform, id) in accounts.iter() {
        let Some(id) = id else { continue };
        any = true;
        if people.insert((platform, id.0.clone()), who).is_some() {
            v.err(
                &format!("{key}.accounts"),
                &format!("user {id} is listed twice; expected each person once"),
            );
        }
    }
    if !any {
        v.err(
            &format!("{key}.accounts"),
            "expected the person's user id on at least one platform, e.g. { onebot = \"800001\" }",
        );
    }
}

fn ids<'a>(list: impl Iterator<Item = &'a String>) -> String {
    list.map(String::as_str).collect::<Vec<_>>().join(", ")
}

struct Validator<'e> {
    file: PathBuf,
    errors: &'e mut Vec<ConfigError>,
}

impl Validator<'_> {
    fn err(&mut self, key: &str, message: &str) {
        self.errors.push(ConfigError {
            file: self.file.clone(),
            key: key.into(),
            message: message.into(),
        });
    }
}
