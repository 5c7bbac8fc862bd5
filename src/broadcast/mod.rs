//! Broadcasts (群发通知) as an admin writes them: which village groups a notice goes to, how
//! long it takes to deliver under the pacing limits, and the three writes — create (a draft),
//! confirm (now or at a local time) and cancel — each audited. The store keeps the broadcast
//! and its deliveries ([`crate::store::broadcasts`]); the runtime releases a confirmed one into
//! the paced outbox when it is due (`src/runtime/release.rs`). The console's pages and API
//! (`src/console/broadcasts.rs`) are thin over this module.
//!
//! **Targets.** The admin chooses an area (all villages, one township's, or chosen villages)
//! and one platform or all. Every group `org.toml` lists for a chosen village on a chosen
//! platform is a target, except on the sandbox (never broadcast to) and on platforms not
//! enabled in `bangban.toml` (a message for one would wait in the outbox for ever). A chosen
//! village left with no target is listed as not reachable, with why.
//!
//! **The estimate** assumes one bot account per platform, platforms sending side by side, and
//! nothing else in the outbox. A notice of `p` parts (after splitting at `outbox.max_chars`) to
//! `g` groups of one platform is `n = g × p` messages. A token bucket lets `burst` sends go at
//! once and then one per `60 / per_minute` seconds, and a broadcast leaves one of the account's
//! tokens for residents' replies, so the account lets `k = max(account.burst − 1, 1)` go at
//! once: the account needs `max(n − k, 0) × 60 / account.per_minute` seconds, one group
//! `max(p − group.burst, 0) × 60 / group.per_minute`. The platform's time is the larger of the
//! two, the broadcast's the largest over its platforms. It is a floor: residents' replies go
//! first and push it back, a scheduled broadcast is released within a minute of its time, and
//! the groups that get the notice only with their next message are not in it: those of a
//! platform whose bot may speak only in reply ([`Service::replies_only`]: the QQ official bot,
//! the WeCom AI bot), see [`held_until_next_message`]. With pacing off it is 0.

use crate::config::Config;
use crate::config::org::{Org, Village};
use crate::config::reach;
use crate::config::service::{Pacing, Service};
use crate::helpdesk::hours::{self, OfficeHours};
use crate::runtime::split::split_text;
use crate::store::audit::AuditEntry;
use crate::store::broadcasts::{Broadcast, Delivery, Refused, State, Target};
use crate::store::{Store, StoreError};
use bangban_contract::Platform;
use serde::Serialize;
use std::collections::HashSet;

/// The longest notice, in characters.
pub const TEXT_MAX: usize = 2000;

/// The platforms a broadcast can go to, in the order they are shown.
pub const PLATFORMS: [Platform; 4] = [
    Platform::Onebot,
    Platform::Wecom,
    Platform::Qqbot,
    Platform::Telegram,
];

/// The platform as admins call it.
pub fn platform_label(p: Platform) -> &'static str {
    match p {
        Platform::Onebot => "QQ",
        Platform::Wecom => "企业微信",
        Platform::Qqbot => "QQ官方机器人",
        Platform::Telegram => "Telegram",
        Platform::Sandbox => "体验",
    }
}

/// The platform's name in the API and forms (`onebot`, `wecom`, `qqbot`, `telegram`).
pub fn platform_name(p: Platform) -> &'static str {
    match p {
        Platform::Onebot => "onebot",
        Platform::Wecom => "wecom",
        Platform::Qqbot => "qqbot",
        Platform::Telegram => "telegram",
        Platform::Sandbox => "sandbox",
    }
}

/// Which villages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Area {
    All,
    /// A township id.
    Township(String),
    /// Village ids.
    Villages(Vec<String>),
}

/// The admin's choice of groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub area: Area,
    /// `None`: every platform (but the sandbox).
    pub platform: Option<Platform>,
}

/// Why a broadcast cannot be written, confirmed or cancelled as asked.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request itself is wrong: `code` for machines, `message` for the admin, in Chinese.
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    /// Unknown, or not in a state that allows it.
    #[error("{0}")]
    Refused(Refused),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(code: &'static str, message: impl Into<String>) -> Error {
    Error::Invalid {
        code,
        message: message.into(),
    }
}

