//! Statistics of the service: what residents asked and what became of it, tickets, waiting times,
//! the ladder and 好差评, per day, week or month, for the district, a township or a village.
//!
//! The figures come from the statistics ledger (`store::stats`), kept as events happen: the
//! engine records each resident's question ([`record`]) and every ticket change updates the
//! ticket counters in its own transaction. A report reads only the period's daily buckets.
//!
//! - Days, weeks (Monday to Sunday) and months are the district's local ones (`org.toml
//!   [office_hours] utc_offset`).
//! - A township is the sum of its villages as `org.toml` lists them now.
//! - Waiting times are exact: one sample per ticket, counted on the day of the first response
//!   (an agent's claim, reply or 办结) or of the 办结. The median and p90 are nearest-rank: the
//!   smallest sample with at least half (nine tenths) of the samples at or below it.
//! - Ticket counts by stage are the tickets opened in the period, by their stage now.
//! - The console's sandbox is kept apart: it counts only when asked for (`sandbox`), as the
//!   ledger leaves it out.

pub mod charts;
pub mod export;

use crate::catalog::Catalog;
use crate::config::org::Org;
use crate::helpdesk::hours::{civil, days_from_civil, parse_date, weekday};
use crate::store::stats::{Bucket, Outcome, Question, metric, reason_name, stage_name};
use crate::store::tickets::{Rating, Reason, Stage, source_key};
use crate::store::{Store, StoreError};
use crate::understand::{Decision, EscalateReason, Understanding};
use bangban_contract::{Incoming, Platform};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Called once at start-up: the days are cut with `offset` (rebuilt from the tickets when it
/// changed, or on the first start with statistics).
pub fn init(store: &Store, offset: i64) -> Result<(), StoreError> {
    if store.stats()?.ensure_offset(offset)? {
        tracing::info!(
            offset,
            "statistics rebuilt from the tickets for this UTC offset"
        );
    }
    Ok(())
}

/// The engine's hook: what became of a resident's message in `village` (help and thanks are not
/// questions and are not counted; `privacy`: personal numbers, handed to an agent). Recorded once
/// per platform message, at the next flush (see [`Store::queue_question`]).
pub fn record(
    store: &Store,
    event: &Incoming,
    village: Option<&str>,
    u: &Understanding,
    catalog: &Catalog,
    privacy: bool,
    at: u64,
) {
    let outcome = if privacy {
        Outcome::Escalated(Reason::Privacy)
    } else {
        match u.decision {
            Decision::Answer => Outcome::Answered,
            Decision::Clarify => Outcome::AskedBack,
            Decision::Escalate => Outcome::Escalated(match u.reason {
                Some(EscalateReason::Case) => Reason::Case,
                Some(EscalateReason::Complaint) => Reason::Complaint,
                _ => Reason::Uncovered,
            }),
            Decision::Ignore => Outcome::Ignored,
            Decision::Help | Decision::Thanks => return,
        }
    };
    let item = match outcome {
        Outcome::Answered | Outcome::Escalated(_) => u.item,
        _ => None,
    };
    let q = Question {
        at,
        sandbox: event.platform == Platform::Sandbox,
        village: village.map(str::to_owned),
        item: item
            .and_then(|i| catalog.items().get(i))
            .map(|i| i.id.clone()),
        aspect: match outcome {
            Outcome::Answered => u.aspect.map(|a| a.name().to_owned()),
            _ => None,
        },
        outcome,
    };
    let source = source_key(event.platform, &event.account, &event.message_id);
    store.queue_question(source, q);
}

/// A stored metric's name in Chinese, as the command line and the workbook say it
/// (`t.opened.case` → 新建工单（本人的事）).
pub fn metric_label(name: &str) -> String {
    let reasons = [
        Reason::Uncovered,
        Reason::Case,
        Reason::Complaint,
        Reason::Privacy,
        Reason::FollowUp,
    ];
    let reason = |r: &str| {
        reasons
            .iter()
            .find(|&&x| reason_name(x) == r)
            .map_or_else(|| r.to_owned(), |x| x.label().to_owned())
    };
    let fixed = match name {
        metric::ASKED => Some("提问"),
        metric::ANSWERED => Some("已回答"),
        metric::ASKED_BACK => Some("反问"),
        metric::ESCALATED => Some("转专员"),
        metric::IGNORED => Some("未回应的闲聊"),
        metric::OPENED => Some("新建工单"),
        metric::RESPONDED => Some("首次响应"),
        metric::RESOLVED => Some("办结"),
        metric::TRANSFERRED => Some("转办"),
        metric::FOLLOW_UP => Some("差评回访工单"),
        metric::FIRST_RESPONSE => Some("首次响应用时"),
        metric::RESOLUTION => Some("办结用时"),
        "t.escalated.village" => Some("升级到村"),
        "t.escalated.township" => Some("升级到镇中心"),
        "t.escalated.district" => Some("升级到区中心"),
        "t.resolved.follow_up" => Some("差评回访办结"),
        _ => None,
    };
    if let Some(label) = fixed {
        return label.to_owned();
    }
    if let Some(r) = name.strip_prefix("q.escalated.") {
        return format!("转专员（{}）", reason(r));
    }
    if let Some(r) = name.strip_prefix("t.opened.") {
        return format!("新建工单（{}）", reason(r));
    }
    if let Some(a) = name.strip_prefix(metric::ASPECT) {
        let label = crate::catalog::Aspect::from_name(a).map_or(a, |a| a.label());
        return format!("回答的方面（{label}）");
    }
    if let Some(st) = name.strip_prefix(metric::STAGE) {
        let stages = [
            Stage::Pending,
            Stage::Claimed,
            Stage::Transferred,
            Stage::Escalated,
            Stage::Resolved,
            Stage::Rated,
        ];
        let label = stages
            .iter()
            .find(|&&x| stage_name(x) == st)
            .map_or(st, |x| x.label());
        return format!("工单环节（{label}）");
    }
    if let Some(n) = name.strip_prefix(metric::RATED) {
        let label = n
            .parse()
            .ok()
            .and_then(Rating::from_number)
            .map_or(n, |r| r.label());
        return format!("评价（{label}）");
    }
    name.to_owned()
}

/// Local days `from..=to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Period {
    pub from: i64,
    pub to: i64,
}

