//! 好差评: after 办结 the resident rates the service 1–5; 不满意 or worse opens a follow-up ticket
//! for the township centre.

use super::escalate::{create_once_in_chat, handler_at};
use super::{Desk, fill, notify};
use crate::runtime::metrics::record_ticket;
use crate::store::tickets::{
    Actor, Change, Level, Rating, Reason, Role, Stage, Ticket, TicketEvent, source_key,
};
use bangban_contract::{Incoming, Outgoing};

/// A rating as residents reply to the question: `1`…`5` (also full-width or 一…五), a level's
/// name (`满意`), or stars (`五星`, `5星`, `一颗星`: more stars are better, 5 = 非常满意) and
/// `满分` (非常满意).
///
/// Points (`5分`, `打5分`) are not a rating: their scale is unclear — out of 5, 10 or 100, and
/// our numbers run the other way (5 = 非常不满意) — so such a message is left as an ordinary one.
pub fn parse(text: &str) -> Option<Rating> {
    let t = text
        .trim()
        .trim_end_matches(|c: char| "。.!！~～".contains(c) || c.is_whitespace());
    if let Some(r) = Rating::ALL.iter().find(|r| r.label() == t) {
        return Some(*r);
    }
    if t == "满分" {
        return Some(Rating::VerySatisfied);
    }
    if let Some(stars) = t
        .strip_suffix("颗星")
        .or_else(|| t.strip_suffix('星'))
        .and_then(digit)
    {
        return Rating::from_number(6 - stars);
    }
    Rating::from_number(digit(t)?)
}

/// `5`, `５` or `五`: 1–5.
fn digit(t: &str) -> Option<u32> {
    let mut chars = t.chars();
    let c = chars.next()?;
    if chars.next().is_some() {
        return None;
    }
    match c {
        '1'..='5' => Some(c as u32 - '0' as u32),
        '１'..='５' => Some(c as u32 - '１' as u32 + 1),
        _ => Some("一二三四五".chars().position(|x| x == c)? as u32 + 1),
    }
}

enum Refusal {
    /// This very message was taken already: announce it again.
    Done,
    /// The ticket no longer awaits a rating (rated already, or resolved longer ago than the
    /// rating window): the message is not a rating.
    NotAwaiting,
}

impl Desk {
    /// Takes `rating` from `event`'s sender if a resolved ticket of theirs in that chat awaits
    /// one: resolved within the rating window (`[rating] window_days` of `org.toml`) and not
    /// rated yet. `None`: nothing awaits a rating, so the message is an ordinary one.
    pub async fn rate(
        &self,
        event: &Incoming,
        rating: Rating,
        now: u64,
    ) -> anyhow::Result<Option<Vec<Outgoing>>> {
        let tickets = self.store.tickets()?;
        let Some(id) = tickets.awaiting_rating(event.platform, &event.chat, &event.sender)? else {
            return Ok(None);
        };
        let source = source_key(event.platform, &event.account, &event.message_id);
        let window = (self.config.org.rating_window.max(0) as u64).saturating_mul(1000);
        let resident = Actor {
            role: Role::Resident,
            id: event.sender.clone(),
            name: event.sender_name.clone().unwrap_or_default(),
        };
        let result = tickets.update(id, |t| {
            if t.event_from(&source).is_some() {
                return Err(Refusal::Done);
            }
            if t.stage != Stage::Resolved {
                return Err(Refusal::NotAwaiting);
            }
            if t.resolved_at.is_none_or(|r| now > r.saturating_add(window)) {
                return Err(Refusal::NotAwaiting);
            }
            t.stage = Stage::Rated;
            t.rating = Some(rating);
            t.record(
                now,
                resident.clone(),
                Change::Rated { rating },
                Some(&source),
            );
            Ok(())
        })?;
        if let Some(Ok(_)) = &result {
            tracing::info!(ticket = id, rating = rating.label(), "ticket rated");
            record_ticket("rated");
        }
        let rated = match result {
            None | Some(Err(Refusal::NotAwaiting)) => return Ok(None),
            Some(Err(Refusal::Done)) => tickets
                .get(id)?
                .ok_or_else(|| anyhow::anyhow!("ticket {id} vanished"))?,
            Some(Ok((t, ()))) => t,
        };
        let Some(Change::Rated { rating }) = rated.event_from(&source).map(|e| e.change.clone())
        else {
            anyhow::bail!("ticket {id} lacks the rating of {source}");
        };
        let org = &self.config.org;
        if !rating.is_bad() {
            self.store.flush().await?;
            return Ok(Some(vec![notify::to_resident(
                &rated,
                org.replies.rated.clone(),
            )]));
        }
        // Not satisfied: a follow-up for the township centre, once per rating message.
        let handler = handler_at(org, Level::Township, rated.village.as_deref());
        let draft = Ticket {
            id: 0,
            source: source.clone(),
            message_id: event.message_id.clone(),
            question: format!(
                "居民对工单{id}的评价：{}。原问题：{}",
                rating.label(),
                rated.question
            ),
            reason: Reason::FollowUp,
            follow_up_of: Some(id),
            stage: Stage::Pending,
            level: notify::level_of(org, &handler),
            handler,
            assignee: None,
            waiting_since: now,
            created_at: now,
            claimed_at: None,
            resolved_at: None,
            rating: None,
            events: vec![TicketEvent {
                at: now,
                by: Actor::bot(),
                change: Change::Created,
                source: Some(source.clone()),
            }],
            ..rated.clone()
        };
        let (follow_up, created) = create_once_in_chat(&tickets, draft)?;
        if created {
            tracing::info!(
                ticket = follow_up.id,
                of = id,
                "follow-up opened for a bad rating"
            );
            record_ticket("follow_up");
        }
        let fid = follow_up.id;
        tickets.update(id, |t| {
            if !t
                .events
                .iter()
                .any(|e| e.change == Change::FollowUp { ticket: fid })
            {
                t.record(now, Actor::bot(), Change::FollowUp { ticket: fid }, None);
            }
            Ok::<_, ()>(())
        })?;
        self.store.flush().await?;
        let mut out = vec![notify::to_resident(
            &follow_up,
            fill(
                &org.replies.rated_bad,
                &[
                    ("who", &notify::who(org, &follow_up.handler)),
                    ("ticket", &fid.to_string()),
                ],
            ),
        )];
        out.extend(self.announce_new(&follow_up, "差评回访"));
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratings_as_residents_write_them() {
        assert_eq!(parse("1"), Some(Rating::VerySatisfied));
        assert_eq!(parse(" ５ "), Some(Rating::VeryDissatisfied));
        assert_eq!(parse("三"), Some(Rating::Basic));
        assert_eq!(parse("五星"), Some(Rating::VerySatisfied));
        assert_eq!(parse("5星！"), Some(Rating::VerySatisfied));
        assert_eq!(parse("满分"), Some(Rating::VerySatisfied));
        assert_eq!(parse("一颗星"), Some(Rating::VeryDissatisfied));
        assert_eq!(parse("4星"), Some(Rating::Satisfied));
        assert_eq!(parse("满意！"), Some(Rating::Satisfied));
        assert_eq!(parse("非常不满意"), Some(Rating::VeryDissatisfied));
        assert_eq!(parse("6"), None);
        assert_eq!(parse("12"), None);
        assert_eq!(parse("我很满意你们"), None);
        // Points have no clear scale (and ours runs the other way): not a rating.
        for points in ["5分", "打5分", "打4分", "１分", "五分", "6星", "三星堆"] {
            assert_eq!(parse(points), None, "{points}");
        }
    }
}
