//! The decision, from the models' probabilities: answer when one item is clearly likely, ask
//! back among the 2–4 plausible items, hand a listed matter without a guide, an own case or a
//! complaint to an agent, greet, thank, or stay silent. Every threshold is in `matcher.toml`.
//!
//! Not addressed to the bot, it speaks only for a clearly likely question about one item, or
//! hands over an own case or complaint about a clearly likely item; everything else is chatter.

use super::examples::Intent;
use crate::config::Tuning;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Answer,
    Clarify,
    Escalate,
    Help,
    /// Thanks get a short reply; reported as `help` in the `ask` contract.
    Thanks,
    Ignore,
}

impl Decision {
    /// The contract name (DESIGN.md).
    pub fn name(self) -> &'static str {
        match self {
            Decision::Answer => "answer",
            Decision::Clarify => "clarify",
            Decision::Escalate => "escalate",
            Decision::Help | Decision::Thanks => "help",
            Decision::Ignore => "ignore",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EscalateReason {
    /// The resident's own case: status, money, "帮我查".
    Case,
    /// A complaint about the service.
    Complaint,
    /// A question the guide does not cover.
    Uncovered,
}

/// What the models said about one message.
pub(crate) struct Probs<'a> {
    /// Indexed like [`Intent::ALL`].
    pub intent: &'a [f32],
    /// Items with their probability, best first.
    pub items: &'a [(usize, f32)],
    /// A listed matter without a guide.
    pub matter: f32,
}

impl Probs<'_> {
    pub fn intent(&self) -> (Intent, f32) {
        let (i, p) = self
            .intent
            .iter()
            .enumerate()
            .fold(
                (0, f32::MIN),
                |best, (i, &p)| if p > best.1 { (i, p) } else { best },
            );
        (Intent::ALL[i], p)
    }

    fn of(&self, intent: Intent) -> f32 {
        let i = Intent::ALL.iter().position(|x| *x == intent).unwrap_or(0);
        self.intent.get(i).copied().unwrap_or(0.0)
    }