/// How the period was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    Day,
    Week,
    Month,
}

impl Period {
    /// The day, week (Monday to Sunday) or month holding local day `day`.
    pub fn of(span: Span, day: i64) -> Period {
        match span {
            Span::Day => Period { from: day, to: day },
            Span::Week => {
                let from = day - weekday(day);
                Period { from, to: from + 6 }
            }
            Span::Month => {
                let (y, m, _) = civil(day);
                let from = days_from_civil(y, m, 1);
                let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                Period {
                    from,
                    to: days_from_civil(ny, nm, 1) - 1,
                }
            }
        }
    }

    /// From `YYYY-MM-DD` texts (the API's `from` and `to`); a missing end is `today`, a missing
    /// start the first of that month. The error is for users, in Chinese.
    pub fn parse(from: Option<&str>, to: Option<&str>, today: i64) -> Result<Period, String> {
        let day = |t: Option<&str>, what: &str| -> Result<Option<i64>, String> {
            match t.map(str::trim).filter(|t| !t.is_empty()) {
                None => Ok(None),
                Some(t) => parse_date(t).map(Some).ok_or_else(|| {
                    format!("{what}日期“{t}”不对，要写成 YYYY-MM-DD，例如 2026-12-01")
                }),
            }
        };
        let to = day(to, "结束")?.unwrap_or(today);
        let from = day(from, "开始")?.unwrap_or_else(|| Period::of(Span::Month, to).from);
        if from > to {
            return Err("开始日期晚于结束日期".into());
        }
        if to - from > 3 * 366 {
            return Err("时间段太长，最多三年".into());
        }
        Ok(Period { from, to })
    }

