//! 好差评: after 办结 the resident rates the service 1–5; 不满意 or worse opens a follow-up ticket
//! for the township centre.

use super::escalate::handler_at;
use super::{Desk, fill, notify};
use crate::runtime::metrics::record_ticket;
use crate::store::tickets::{
    Actor, Change, Level, Rating, Reason, Role, Stage, Ticket, TicketEvent, source_key,
};
use bangban_contract::{Incoming, Outgoing};

/// A rating as residents reply to the question: `1`…`5` (also full-width, 一…五, `打5分`) or a
/// level's name (`满意`).
pub fn parse(text: &str) -> Option<Rating> {
    let t = text
        .trim()
        .trim_end_matches(|c: char| "。.!！~～分".contains(c) || c.is_whitespace());
    let t = t.strip_prefix("打").unwrap_or(t).trim();
    if let Some(r) = Rating::ALL.iter().find(|r| r.label() == t) {
        return Some(*r);
    }
    let mut chars = t.chars();
    let c = chars.next()?;
    if chars.next().is_some() {
        return None;
    }
    let n = match c {
        '1'..='5' => c as u32 - '0' as u32,
        '１'..='５' => c as u32 - '１' as u32 + 1,
        _ => "一二三四五".chars().position(|x| x == c)? as u32 + 1,
    };
    Rating::from_number(n)
}

enum Refusal {
    /// This very message was taken already: announce it again.
    Done,
    /// The ticket no longer awaits a rating: the message is not a rating.
    NotAwaiting,
}

impl Desk {
    /// Takes `rating` from `event`'s sender if a resolved ticket of theirs in that chat awaits
    /// one. `None`: nothing awaits a rating, so the message is an ordinary one.
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
        let (follow_up, created) = tickets.create_once(&draft)?;
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
        assert_eq!(parse("打4分"), Some(Rating::Dissatisfied));
        assert_eq!(parse("三"), Some(Rating::Basic));
        assert_eq!(parse("满意！"), Some(Rating::Satisfied));
        assert_eq!(parse("非常不满意"), Some(Rating::VeryDissatisfied));
        assert_eq!(parse("6"), None);
        assert_eq!(parse("12"), None);
        assert_eq!(parse("我很满意你们"), None);
    }
}