    fn top(&self) -> (Option<usize>, f32, f32) {
        let first = self.items.first();
        let second = self.items.get(1).map_or(0.0, |x| x.1);
        (first.map(|x| x.0), first.map_or(0.0, |x| x.1), second)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Verdict {
    pub decision: Decision,
    pub item: Option<usize>,
    /// Asking back: the items offered. Escalating without a confident item: the likely ones,
    /// for the agent.
    pub candidates: Vec<usize>,
    pub reason: Option<EscalateReason>,
    /// Escalated as a listed matter without a guide.
    pub matter: bool,
}

impl Verdict {
    fn new(decision: Decision) -> Verdict {
        Verdict {
            decision,
            item: None,
            candidates: Vec::new(),
            reason: None,
            matter: false,
        }
    }

    pub(crate) fn answer(item: usize) -> Verdict {
        Verdict {
            item: Some(item),
            ..Verdict::new(Decision::Answer)
        }
    }
}

pub(crate) fn decide(p: &Probs, empty: bool, addressed: bool, t: &Tuning) -> Verdict {
    let silent_or = |d| Verdict::new(if addressed { d } else { Decision::Ignore });
    if empty {
        return silent_or(Decision::Help);
    }
    let (intent, _) = p.intent();
    let (top, p1, p2) = p.top();
    let clear = top.filter(|_| p1 >= t.answer_min_prob && p1 - p2 >= t.answer_min_margin);
    let likely: Vec<usize> = p
        .items
        .iter()
        .filter(|(_, q)| *q >= t.candidate_min_prob)
        .take(t.clarify_max_candidates)
        .map(|(i, _)| *i)
        .collect();
    // A ticket names an item only when the understanding was confident; otherwise the agent
    // sees the likely ones.
    let escalate = |reason| {
        let confident = top.filter(|_| p1 >= t.ticket_item_min_prob && p1 > p.matter);
        Verdict {
            item: confident,
            candidates: if confident.is_some() {
                Vec::new()
            } else {
                likely.clone()
            },
            reason: Some(reason),
            ..Verdict::new(Decision::Escalate)
        }
    };
    match intent {
        Intent::Help => silent_or(Decision::Help),
        Intent::Thanks => silent_or(Decision::Thanks),
        Intent::Chatter => silent_or(Decision::Help),
        // Outside the guide and the list: an agent may still know (电费, 路灯); never guessed.
        Intent::Offtopic if addressed => escalate(EscalateReason::Uncovered),
        Intent::Offtopic => Verdict::new(Decision::Ignore),
        Intent::Case | Intent::Complaint => {
            let reason = if intent == Intent::Case {
                EscalateReason::Case
            } else {
                EscalateReason::Complaint
            };
            let v = escalate(reason);
            if addressed || (p.of(intent) >= t.open_ask_min_prob && v.item.is_some()) {
                v
            } else {
                Verdict::new(Decision::Ignore)
            }
        }
        Intent::Ask => {
            let ask = p.of(Intent::Ask);
            if !addressed {
                return match clear {
                    Some(i)
                        if p1 >= t.open_answer_min_prob
                            && ask >= t.open_ask_min_prob
                            && p1 > p.matter =>
                    {
                        Verdict::answer(i)
                    }
                    _ => Verdict::new(Decision::Ignore),
                };
            }
            if p.matter >= t.matter_min_prob && p.matter > p1 {
                return Verdict {
                    matter: true,
                    ..escalate(EscalateReason::Uncovered)
                };
            }
            if let Some(i) = clear
                && ask >= t.ask_min_prob
            {
                return Verdict::answer(i);
            }
            let mass: f32 = p
                .items
                .iter()
                .filter(|(i, _)| likely.contains(i))
                .map(|x| x.1)
                .sum();
            if likely.len() >= 2 && mass >= t.clarify_min_mass {
                return Verdict {
                    candidates: likely,
                    ..Verdict::new(Decision::Clarify)
                };
            }
            escalate(EscalateReason::Uncovered)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuning() -> Tuning {
        Tuning {
            epochs: 10,
            learning_rate: 0.5,
            l2: 1e-5,
            class_balance: 0.5,
            min_sound_chars: 2,
            answer_min_prob: 0.6,
            answer_min_margin: 0.3,
            ask_min_prob: 0.5,
            open_answer_min_prob: 0.8,
            open_ask_min_prob: 0.7,
            candidate_min_prob: 0.15,
            clarify_max_candidates: 4,
            clarify_min_mass: 0.6,
            matter_min_prob: 0.4,
            ticket_item_min_prob: 0.6,
            faq_min_similarity: 0.6,
            faq_min_coverage: 0.7,
        }
    }

    /// Intent probabilities with `p` on `intent` and the rest spread evenly.
    fn intent(intent: Intent, p: f32) -> Vec<f32> {
        let rest = (1.0 - p) / (Intent::ALL.len() - 1) as f32;
        Intent::ALL
            .iter()
            .map(|i| if *i == intent { p } else { rest })
            .collect()
    }

    fn run(i: &[f32], items: &[(usize, f32)], matter: f32, addressed: bool) -> Verdict {
        let p = Probs {
            intent: i,
            items,
            matter,
        };
        decide(&p, false, addressed, &tuning())
    }

    #[test]
    fn a_clearly_likely_item_is_answered() {
        let ask = intent(Intent::Ask, 0.9);
        let v = run(&ask, &[(3, 0.85), (1, 0.05)], 0.02, true);
        assert_eq!((v.decision, v.item), (Decision::Answer, Some(3)));
    }

    #[test]
    fn plausible_items_are_asked_back_and_a_spread_guess_goes_to_an_agent() {
        let ask = intent(Intent::Ask, 0.9);
        let v = run(&ask, &[(0, 0.35), (1, 0.3), (2, 0.25)], 0.02, true);
        assert_eq!(
            (v.decision, v.candidates),
            (Decision::Clarify, vec![0, 1, 2])
        );
        // Nothing stands out and together they are unlikely: not a choice worth offering.
        let v = run(&ask, &[(0, 0.2), (1, 0.16)], 0.05, true);
        assert_eq!(v.decision, Decision::Escalate);
        assert_eq!(v.reason, Some(EscalateReason::Uncovered));
        assert_eq!(v.item, None);
        assert_eq!(v.candidates, vec![0, 1]);
    }

    #[test]
    fn a_listed_matter_without_a_guide_is_never_answered_from_a_neighbour() {
        let ask = intent(Intent::Ask, 0.9);
        let v = run(&ask, &[(0, 0.3)], 0.65, true);
        assert_eq!(
            (v.decision, v.matter, v.item),
            (Decision::Escalate, true, None)
        );
        assert_eq!(
            run(&ask, &[(0, 0.3)], 0.65, false).decision,
            Decision::Ignore
        );
    }

    #[test]
    fn own_case_names_the_item_only_when_confident() {
        let case = intent(Intent::Case, 0.8);
        let v = run(&case, &[(4, 0.9), (1, 0.05)], 0.0, true);
        assert_eq!((v.reason, v.item), (Some(EscalateReason::Case), Some(4)));
        let v = run(&case, &[(4, 0.45), (1, 0.4)], 0.0, true);
        assert_eq!((v.reason, v.item), (Some(EscalateReason::Case), None));
        assert_eq!(v.candidates, vec![4, 1]);
        // Unaddressed, an own case about a confident item is still handed over.
        assert_eq!(
            run(&case, &[(4, 0.9)], 0.0, false).decision,
            Decision::Escalate
        );
        assert_eq!(
            run(&case, &[(4, 0.4)], 0.0, false).decision,
            Decision::Ignore
        );
    }

    #[test]
    fn unaddressed_needs_a_very_likely_question() {
        let ask = intent(Intent::Ask, 0.9);
        assert_eq!(
            run(&ask, &[(0, 0.95)], 0.0, false).decision,
            Decision::Answer
        );
        assert_eq!(
            run(&ask, &[(0, 0.7)], 0.0, false).decision,
            Decision::Ignore
        );
        let chatter = intent(Intent::Chatter, 0.8);
        assert_eq!(
            run(&chatter, &[(0, 0.95)], 0.0, false).decision,
            Decision::Ignore
        );
        assert_eq!(run(&chatter, &[], 0.0, true).decision, Decision::Help);
    }

    #[test]
    fn greetings_thanks_and_empty_messages() {
        let hello = intent(Intent::Help, 0.9);
        assert_eq!(run(&hello, &[], 0.0, true).decision, Decision::Help);
        assert_eq!(run(&hello, &[], 0.0, false).decision, Decision::Ignore);
        let thanks = intent(Intent::Thanks, 0.9);
        assert_eq!(run(&thanks, &[], 0.0, true).decision, Decision::Thanks);
        assert_eq!(Decision::Thanks.name(), "help");
        let p = Probs {
            intent: &hello,
            items: &[],
            matter: 0.0,
        };
        assert_eq!(decide(&p, true, true, &tuning()).decision, Decision::Help);
        assert_eq!(
            decide(&p, true, false, &tuning()).decision,
            Decision::Ignore
        );
    }
}