/// The platform named `name` in a form or the API; `None` for all (empty or `all`).
pub fn parse_platform(name: &str) -> Result<Option<Platform>, Error> {
    match name.trim() {
        "" | "all" => Ok(None),
        "sandbox" => Err(invalid("bad_platform", "体验群不能群发")),
        n => PLATFORMS
            .iter()
            .copied()
            .find(|p| platform_name(*p) == n)
            .map(Some)
            .ok_or_else(|| {
                invalid(
                    "bad_platform",
                    format!("没有“{n}”这个平台，请写 onebot、wecom、qqbot、telegram 或 all"),
                )
            }),
    }
}

/// The notice's text, trimmed, or why it cannot go.
pub fn check_text(text: &str) -> Result<String, Error> {
    let text = text.trim();
    if text.is_empty() {
        return Err(invalid("empty_text", "请写通知内容"));
    }
    let n = text.chars().count();
    if n > TEXT_MAX {
        return Err(invalid(
            "text_too_long",
            format!("通知最多 {TEXT_MAX} 个字，现在有 {n} 个字"),
        ));
    }
    Ok(text.to_owned())
}

/// A chosen village that no group of the broadcast is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unreachable {
    pub village: String,
    pub name: String,
    /// Why, in Chinese.
    pub reason: String,
}

/// The groups a choice reaches, and the chosen villages it does not.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selection {
    pub targets: Vec<Target>,
    pub unreachable: Vec<Unreachable>,
}

/// The chosen villages, in `org.toml`'s order.
fn villages<'a>(org: &'a Org, area: &Area) -> Result<Vec<&'a Village>, Error> {
    match area {
        Area::All => Ok(org.villages.iter().collect()),
        Area::Township(t) => {
            if org.township(t).is_none() {
                return Err(invalid("unknown_township", format!("没有“{t}”这个乡镇")));
            }
            Ok(org.villages.iter().filter(|v| &v.township == t).collect())
        }
        Area::Villages(ids) => {
            if let Some(bad) = ids.iter().find(|id| org.village(id).is_none()) {
                return Err(invalid("unknown_village", format!("没有“{bad}”这个村")));
            }
            Ok(org
                .villages
                .iter()
                .filter(|v| ids.contains(&v.id))
                .collect())
        }
    }
}

/// The groups `choice` reaches. An error when it names an unknown township, village or no
/// village at all; a choice that reaches no group is checked by [`preview`].
pub fn select(config: &Config, choice: &Choice) -> Result<Selection, Error> {
    let org = &config.org;
    let chosen = villages(org, &choice.area)?;
    if chosen.is_empty() {
        return Err(invalid("no_groups", "没有选中任何村"));
    }
    let platforms: Vec<Platform> = match choice.platform {
        Some(p) => vec![p],
        None => PLATFORMS.to_vec(),
    };
    let mut seen = HashSet::new();
    let mut out = Selection::default();
    for v in chosen {
        let mut reached = false;
        let mut disabled = Vec::new();
        for &p in &platforms {
            let groups = v.groups.get(p);
            if groups.is_empty() {
                continue;
            }
            if !reach::enabled(&config.service, p) {
                disabled.push(platform_label(p));
                continue;
            }
            for g in groups {
                if seen.insert((p, g.0.clone())) {
                    out.targets.push(Target {
                        village: v.id.clone(),
                        name: v.name.clone(),
                        platform: p,
                        chat: g.0.clone(),
                    });
                }
                reached = true;
            }
        }
        if !reached {
            let reason = if disabled.is_empty() {
                match choice.platform {
                    Some(p) => format!("没有{}群", platform_label(p)),
                    None => "没有登记群".to_owned(),
                }
            } else {
                format!("{}没有启用", disabled.join("、"))
            };
            out.unreachable.push(Unreachable {
                village: v.id.clone(),
                name: v.name.clone(),
                reason,
            });
        }
    }
    Ok(out)
}

/// How many villages a scope label names before it counts them.
const NAMED: usize = 3;

/// The choice as admins read it: `全部村 · QQ`, `庙岭镇 · 全部平台`, `大湖村、…等5个村 · QQ`.
pub fn scope_label(org: &Org, choice: &Choice) -> String {
    let area = match &choice.area {
        Area::All => "全部村".to_owned(),
        Area::Township(t) => org
            .township(t)
            .map_or_else(|| t.clone(), |t| t.name.clone()),
        Area::Villages(ids) => {
            let names: Vec<&str> = org
                .villages
                .iter()
                .filter(|v| ids.contains(&v.id))
                .map(|v| v.name.as_str())
                .collect();
            if names.len() <= NAMED {
                names.join("、")
            } else {
                format!("{}等{}个村", names[..NAMED].join("、"), names.len())
            }
        }
    };
    let platform = choice.platform.map_or("全部平台", platform_label);
    format!("{area} · {platform}")
}

