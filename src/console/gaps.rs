//! The gap page: the questions the guide did not serve (`store::gaps`), grouped by similarity,
//! and what an admin does with a group — teach the bot (add its questions as example questions
//! of an item: a revision like any edit, so the bot answers them at once), start a new item
//! from an agent's reply to one of its tickets, or dismiss it.

use super::auth::User;
use super::items::{self, Change, Refused};
use crate::catalog::fields::{self, Fields};
use crate::engine::Engine;
use crate::helpdesk::privacy;
use crate::store::audit::AuditEntry;
use crate::store::catalog::Revision;
use crate::store::gaps::{Gap, GapKind, GapStatus};
use crate::store::tickets::{Change as TicketChange, Reason, Role, Ticket};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// How far back the page looks, and at most how many questions it groups.
const DAYS: u64 = 90;
const MAX_QUESTIONS: usize = 5000;
/// Two questions are alike when their character pairs overlap this much (Jaccard).
const ALIKE: f64 = 0.4;

/// Similar questions, with what the page shows of them.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// The id of its oldest question: the group's handle in links and forms.
    pub id: u64,
    /// Its distinct questions (numbers masked), most frequent first.
    pub questions: Vec<String>,
    pub count: usize,
    pub first_seen: u64,
    pub last_seen: u64,
    /// Village names (or the platform's chat when no village is known).
    pub villages: Vec<String>,
    /// What happened to them: 指南没有, 反问后没选, 答了说不对.
    pub kinds: Vec<&'static str>,
    /// The item the bot answered or offered most often, if any.
    pub item: Option<String>,
    /// The latest agent's reply to a ticket one of its questions became (numbers masked):
    /// what a new item is started from.
    pub reply: Option<AgentReply>,
    #[serde(skip)]
    members: Vec<u64>,
}

/// An agent's reply to a resident's ticket.
#[derive(Debug, Clone, Serialize)]
pub struct AgentReply {
    pub ticket: u64,
    pub agent: String,
    /// The reply, residents' numbers masked.
    pub text: String,
    #[serde(skip)]
    at: u64,
}

/// The open gaps of the last [`DAYS`] days, grouped; the biggest groups first.
pub fn groups(engine: &Engine, now_ms: u64) -> Result<Vec<Group>, Refused> {
    let since = now_ms.saturating_sub(DAYS * 24 * 3600 * 1000);
    let open = engine.store().open_gaps(since, MAX_QUESTIONS)?;
    let org = &engine.config().org;
    let replies = agent_replies(engine, since)?;
    // Each cluster: the character pairs of its first question, and its members.
    type Cluster = (BTreeSet<(char, char)>, Vec<(u64, Gap)>);
    let mut clusters: Vec<Cluster> = Vec::new();
    for (id, gap) in open {
        let pairs = pairs(&gap.text);
        match clusters
            .iter_mut()
            .find(|(first, _)| jaccard(first, &pairs) >= ALIKE)
        {
            Some((_, members)) => members.push((id, gap)),
            None => clusters.push((pairs, vec![(id, gap)])),
        }
    }
    let mut groups: Vec<Group> = clusters
        .into_iter()
        .map(|(_, members)| {
            let mut texts: BTreeMap<&str, usize> = BTreeMap::new();
            let mut items: BTreeMap<&str, usize> = BTreeMap::new();
            let mut villages = BTreeSet::new();
            let mut kinds = BTreeSet::new();
            for (_, g) in &members {
                *texts.entry(&g.text).or_default() += 1;
                if let Some(item) = &g.item {
                    *items.entry(item).or_default() += 1;
                }
                let place = g
                    .village
                    .as_deref()
                    .and_then(|v| org.village(v))
                    .map_or_else(|| format!("（{}）", g.platform), |v| v.name.clone());
                villages.insert(place);
                kinds.insert(g.kind.label());
            }
            let mut questions: Vec<(&str, usize)> = texts.into_iter().collect();
            questions.sort_by_key(|q| std::cmp::Reverse(q.1));
            Group {
                id: members[0].0,
                questions: questions.iter().map(|(t, _)| t.to_string()).collect(),
                count: members.len(),
                first_seen: members.iter().map(|(_, g)| g.at).min().unwrap_or(0),
                last_seen: members.iter().map(|(_, g)| g.at).max().unwrap_or(0),
                villages: villages.into_iter().collect(),
                kinds: kinds.into_iter().collect(),
                item: items
                    .into_iter()
                    .max_by_key(|(_, n)| *n)
                    .map(|(i, _)| i.to_owned()),
                reply: members
                    .iter()
                    .filter(|(_, g)| g.kind == GapKind::Uncovered)
                    .filter_map(|(_, g)| {
                        replies.get(&(g.platform.clone(), g.at, g.village.clone()))
                    })
                    .max_by_key(|r| r.at)
                    .cloned(),
                members: members.iter().map(|(id, _)| *id).collect(),
            }
        })
        .collect();
    groups.sort_by(|a, b| b.count.cmp(&a.count).then(b.last_seen.cmp(&a.last_seen)));
    Ok(groups)
}

