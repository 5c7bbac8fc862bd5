//! The 1+5+76 ladder: a ticket nobody claims climbs from the village station to the township
//! centre after T1, and to the district centre after T2, of duty time since it began to wait.
//!
//! The clock runs only while the agents responsible for the ticket are on duty: at least one of
//! them, by their `duty` hours in `org.toml` or else office hours (see [`super::hours`]). That is
//! the promise the resident was given ("专员…上班后回复您" comes from the same hours), so a rung
//! is passed over only when its own agents let T1 go by while on duty: a ticket for a village
//! agent on duty on Saturday mornings climbs on a Saturday morning, and one for an agent who works
//! mornings only does not climb over them in the afternoon, while the office is open. After an
//! escalation the township centre's own duty time counts, on top of the T1 already spent: it gets
//! T2 − T1 of it before the district centre. When everyone keeps office hours this is the
//! office-hours clock.

use super::escalate::handler_at;
use super::{Desk, hours, notify, secs};
use crate::config::org::{Escalation, Org};
use crate::runtime::metrics::record_ticket;
use crate::store::tickets::{Actor, Change, Level, Stage, Ticket};
use bangban_contract::Outgoing;

impl Desk {
    /// Moves every unclaimed ticket that has waited long enough one or two rungs up, flushes, and
    /// returns the notifications to the agents now responsible.
    pub async fn tick(&self, now: u64) -> anyhow::Result<Vec<Outgoing>> {
        let org = &self.config.org;
        let tickets = self.store.tickets()?;
        let mut moved = Vec::new();
        for id in tickets.waiting()? {
            let result = tickets.update(id, |t| {
                if !t.stage.is_waiting() {
                    return Err(());
                }
                let worked = worked_secs(org, t, now);
                let rung = next_rung(t.level, worked, &org.escalation).ok_or(())?;
                let handler = handler_at(org, rung, t.village.as_deref());
                let level = notify::level_of(org, &handler);
                if level <= t.level {
                    return Err(());
                }
                t.level = level;
                t.handler = handler;
                t.stage = Stage::Escalated;
                t.record(now, Actor::bot(), Change::Escalated { to: level }, None);
                Ok(worked)
            })?;
            if let Some(Ok(moved_ticket)) = result {
                moved.push(moved_ticket);
            }
        }
        if moved.is_empty() {
            return Ok(Vec::new());
        }
        self.store.flush().await?;
        let mut out = Vec::new();
        for (t, worked) in moved {
            tracing::info!(ticket = t.id, level = ?t.level, "ticket escalated");
            record_ticket("escalated");
            let who = notify::who(org, &t.handler);
            out.extend(notify::to_agents(org, &t, &t.handler, |private| {
                format!(
                    "【工单 {id} 升级到{level}】上班时间{minutes}分钟没人接单，请{who}处理：\n{summary}\n发“接单 {id}”认领。",
                    id = t.id,
                    level = notify::level_label(t.level),
                    minutes = worked / 60,
                    summary = notify::summary(org, &self.guide.load().catalog, &t, !private),
                )
            }));
        }
        Ok(out)
    }
}

/// The duty time, in seconds, that counts towards the next rung of waiting ticket `t` at `now`:
/// that of the agents now responsible since it began to wait or, if it was escalated since, T1
/// plus theirs since the escalation.
fn worked_secs(org: &Org, t: &Ticket, now: u64) -> i64 {
    let escalated = t
        .events
        .iter()
        .rev()
        .filter(|e| e.at >= t.waiting_since)
        .find(|e| matches!(e.change, Change::Escalated { .. }));
    let (since, spent) = match escalated {
        Some(e) => (e.at, org.escalation.t1),
        None => (t.waiting_since, 0),
    };
    let duty = notify::duty_of(org, &t.handler);
    spent + hours::open_secs(&duty, secs(since), secs(now))
}

/// The rung a ticket at `level` should reach after `worked` seconds of duty time, if higher.
fn next_rung(level: Level, worked: i64, e: &Escalation) -> Option<Level> {
    let due = if worked >= e.t2 {
        Level::District
    } else if worked >= e.t1 {
        Level::Township
    } else {
        return None;
    };
    (due > level).then_some(due)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rungs_follow_t1_and_t2() {
        let e = Escalation { t1: 1800, t2: 7200 };
        assert_eq!(next_rung(Level::Village, 1799, &e), None);
        assert_eq!(next_rung(Level::Village, 1800, &e), Some(Level::Township));
        assert_eq!(next_rung(Level::Township, 1800, &e), None);
        assert_eq!(next_rung(Level::Township, 7200, &e), Some(Level::District));
        assert_eq!(next_rung(Level::Village, 9000, &e), Some(Level::District));
        assert_eq!(next_rung(Level::District, 99_999, &e), None);
    }
}