/// The time to deliver on one platform.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlatformEstimate {
    pub platform: Platform,
    pub label: &'static str,
    pub groups: usize,
    /// Messages in all: groups × parts.
    pub messages: usize,
    /// Seconds until the last message may go (see the module's doc).
    pub secs: u64,
    /// How many of the groups get it only with their next message (see
    /// [`held_until_next_message`]): not paced by us, not in `secs`.
    pub held: usize,
    /// Whether all of them do.
    pub on_next_message: bool,
}

/// The time to deliver a broadcast.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    /// Messages each group gets (the notice split at `outbox.max_chars`).
    pub parts: usize,
    pub groups: usize,
    pub messages: usize,
    /// The largest of the platforms' times (they send side by side).
    pub secs: u64,
    /// `secs` in Chinese: `不到1分钟`, `约2分钟`, `约1小时5分钟`.
    pub label: String,
    pub platforms: Vec<PlatformEstimate>,
    /// Whether pacing is on; off, everything may go at once.
    pub paced: bool,
}

/// Seconds `n` sends take through a bucket that lets `burst` go at once, then `per_minute`.
fn bucket_secs(n: usize, burst: u32, per_minute: f64) -> f64 {
    let waiting = n.saturating_sub(burst as usize) as f64;
    waiting * 60.0 / per_minute
}

/// Whether `target` gets a broadcast only as the reply to its group's next message: its
/// platform's bot may speak there only in reply to a message just received
/// ([`Service::replies_only`]: the QQ official bot, the WeCom AI bot), unless a WeCom group
/// robot (send-only, through its webhook) serves the group.
pub fn held_until_next_message(service: &Service, target: &Target) -> bool {
    let account = match target.platform {
        // A WeCom group that is not a robot's is reached only through the AI bot.
        Platform::Wecom if service.wecom.robots.contains_key(&target.chat) => return false,
        Platform::Wecom => service.wecom.aibot_id.as_str(),
        // Elsewhere the answer is the platform's, whichever account speaks.
        _ => "",
    };
    service.replies_only(target.platform, account)
}

/// Who cannot send unprompted on `p`, as admins call it.
fn replies_only_label(p: Platform) -> &'static str {
    match p {
        Platform::Wecom => "企业微信智能机器人",
        p => platform_label(p),
    }
}

/// How long `text` takes to reach `targets` under `pacing` (see the module's doc); `held`
/// says which targets get it only with their next message.
pub fn estimate(
    pacing: &Pacing,
    max_chars: usize,
    text: &str,
    targets: &[Target],
    held: impl Fn(&Target) -> bool,
) -> Estimate {
    let parts = split_text(text, max_chars).len().max(1);
    let mut platforms = Vec::new();
    for p in PLATFORMS {
        let of_p: Vec<&Target> = targets.iter().filter(|t| t.platform == p).collect();
        let groups = of_p.len();
        if groups == 0 {
            continue;
        }
        let held = of_p.iter().filter(|t| held(t)).count();
        let paced = (groups - held) * parts;
        let secs = if !pacing.enabled || paced == 0 {
            0
        } else {
            let account = bucket_secs(
                paced,
                pacing.account.burst.saturating_sub(1).max(1),
                pacing.account.per_minute,
            );
            let group = bucket_secs(parts, pacing.group.burst, pacing.group.per_minute);
            account.max(group).ceil() as u64
        };
        platforms.push(PlatformEstimate {
            platform: p,
            label: platform_label(p),
            groups,
            messages: groups * parts,
            secs,
            held,
            on_next_message: held == groups,
        });
    }
    let secs = platforms.iter().map(|p| p.secs).max().unwrap_or(0);
    Estimate {
        parts,
        groups: targets.len(),
        messages: targets.len() * parts,
        secs,
        label: duration_label(secs),
        platforms,
        paced: pacing.enabled,
    }
}