    pub fn days(&self) -> impl Iterator<Item = i64> {
        self.from..=self.to
    }
}

/// `2026-12-01`.
pub fn date(day: i64) -> String {
    let (y, m, d) = civil(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Whose figures: the whole district, a township or a village.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    District,
    Township(String),
    Village(String),
}

impl Scope {
    /// `all`, `township:ID` or `village:ID`, checked against `org`.
    pub fn parse(text: &str, org: &Org) -> Result<Scope, String> {
        let text = text.trim();
        let scope = if text.is_empty() || text == "all" {
            Scope::District
        } else if let Some(id) = text.strip_prefix("township:") {
            org.township(id)
                .ok_or_else(|| format!("没有编号为“{id}”的乡镇"))?;
            Scope::Township(id.to_owned())
        } else if let Some(id) = text.strip_prefix("village:") {
            org.village(id)
                .ok_or_else(|| format!("没有编号为“{id}”的村"))?;
            Scope::Village(id.to_owned())
        } else {
            return Err(format!(
                "范围“{text}”不对，要写成 all、township:乡镇编号 或 village:村编号"
            ));
        };
        Ok(scope)
    }

    pub fn key(&self) -> String {
        match self {
            Scope::District => "all".into(),
            Scope::Township(id) => format!("township:{id}"),
            Scope::Village(id) => format!("village:{id}"),
        }
    }

    pub fn label(&self, org: &Org) -> String {
        match self {
            Scope::District => format!("全区（{}）", org.district.name),
            Scope::Township(id) => org
                .township(id)
                .map_or_else(|| id.clone(), |t| t.name.clone()),
            Scope::Village(id) => org
                .village(id)
                .map_or_else(|| id.clone(), |v| v.name.clone()),
        }
    }

    /// The villages it covers; `None`: everything, also tickets from outside village groups.
    fn villages(&self, org: &Org) -> Option<BTreeSet<String>> {
        match self {
            Scope::District => None,
            Scope::Township(t) => Some(
                org.villages
                    .iter()
                    .filter(|v| &v.township == t)
                    .map(|v| v.id.clone())
                    .collect(),
            ),
            Scope::Village(v) => Some(BTreeSet::from([v.clone()])),
        }
    }
}

/// The scopes a console user may see: admins and district centre agents everything, township
/// centre agents their townships and their villages, village agents their own villages. Empty:
/// someone who is neither (no statistics).
pub fn allowed_scopes(org: &Org, user: &str, admin: bool) -> Vec<Scope> {
    let all = || {
        let mut v = vec![Scope::District];
        for t in &org.townships {
            v.push(Scope::Township(t.id.clone()));
        }
        for village in &org.villages {
            v.push(Scope::Village(village.id.clone()));
        }
        v
    };
    if admin {
        return all();
    }
    let Some(agent) = org.agent(user) else {
        return Vec::new();
    };
    if agent.district {
        return all();
    }
    let mut v = Vec::new();
    for t in &agent.townships {
        v.push(Scope::Township(t.clone()));
    }
    for village in &org.villages {
        if agent.townships.contains(&village.township) || agent.villages.contains(&village.id) {
            v.push(Scope::Village(village.id.clone()));
        }
    }
    v
}

/// What a report covers.
#[derive(Debug, Clone)]
pub struct Filter {
    pub period: Period,
    pub scope: Scope,
    /// Only this item.
    pub item: Option<String>,
    /// Also the console's sandbox.
    pub sandbox: bool,
}

/// The questions' figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Questions {
    pub asked: i64,
    pub answered: i64,
    pub asked_back: i64,
    pub escalated: i64,
    pub escalated_case: i64,
    pub escalated_complaint: i64,
    /// Outside the guide (also listed matters without a guide card and off-topic questions).
    pub escalated_uncovered: i64,
    /// Personal numbers posted in a group.
    pub escalated_privacy: i64,
    pub ignored: i64,
}