fn group(engine: &Engine, id: u64, now_ms: u64) -> Result<Group, Refused> {
    groups(engine, now_ms)?
        .into_iter()
        .find(|g| g.id == id)
        .ok_or(Refused::Unknown)
}

/// Adds group `id`'s questions as example questions of `item` under `aspect` (an aspect name,
/// `case` or `complaint`), as a new revision of the item; the group leaves the list.
pub async fn teach(
    engine: &Engine,
    id: u64,
    item: &str,
    aspect: &str,
    change: &Change<'_>,
    now_ms: u64,
) -> Result<Revision, Refused> {
    let group = group(engine, id, now_ms)?;
    let current = items::current(engine, item)?;
    let mut card = current.item.clone();
    let examples = card.examples.entry(aspect.to_owned()).or_default();
    for q in &group.questions {
        if !examples.contains(q) {
            examples.push(q.clone());
        }
    }
    let change = Change {
        base: Some(current.rev),
        ..*change
    };
    let rev = items::save_item(engine, &card, &change).await?;
    engine
        .store()
        .set_gap_status(&group.members, &GapStatus::Taught(item.to_owned()))?;
    audit(engine, change.user, change.from, "gap.teach", id, item)?;
    Ok(rev)
}

/// What identifies the gap noted with a ticket: (platform, when, village).
type GapKey = (String, u64, Option<String>);

/// The agents' latest replies to tickets opened since `since` as outside the guide, by what
/// identifies the gap noted with each ticket: (platform, when, village).
fn agent_replies(engine: &Engine, since: u64) -> Result<HashMap<GapKey, AgentReply>, Refused> {
    let tickets = engine.store().tickets()?.all()?;
    let mut out = HashMap::new();
    for t in tickets
        .iter()
        .filter(|t| t.reason == Reason::Uncovered && t.created_at >= since)
    {
        if let Some(reply) = last_reply(t) {
            let platform = crate::store::seen::platform_name(t.platform).to_owned();
            out.insert((platform, t.created_at, t.village.clone()), reply);
        }
    }
    Ok(out)
}

fn last_reply(t: &Ticket) -> Option<AgentReply> {
    t.events.iter().rev().find_map(|e| match &e.change {
        TicketChange::Replied { text } if matches!(e.by.role, Role::Agent | Role::Admin) => {
            Some(AgentReply {
                ticket: t.id,
                agent: e.by.name.clone(),
                text: privacy::mask(text),
                at: e.at,
            })
        }
        _ => None,
    })
}