/// Seconds as admins read a delivery time.
pub fn duration_label(secs: u64) -> String {
    if secs < 60 {
        return "不到1分钟".to_owned();
    }
    let minutes = secs.div_ceil(60);
    if minutes < 60 {
        return format!("约{minutes}分钟");
    }
    match minutes % 60 {
        0 => format!("约{}小时", minutes / 60),
        m => format!("约{}小时{m}分钟", minutes / 60),
    }
}

/// What the preview says besides the groups and the time, in Chinese.
pub fn notes(estimate: &Estimate) -> Vec<String> {
    let mut notes = Vec::new();
    for p in estimate.platforms.iter().filter(|p| p.held > 0) {
        notes.push(format!(
            "{}不能主动发群消息：这 {} 个群要等群里有人发下一条消息时，才会作为回复收到这条通知，不计入预计时间。",
            replies_only_label(p.platform),
            p.held
        ));
    }
    if estimate.parts > 1 {
        notes.push(format!("通知较长，每个群会分 {} 条发出。", estimate.parts));
    }
    if estimate.paced {
        notes.push("按限速逐个群发送，居民的提问优先回复，实际可能更久。".to_owned());
    }
    notes
}

/// What an admin sees before confirming.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Preview {
    pub text: String,
    pub scope: String,
    pub targets: Vec<Target>,
    pub unreachable: Vec<Unreachable>,
    pub estimate: Estimate,
    pub notes: Vec<String>,
}

/// The preview of `text` to `choice`, or why it cannot go.
pub fn preview(config: &Config, text: &str, choice: &Choice) -> Result<Preview, Error> {
    let text = check_text(text)?;
    let selection = select(config, choice)?;
    if selection.targets.is_empty() {
        return Err(invalid(
            "no_groups",
            "选中的村在所选平台上都没有可以发送的群",
        ));
    }
    let estimate = estimate_for(config, &text, &selection.targets);
    let notes = notes(&estimate);
    Ok(Preview {
        text,
        scope: scope_label(&config.org, choice),
        targets: selection.targets,
        unreachable: selection.unreachable,
        estimate,
        notes,
    })
}

/// The estimate under the running configuration.
pub fn estimate_for(config: &Config, text: &str, targets: &[Target]) -> Estimate {
    let s = &config.service;
    estimate(&s.pacing, s.outbox.max_chars, text, targets, |t| {
        held_until_next_message(s, t)
    })
}

/// A local time as admins write it, `YYYY-MM-DD HH:MM` (or `YYYY-MM-DDTHH:MM`, as a browser's
/// date-time field sends it), on the district's clock: Unix ms.
pub fn parse_local(hours: &OfficeHours, text: &str) -> Result<u64, Error> {
    let bad = || {
        invalid(
            "bad_time",
            format!("看不懂时间“{}”，请写成 2026-06-01 09:00 这样", text.trim()),
        )
    };
    let text = text.trim();
    let (date, clock) = text
        .split_once(['T', ' '])
        .map(|(d, c)| (d, c.trim()))
        .ok_or_else(bad)?;
    let day = hours::parse_date(date).ok_or_else(bad)?;
    // `HH:MM`, or `HH:MM:SS` from some browsers (the seconds are dropped).
    let clock = match clock.matches(':').count() {
        2 => clock.rsplit_once(':').map_or(clock, |(hm, _)| hm),
        _ => clock,
    };
    let secs = hours::parse_clock(clock).ok_or_else(bad)?;
    let unix = hours.midnight(day) + secs;
    u64::try_from(unix).map(|s| s * 1000).map_err(|_| bad())
}

/// The longest a broadcast may be scheduled ahead.
const AHEAD_MAX_MS: u64 = 366 * 24 * 3600 * 1000;

/// When a broadcast confirmed at `now_ms` for `at` (`None`: now) is due. A time within the
/// current minute counts as now; an earlier one is refused.
pub fn due_time(hours: &OfficeHours, at: Option<&str>, now_ms: u64) -> Result<u64, Error> {
    let Some(at) = at.map(str::trim).filter(|a| !a.is_empty()) else {
        return Ok(now_ms);
    };
    let due = parse_local(hours, at)?;
    if due + 60_000 <= now_ms {
        return Err(invalid(
            "past_time",
            format!(
                "{} 已经过去了，请选以后的时间，或者立即发送",
                hours.format_datetime((due / 1000) as i64)
            ),
        ));
    }
    if due > now_ms + AHEAD_MAX_MS {
        return Err(invalid("bad_time", "最多只能提前一年定时"));
    }
    Ok(due.max(now_ms))
}