/// A count with its name and Chinese label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Count {
    pub key: String,
    pub label: String,
    pub count: i64,
}

/// The tickets' figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tickets {
    pub opened: i64,
    pub by_reason: Vec<Count>,
    /// Of the tickets opened in the period, by their stage now.
    pub by_stage: Vec<Count>,
    pub responded: i64,
    pub resolved: i64,
    pub transferred: i64,
    /// The ladder: escalated to the township centre, to the district centre.
    pub to_township: i64,
    pub to_district: i64,
}

/// Exact figures of a set of durations (ms).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Durations {
    pub count: usize,
    pub median_ms: Option<u64>,
    pub p90_ms: Option<u64>,
    /// As the ledger writes durations: `2小时5分钟`.
    pub median: String,
    pub p90: String,
}

impl Durations {
    fn of(mut samples: Vec<u64>) -> Durations {
        samples.sort_unstable();
        let rank = |p: usize| -> Option<u64> {
            let n = samples.len();
            (n > 0).then(|| samples[(n * p).div_ceil(100).max(1) - 1])
        };
        let (median_ms, p90_ms) = (rank(50), rank(90));
        let text =
            |ms: Option<u64>| ms.map_or_else(|| "—".to_owned(), crate::helpdesk::ledger::duration);
        Durations {
            count: samples.len(),
            median: text(median_ms),
            p90: text(p90_ms),
            median_ms,
            p90_ms,
        }
    }
}

/// 好差评.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ratings {
    /// 非常满意 … 非常不满意.
    pub levels: Vec<Count>,
    pub rated: i64,
    /// 好评: 非常满意, 满意 and 基本满意 (as the national 好差评 system counts them).
    #[serde(default)]
    pub good: i64,
    /// 差评: 不满意 or worse.
    pub bad: i64,
    /// Follow-up tickets opened for bad ratings, and follow-ups resolved.
    pub follow_ups: i64,
    pub follow_ups_resolved: i64,
}

/// One row of a breakdown (per day, village or item).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub key: String,
    pub label: String,
    pub asked: i64,
    pub answered: i64,
    pub asked_back: i64,
    pub escalated: i64,
    pub opened: i64,
    pub resolved: i64,
}

/// A statistics report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub from: String,
    pub to: String,
    pub scope: String,
    pub scope_label: String,
    pub item: Option<String>,
    pub sandbox: bool,
    pub questions: Questions,
    pub tickets: Tickets,
    pub first_response: Durations,
    pub resolution: Durations,
    pub ratings: Ratings,
    /// Per local day of the period.
    pub days: Vec<Row>,
    /// Per village with anything to count (a township's or the district's).
    pub villages: Vec<Row>,
    /// The items, most asked first.
    pub items: Vec<Row>,
    /// The aspects answered, most asked first.
    pub aspects: Vec<Count>,
}

fn row(rows: &mut BTreeMap<String, Row>, key: &str, metric: &str, n: i64) {
    let r = rows.entry(key.to_owned()).or_insert_with(|| Row {
        key: key.to_owned(),
        ..Row::default()
    });
    match metric {
        metric::ASKED => r.asked += n,
        metric::ANSWERED => r.answered += n,
        metric::ASKED_BACK => r.asked_back += n,
        metric::ESCALATED => r.escalated += n,
        metric::OPENED => r.opened += n,
        metric::RESOLVED => r.resolved += n,
        _ => {}
    }
}

const ROW_METRICS: [&str; 6] = [
    metric::ASKED,
    metric::ANSWERED,
    metric::ASKED_BACK,
    metric::ESCALATED,
    metric::OPENED,
    metric::RESOLVED,
];