/// The new-item form for group `id`, filled in from the agent's reply: a name guessed from the
/// question, the group's questions as example questions, the reply as the overview and as the
/// answer of an FAQ entry. Department and id are left for the admin.
pub fn draft(engine: &Engine, id: u64, now_ms: u64) -> Result<Fields, Refused> {
    let group = group(engine, id, now_ms)?;
    let reply = group.reply.as_ref().ok_or(Refused::Unknown)?;
    let one_line = |t: &str| -> String {
        t.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .replace(['｜', '|'], "/")
    };
    let answer = one_line(&reply.text);
    let asked = fields::example_kind_label("overview");
    let mut f = Fields::new();
    f.insert("name".into(), guess_name(&group.questions[0]));
    f.insert("summary".into(), answer.clone());
    f.insert(
        "faq".into(),
        format!("{}｜{answer}", one_line(&group.questions[0])),
    );
    f.insert(
        "examples".into(),
        group
            .questions
            .iter()
            .map(|q| format!("{asked}｜{}", one_line(q)))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    f.insert(
        "review_source".into(),
        format!("专员{}对工单 {} 的回复", reply.agent, reply.ticket),
    );
    f.insert("review_status".into(), "样例".into());
    f.insert("fee_free".into(), "是".into());
    f.insert("time_instant".into(), "否".into());
    Ok(f)
}

/// Creates item `item` from `fields` (the draft as the admin finished it) as its first
/// revision; group `id` leaves the list, taught to the new item.
pub async fn create_item(
    engine: &Engine,
    id: u64,
    item: &str,
    fields: &Fields,
    change: &Change<'_>,
    now_ms: u64,
) -> Result<Revision, Refused> {
    let group = group(engine, id, now_ms)?;
    let change = Change {
        base: None,
        ..*change
    };
    let rev = items::save_fields(engine, item, fields, &change).await?;
    engine
        .store()
        .set_gap_status(&group.members, &GapStatus::Taught(item.to_owned()))?;
    audit(engine, change.user, change.from, "gap.new_item", id, item)?;
    Ok(rev)
}

/// A name for a new item from a resident's question: the question without its greeting, its
/// question words and its punctuation ("请问村里的路灯坏了找谁？" → "村里的路灯坏了").
fn guess_name(question: &str) -> String {
    const LEADS: &[&str] = &[
        "请问一下",
        "请问",
        "问一下",
        "你好",
        "您好",
        "我想问",
        "想问",
    ];
    const TAILS: &[&str] = &[
        "怎么办理",
        "怎么办",
        "怎么弄",
        "怎么搞",
        "咋办",
        "咋弄",
        "找谁修",
        "找谁",
        "找哪个",
        "去哪里",
        "去哪",
        "在哪里",
        "在哪",
        "怎么",
        "吗",
        "呢",
        "啊",
        "呀",
        "的",
    ];
    let is_mark = |c: char| "，。？！?!,.；;、 \n".contains(c);
    let mut q = question.trim_matches(is_mark);
    while let Some(rest) = LEADS.iter().find_map(|l| q.strip_prefix(l)) {
        q = rest.trim_start_matches(is_mark);
    }
    let mut q = q.split(is_mark).next().unwrap_or("");
    while let Some(rest) = TAILS.iter().find_map(|t| q.strip_suffix(t)) {
        if rest.is_empty() {
            break;
        }
        q = rest.trim_end();
    }
    q.chars().take(20).collect()
}

/// Dismisses group `id`: its questions leave the list (they stay stored).
pub fn dismiss(
    engine: &Engine,
    id: u64,
    user: &User,
    from: &str,
    now_ms: u64,
) -> Result<usize, Refused> {
    let group = group(engine, id, now_ms)?;
    engine
        .store()
        .set_gap_status(&group.members, &GapStatus::Dismissed)?;
    audit(engine, user, from, "gap.dismiss", id, "")?;
    Ok(group.count)
}

fn audit(
    engine: &Engine,
    user: &User,
    from: &str,
    action: &str,
    id: u64,
    item: &str,
) -> Result<(), Refused> {
    engine.store().audit(&AuditEntry {
        at: super::now_ms(),
        who: user.id.clone(),
        from: from.to_owned(),
        action: action.to_owned(),
        target: format!("gap:{id}"),
        detail: item.to_owned(),
    })?;
    Ok(())
}

/// The pairs of neighbouring letters of `text`, ignoring punctuation and spaces.
fn pairs(text: &str) -> BTreeSet<(char, char)> {
    let letters: Vec<char> = text
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    if letters.len() == 1 {
        return BTreeSet::from([(letters[0], ' ')]);
    }
    letters.windows(2).map(|w| (w[0], w[1])).collect()
}

fn jaccard(a: &BTreeSet<(char, char)>, b: &BTreeSet<(char, char)>) -> f64 {
    let union = a.union(b).count();
    if union == 0 {
        return 0.0;
    }
    a.intersection(b).count() as f64 / union as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_items_name_is_the_question_without_greeting_question_words_or_punctuation() {
        assert_eq!(guess_name("请问村里的路灯坏了找谁？"), "村里的路灯坏了");
        assert_eq!(
            guess_name("广场舞的音响太吵了找谁管"),
            "广场舞的音响太吵了找谁管"
        );
        assert_eq!(guess_name("你好，宅基地怎么办理"), "宅基地");
        assert_eq!(guess_name("吗"), "吗");
    }

    #[test]
    fn questions_alike_share_most_of_their_character_pairs() {
        let a = pairs("村里的路灯坏了找谁");
        assert!(jaccard(&a, &pairs("村里路灯坏了找谁修")) >= ALIKE);
        assert!(jaccard(&a, &pairs("村里的路灯坏了，找谁？")) >= ALIKE);
        assert!(jaccard(&a, &pairs("老年卡要带什么")) < ALIKE);
        assert_eq!(jaccard(&pairs(""), &pairs("")), 0.0);
    }
}