/// Who makes a write, for the audit log.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    /// The console user's id.
    pub who: &'a str,
    /// Their IP address.
    pub from: &'a str,
}

/// The first `n` characters of `text` on one line, `…` when cut.
pub fn excerpt(text: &str, n: usize) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out: String = line.chars().take(n).collect();
    if line.chars().count() > n {
        out.push('…');
    }
    out
}

fn audit(store: &Store, actor: Actor<'_>, at: u64, action: &str, id: u64, detail: String) {
    let entry = AuditEntry {
        at,
        who: actor.who.to_owned(),
        from: actor.from.to_owned(),
        action: action.to_owned(),
        target: id.to_string(),
        detail,
    };
    if let Err(e) = store.audit(&entry) {
        tracing::error!(error = %e, "could not write the audit log");
    }
}

/// Stores `preview` as a draft by `actor`; the stored broadcast. Audited.
pub async fn create(
    store: &Store,
    actor: Actor<'_>,
    preview: &Preview,
    now_ms: u64,
) -> Result<Broadcast, Error> {
    let draft = Broadcast {
        id: 0,
        text: preview.text.clone(),
        scope: preview.scope.clone(),
        targets: preview.targets.clone(),
        created_by: actor.who.to_owned(),
        created_ms: now_ms,
        state: State::Draft,
        due_ms: None,
        confirmed_by: None,
        released_ms: None,
    };
    let id = store.create_broadcast(&draft)?;
    store.flush().await?;
    audit(
        store,
        actor,
        now_ms,
        "broadcast.create",
        id,
        format!(
            "{}，{}个群：{}",
            draft.scope,
            draft.targets.len(),
            excerpt(&draft.text, 30)
        ),
    );
    Ok(Broadcast { id, ..draft })
}

/// Confirms draft `id` for `at` (`None`: now; else local `YYYY-MM-DD HH:MM`). Audited. The
/// caller asks the runtime to release it when it is due now.
pub async fn confirm(
    store: &Store,
    hours: &OfficeHours,
    actor: Actor<'_>,
    id: u64,
    at: Option<&str>,
    now_ms: u64,
) -> Result<Broadcast, Error> {
    let due = due_time(hours, at, now_ms)?;
    let b = store
        .schedule_broadcast(id, due, actor.who)
        .await?
        .map_err(Error::Refused)?;
    let detail = if due <= now_ms {
        format!("立即发送，{}", b.scope)
    } else {
        format!(
            "定时 {} 发送，{}",
            hours.format_datetime((due / 1000) as i64),
            b.scope
        )
    };
    audit(store, actor, now_ms, "broadcast.confirm", id, detail);
    Ok(b)
}

/// Calls off `id` while it is not released. Audited.
pub async fn cancel(
    store: &Store,
    actor: Actor<'_>,
    id: u64,
    now_ms: u64,
) -> Result<Broadcast, Error> {
    let b = store.cancel_broadcast(id).await?.map_err(Error::Refused)?;
    audit(
        store,
        actor,
        now_ms,
        "broadcast.cancel",
        id,
        b.scope.clone(),
    );
    Ok(b)
}

/// A broadcast's state as admins read it.
pub fn state_label(state: State) -> &'static str {
    match state {
        State::Draft => "草稿（未确认）",
        State::Scheduled => "已确认，等待发送",
        State::Released => "已发出",
        State::Cancelled => "已取消",
    }
}

/// The state's name in the API.
pub fn state_name(state: State) -> &'static str {
    match state {
        State::Draft => "draft",
        State::Scheduled => "scheduled",
        State::Released => "released",
        State::Cancelled => "cancelled",
    }
}

/// One group's delivery status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Not released yet (a draft, scheduled or cancelled broadcast).
    NotReleased,
    Queued,
    Sent,
    Failed,
}

impl Status {
    pub fn of(d: Option<&Delivery>) -> Status {
        match d {
            None => Status::NotReleased,
            Some(d) if d.error.is_some() => Status::Failed,
            Some(d) if d.is_sent() => Status::Sent,
            Some(_) => Status::Queued,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Status::NotReleased => "未发出",
            Status::Queued => "排队中",
            Status::Sent => "已发送",
            Status::Failed => "失败",
        }
    }