/// The report of `filter`, from the statistics ledger.
pub fn report(
    store: &Store,
    org: &Org,
    catalog: &Catalog,
    filter: &Filter,
) -> anyhow::Result<Report> {
    let stats = store.stats()?;
    let period = filter.period;
    let villages = filter.scope.villages(org);
    let wanted = |b: &Bucket| {
        (filter.sandbox || !b.sandbox)
            && villages.as_ref().is_none_or(|v| v.contains(&b.village))
            && filter.item.as_ref().is_none_or(|i| i == &b.item)
    };
    let mut totals: HashMap<String, i64> = HashMap::new();
    let mut days = BTreeMap::new();
    let mut by_village = BTreeMap::new();
    let mut by_item = BTreeMap::new();
    for (b, n) in stats.counts(period.from, period.to)? {
        if !wanted(&b) {
            continue;
        }
        *totals.entry(b.metric.clone()).or_default() += n;
        if ROW_METRICS.contains(&b.metric.as_str()) {
            row(&mut days, &date(b.day), &b.metric, n);
            row(&mut by_village, &b.village, &b.metric, n);
            row(&mut by_item, &b.item, &b.metric, n);
        }
    }
    let get = |m: &str| totals.get(m).copied().unwrap_or(0);
    let sub = |prefix: &str, name: &str| get(&format!("{prefix}{name}"));

    let questions = Questions {
        asked: get(metric::ASKED),
        answered: get(metric::ANSWERED),
        asked_back: get(metric::ASKED_BACK),
        escalated: get(metric::ESCALATED),
        escalated_case: sub("q.escalated.", "case"),
        escalated_complaint: sub("q.escalated.", "complaint"),
        escalated_uncovered: sub("q.escalated.", "uncovered"),
        escalated_privacy: sub("q.escalated.", "privacy"),
        ignored: get(metric::IGNORED),
    };
    let reasons = [
        Reason::Uncovered,
        Reason::Case,
        Reason::Complaint,
        Reason::Privacy,
        Reason::FollowUp,
    ];
    let stages = [
        Stage::Pending,
        Stage::Claimed,
        Stage::Transferred,
        Stage::Escalated,
        Stage::Resolved,
        Stage::Rated,
    ];
    let tickets = Tickets {
        opened: get(metric::OPENED),
        by_reason: reasons
            .iter()
            .map(|&r| Count {
                key: reason_name(r).into(),
                label: r.label().into(),
                count: sub("t.opened.", reason_name(r)),
            })
            .collect(),
        by_stage: stages
            .iter()
            .map(|&s| Count {
                key: stage_name(s).into(),
                label: s.label().into(),
                count: sub(metric::STAGE, stage_name(s)),
            })
            .collect(),
        responded: get(metric::RESPONDED),
        resolved: get(metric::RESOLVED),
        transferred: get(metric::TRANSFERRED),
        to_township: sub(metric::LADDER, "township"),
        to_district: sub(metric::LADDER, "district"),
    };
    let levels: Vec<Count> = Rating::ALL
        .iter()
        .enumerate()
        .map(|(i, r)| Count {
            key: (i + 1).to_string(),
            label: r.label().into(),
            count: sub(metric::RATED, &(i + 1).to_string()),
        })
        .collect();
    let ratings = Ratings {
        rated: levels.iter().map(|c| c.count).sum(),
        good: levels[..3].iter().map(|c| c.count).sum(),
        bad: levels[3].count + levels[4].count,
        levels,
        follow_ups: get(metric::FOLLOW_UP),
        follow_ups_resolved: sub("t.resolved.", "follow_up"),
    };

    let (mut first, mut resolution) = (Vec::new(), Vec::new());
    for (b, _, ms) in stats.samples(period.from, period.to)? {
        if !wanted(&b) {
            continue;
        }
        match b.metric.as_str() {
            metric::FIRST_RESPONSE => first.push(ms),
            metric::RESOLUTION => resolution.push(ms),
            _ => {}
        }
    }

    let days = period
        .days()
        .map(|d| {
            let key = date(d);
            days.get(&key).cloned().unwrap_or(Row {
                key: key.clone(),
                ..Row::default()
            })
        })
        .map(|mut r| {
            r.label = r.key.clone();
            r
        })
        .collect();
    let villages = by_village
        .into_values()
        .map(|mut r| {
            r.label = if r.key.is_empty() {
                "村群以外".into()
            } else {
                org.village(&r.key)
                    .map_or_else(|| r.key.clone(), |v| v.name.clone())
            };
            r
        })
        .collect();
    let mut items: Vec<Row> = by_item
        .into_values()
        .map(|mut r| {
            r.label = if r.key.is_empty() {
                "未定事项".into()
            } else {
                catalog
                    .get(&r.key)
                    .map_or_else(|| r.key.clone(), |i| i.name.clone())
            };
            r
        })
        .collect();
    items.sort_by(|a, b| {
        (b.asked + b.opened)
            .cmp(&(a.asked + a.opened))
            .then(a.key.cmp(&b.key))
    });
    let mut aspects: Vec<Count> = totals
        .iter()
        .filter_map(|(m, &n)| {
            let name = m.strip_prefix(metric::ASPECT)?;
            let label = crate::catalog::Aspect::from_name(name)
                .map_or_else(|| name.to_owned(), |a| a.label().to_owned());
            Some(Count {
                key: name.to_owned(),
                label,
                count: n,
            })
        })
        .collect();
    aspects.sort_by(|a, b| b.count.cmp(&a.count).then(a.key.cmp(&b.key)));

    Ok(Report {
        from: date(period.from),
        to: date(period.to),
        scope: filter.scope.key(),
        scope_label: filter.scope.label(org),
        item: filter.item.clone(),
        sandbox: filter.sandbox,
        questions,
        tickets,
        first_response: Durations::of(first),
        resolution: Durations::of(resolution),
        ratings,
        days,
        villages,
        items,
        aspects,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_start_on_monday_and_months_have_their_days() {
        let d = parse_date("2026-12-03").unwrap(); // a Thursday
        let w = Period::of(Span::Week, d);
        assert_eq!(
            (date(w.from), date(w.to)),
            ("2026-11-30".into(), "2026-12-06".into())
        );
        let m = Period::of(Span::Month, parse_date("2024-02-10").unwrap());
        assert_eq!(
            (date(m.from), date(m.to)),
            ("2024-02-01".into(), "2024-02-29".into())
        );
        let m = Period::of(Span::Month, parse_date("2026-12-31").unwrap());
        assert_eq!(date(m.to), "2026-12-31");
    }

    #[test]
    fn medians_and_p90_are_nearest_rank() {
        let d = Durations::of(vec![50, 10, 40, 30, 20, 60, 70, 80, 90, 100]);
        assert_eq!((d.median_ms, d.p90_ms), (Some(50), Some(90)));
        let d = Durations::of(vec![7]);
        assert_eq!((d.median_ms, d.p90_ms), (Some(7), Some(7)));
        assert_eq!(Durations::of(Vec::new()).median_ms, None);
    }

    #[test]
    fn metrics_have_chinese_names() {
        assert_eq!(metric_label("t.opened.case"), "新建工单（本人的事）");
        assert_eq!(metric_label("t.rated.4"), "评价（不满意）");
        assert_eq!(metric_label("q.asked"), "提问");
        assert_eq!(
            metric_label("t.stage.pending"),
            format!("工单环节（{}）", Stage::Pending.label())
        );
    }

    #[test]
    fn a_bad_period_says_why() {
        assert!(Period::parse(Some("2026-13-01"), None, 20_000).is_err());
        assert!(Period::parse(Some("2026-12-02"), Some("2026-12-01"), 0).is_err());
        let p = Period::parse(None, Some("2026-12-15"), 0).unwrap();
        assert_eq!(date(p.from), "2026-12-01");
    }
}