    /// Whether nothing more will happen to it.
    pub fn is_done(self) -> bool {
        matches!(self, Status::Sent | Status::Failed)
    }
}

/// How many groups are in each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub queued: usize,
    pub sent: usize,
    pub failed: usize,
    pub not_released: usize,
}

impl Counts {
    pub fn of(statuses: impl IntoIterator<Item = Status>) -> Counts {
        let mut c = Counts::default();
        for s in statuses {
            match s {
                Status::Queued => c.queued += 1,
                Status::Sent => c.sent += 1,
                Status::Failed => c.failed += 1,
                Status::NotReleased => c.not_released += 1,
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::service::Bucket;

    fn targets(platform: Platform, n: usize) -> Vec<Target> {
        (0..n)
            .map(|i| Target {
                village: format!("v{i:02}"),
                name: format!("{i}村"),
                platform,
                chat: format!("9000{i:02}"),
            })
            .collect()
    }

    fn pacing(enabled: bool) -> Pacing {
        Pacing {
            enabled,
            group: Bucket {
                burst: 3,
                per_minute: 20.0,
            },
            account: Bucket {
                burst: 5,
                per_minute: 40.0,
            },
        }
    }

    #[test]
    fn the_estimate_is_the_burst_then_one_per_interval_of_the_account() {
        // 76 groups, one part each: 4 at once (one token kept for residents), then 72 × 1.5 s.
        let e = estimate(
            &pacing(true),
            800,
            "通知",
            &targets(Platform::Onebot, 76),
            none,
        );
        assert_eq!((e.parts, e.messages, e.secs), (1, 76, 108));
        assert_eq!(e.label, "约2分钟");
        // Two parts each: 152 messages; 148 × 1.5 s.
        let long = "甲。".repeat(500);
        let e = estimate(
            &pacing(true),
            800,
            &long,
            &targets(Platform::Onebot, 76),
            none,
        );
        assert_eq!((e.parts, e.messages, e.secs), (2, 152, 222));
        // One group with many parts: the group's bucket is the slower one (7 − 3) × 3 s.
        let longer = "甲。".repeat(2800);
        let e = estimate(
            &pacing(true),
            800,
            &longer,
            &targets(Platform::Onebot, 1),
            none,
        );
        assert_eq!((e.parts, e.secs), (7, 12));
        // Pacing off: at once.
        let e = estimate(
            &pacing(false),
            800,
            "通知",
            &targets(Platform::Onebot, 76),
            none,
        );
        assert_eq!((e.secs, e.label.as_str()), (0, "不到1分钟"));
    }

    /// No target waits for a message.
    fn none(_: &Target) -> bool {
        false
    }

    /// WeCom with the AI bot, and a robot in the groups `robots` names.
    fn with_aibot(robots: &[&str]) -> Service {
        let mut s = Service::default();
        s.wecom.enabled = true;
        s.wecom.aibot_id = "aib-1".into();
        for r in robots {
            s.wecom
                .robots
                .insert((*r).into(), "BANGBAN_WECOM_ROBOT_X".into());
        }
        s
    }

    #[test]
    fn platforms_send_side_by_side_and_the_qq_bot_is_not_paced() {
        let mut t = targets(Platform::Onebot, 44);
        t.extend(targets(Platform::Telegram, 24));
        t.extend(targets(Platform::Qqbot, 50));
        let service = Service::default();
        let e = estimate(&pacing(true), 800, "通知", &t, |t| {
            held_until_next_message(&service, t)
        });
        let secs: Vec<u64> = e.platforms.iter().map(|p| p.secs).collect();
        assert_eq!(secs, [60, 0, 30]);
        assert_eq!(e.secs, 60);
        assert_eq!(e.platforms[1].platform, Platform::Qqbot);
        assert!(e.platforms[1].on_next_message);
        assert_eq!(e.platforms[1].held, 50);
        let notes = notes(&e);
        assert!(
            notes[0].starts_with("QQ官方机器人不能主动发群消息")
                && notes[0].contains("50 个群要等群里有人发下一条消息"),
            "{notes:?}"
        );
    }

    #[test]
    fn wecom_ai_bot_groups_wait_for_their_next_message_and_robot_groups_do_not() {
        // 24 WeCom groups: the AI bot's wait for a message (like the QQ bot's); a group
        // served by a group robot is sent to, paced.
        let t = targets(Platform::Wecom, 24);
        let service = with_aibot(&[]);
        let held = |t: &Target| held_until_next_message(&service, t);
        let e = estimate(&pacing(true), 800, "通知", &t, held);
        let wecom = &e.platforms[0];
        assert_eq!(
            (wecom.held, wecom.on_next_message, wecom.secs),
            (24, true, 0)
        );
        let notes = notes(&e);
        assert!(
            notes[0].starts_with("企业微信智能机器人不能主动发群消息")
                && notes[0].contains("24 个群要等群里有人发下一条消息"),
            "{notes:?}"
        );
        // Four of them have a robot: those 4 go now, the 20 others wait.
        let service = with_aibot(&["900001", "900002", "900003", "900004"]);
        let held = |t: &Target| held_until_next_message(&service, t);
        let e = estimate(&pacing(true), 800, "通知", &t, held);
        let wecom = &e.platforms[0];
        assert_eq!(
            (wecom.groups, wecom.held, wecom.on_next_message),
            (24, 20, false)
        );
        assert!(
            notes_of(&e).contains("这 20 个群要等"),
            "{:?}",
            notes_of(&e)
        );
        // Without the AI bot, nothing waits on WeCom; the QQ bot always waits; OneBot never.
        let plain = Service::default();
        assert!(!held_until_next_message(&plain, &t[0]));
        assert!(held_until_next_message(
            &plain,
            &targets(Platform::Qqbot, 1)[0]
        ));
        assert!(!held_until_next_message(
            &service,
            &targets(Platform::Onebot, 1)[0]
        ));
    }

    fn notes_of(e: &Estimate) -> String {
        notes(e).join("\n")
    }

    #[test]
    fn durations_read_as_minutes_and_hours() {
        assert_eq!(duration_label(59), "不到1分钟");
        assert_eq!(duration_label(61), "约2分钟");
        assert_eq!(duration_label(3600), "约1小时");
        assert_eq!(duration_label(3900), "约1小时5分钟");
    }

    #[test]
    fn local_times_are_on_the_district_clock_and_the_past_is_refused() {
        let hours = OfficeHours::default();
        // 2026-06-01 09:00 +08:00 is 01:00 UTC.
        let at = parse_local(&hours, "2026-06-01 09:00").unwrap();
        assert_eq!(at, 1_780_275_600_000);
        assert_eq!(parse_local(&hours, "2026-06-01T09:00").unwrap(), at);
        assert_eq!(parse_local(&hours, "2026-06-01T09:00:00").unwrap(), at);
        for bad in [
            "2026-06-01",
            "2026-13-01 09:00",
            "明天九点",
            "2026-06-01 25:00",
        ] {
            assert!(
                matches!(
                    parse_local(&hours, bad),
                    Err(Error::Invalid {
                        code: "bad_time",
                        ..
                    })
                ),
                "{bad}"
            );
        }
        assert_eq!(due_time(&hours, None, 5).unwrap(), 5);
        assert_eq!(due_time(&hours, Some(" "), 5).unwrap(), 5);
        // Within the minute: now. A minute earlier: the past.
        assert_eq!(
            due_time(&hours, Some("2026-06-01 09:00"), at + 30_000).unwrap(),
            at + 30_000
        );
        match due_time(&hours, Some("2026-06-01 09:00"), at + 60_000) {
            Err(Error::Invalid { code, message }) => {
                assert_eq!(code, "past_time");
                assert!(message.contains("2026-06-01 09:00 已经过去了"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            due_time(&hours, Some("2026-06-01 09:00"), at - 1).unwrap(),
            at
        );
        assert!(due_time(&hours, Some("2028-06-01 09:00"), at).is_err());
    }

    #[test]
    fn texts_are_checked() {
        assert!(matches!(
            check_text("  \n"),
            Err(Error::Invalid {
                code: "empty_text",
                ..
            })
        ));
        assert!(matches!(
            check_text(&"字".repeat(TEXT_MAX + 1)),
            Err(Error::Invalid {
                code: "text_too_long",
                ..
            })
        ));
        assert_eq!(
            check_text(&format!(" {} ", "字".repeat(TEXT_MAX)))
                .unwrap()
                .chars()
                .count(),
            TEXT_MAX
        );
        assert_eq!(excerpt("请在\n6月30日前  认证", 6), "请在 6月3…");
    }
}
