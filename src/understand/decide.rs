//! Stage 5: the decision, from the item scores and the signals of the message.
//!
//! Addressed (the bot was @-mentioned): a complaint or the resident's own case goes to an agent;
//! a clear item is answered; a vague topic is asked back; a greeting gets help; any other question
//! goes to an agent, because the guide does not cover it.
//! Not addressed: the bot speaks only for a clear service question about one item, or hands over
//! a resident's own case about a known topic; everything else is group chatter and left alone.

use super::Signals;
use crate::config::Tuning;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Answer,
    Clarify,
    Escalate,
    Help,
    Ignore,
}

impl Decision {
    pub fn name(self) -> &'static str {
        match self {
            Decision::Answer => "answer",
            Decision::Clarify => "clarify",
            Decision::Escalate => "escalate",
            Decision::Help => "help",
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

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Verdict {
    pub decision: Decision,
    pub item: Option<usize>,
    pub candidates: Vec<usize>,
    pub reason: Option<EscalateReason>,
}

impl Verdict {
    fn new(decision: Decision) -> Verdict {
        Verdict {
            decision,
            item: None,
            candidates: Vec::new(),
            reason: None,
        }
    }

    fn escalate(reason: EscalateReason, item: Option<usize>) -> Verdict {
        Verdict {
            item,
            reason: Some(reason),
            ..Verdict::new(Decision::Escalate)
        }
    }
}

/// `scores`: items with a score above zero, best first.
pub(crate) fn decide(scores: &[(usize, f32)], s: Signals, addressed: bool, t: &Tuning) -> Verdict {
    let top = scores.first().copied();
    let runner_up = scores.get(1).map_or(0.0, |x| x.1);
    let clear = top.filter(|(_, score)| {
        *score >= t.answer_min_score && score - runner_up >= t.answer_min_margin
    });
    let candidates: Vec<usize> = scores
        .iter()
        .filter(|(_, score)| *score >= t.candidate_min_score)
        .take(t.clarify_max_candidates)
        .map(|(i, _)| *i)
        .collect();
    let topic = clear.map(|(i, _)| i).or(candidates.first().copied());

    if s.empty {
        return Verdict::new(if addressed {
            Decision::Help
        } else {
            Decision::Ignore
        });
    }
    if s.uncovered {
        return if addressed {
            Verdict::escalate(EscalateReason::Uncovered, None)
        } else {
            Verdict::new(Decision::Ignore)
        };
    }
    // A grievance around a clear how-to question ("公交卡到底在哪里领 踢皮球"): answer the
    // question; a resident's own case (money missing, stuck application) still goes to an agent.
    if s.complaint
        && !s.case
        && s.how_to
        && s.question
        && let Some((item, _)) = clear
    {
        return Verdict {
            item: Some(item),
            ..Verdict::new(Decision::Answer)
        };
    }
    if !addressed {
        if s.question && !s.statement && (s.case || s.complaint) && topic.is_some() {
            let reason = if s.complaint {
                EscalateReason::Complaint
            } else {
                EscalateReason::Case
            };
            return Verdict::escalate(reason, topic);
        }
        return match clear {
            Some((item, _)) if s.question && !s.case && !s.complaint => Verdict {
                item: Some(item),
                ..Verdict::new(Decision::Answer)
            },
            _ => Verdict::new(Decision::Ignore),
        };
    }
    if s.complaint {
        return Verdict::escalate(EscalateReason::Complaint, topic);
    }
    if s.case {
        return Verdict::escalate(EscalateReason::Case, topic);
    }
    if let Some((item, _)) = clear {
        return Verdict {
            item: Some(item),
            ..Verdict::new(Decision::Answer)
        };
    }
    // Asking back means choosing between items: one weak item alone is not a choice.
    if candidates.len() >= 2 {
        return Verdict {
            candidates,
            ..Verdict::new(Decision::Clarify)
        };
    }
    if s.greeting {
        return Verdict::new(Decision::Help);
    }
    if s.question || s.complaint || s.case {
        return Verdict::escalate(EscalateReason::Uncovered, None);
    }
    Verdict::new(Decision::Help)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuning() -> Tuning {
        Tuning {
            alias_weight: 3.0,
            sound_factor: 0.8,
            min_sound_chars: 2,
            similarity_weight: 1.5,
            answer_min_score: 2.0,
            answer_min_margin: 1.0,
            candidate_min_score: 1.0,
            clarify_max_candidates: 4,
            negated_factor: 0.5,
            focus_bonus: 0.5,
            focus_min_weight: 2.0,
            faq_min_similarity: 0.55,
            faq_min_similarity_for_aspect: 0.8,
        }
    }

    fn q() -> Signals {
        Signals {
            question: true,
            ..Signals::default()
        }
    }

    #[test]
    fn clear_lead_is_answered() {
        let v = decide(&[(3, 4.0), (1, 1.0)], q(), true, &tuning());
        assert_eq!((v.decision, v.item), (Decision::Answer, Some(3)));
    }

    #[test]
    fn tie_asks_back_with_the_tied_items() {
        let v = decide(&[(0, 1.0), (1, 1.0), (2, 1.0)], q(), true, &tuning());
        assert_eq!(v.decision, Decision::Clarify);
        assert_eq!(v.candidates, vec![0, 1, 2]);
    }

    #[test]
    fn one_weak_item_is_no_choice_and_goes_to_an_agent() {
        let v = decide(&[(5, 1.5)], q(), true, &tuning());
        assert_eq!(
            (v.decision, v.reason),
            (Decision::Escalate, Some(EscalateReason::Uncovered))
        );
    }

    #[test]
    fn small_margin_asks_back_rather_than_guessing() {
        let v = decide(&[(0, 3.0), (1, 2.5)], q(), true, &tuning());
        assert_eq!(v.decision, Decision::Clarify);
    }

    #[test]
    fn own_case_and_complaint_go_to_an_agent_even_with_a_clear_item() {
        let case = Signals { case: true, ..q() };
        let v = decide(&[(0, 5.0)], case, true, &tuning());
        assert_eq!(
            (v.decision, v.reason, v.item),
            (Decision::Escalate, Some(EscalateReason::Case), Some(0))
        );
        let complaint = Signals {
            complaint: true,
            ..q()
        };
        let v = decide(&[], complaint, true, &tuning());
        assert_eq!(v.reason, Some(EscalateReason::Complaint));
    }

    #[test]
    fn uncovered_question_escalates_and_greeting_gets_help() {
        assert_eq!(
            decide(&[], q(), true, &tuning()).reason,
            Some(EscalateReason::Uncovered)
        );
        let hello = Signals {
            greeting: true,
            ..Signals::default()
        };
        assert_eq!(decide(&[], hello, true, &tuning()).decision, Decision::Help);
    }

    #[test]
    fn unaddressed_needs_a_clear_question_about_one_item() {
        let t = tuning();
        assert_eq!(
            decide(&[(0, 4.0)], q(), false, &t).decision,
            Decision::Answer
        );
        let statement = Signals {
            statement: true,
            ..Signals::default()
        };
        assert_eq!(
            decide(&[(0, 4.0)], statement, false, &t).decision,
            Decision::Ignore
        );
        assert_eq!(
            decide(&[(0, 4.0)], Signals::default(), false, &t).decision,
            Decision::Ignore
        );
        assert_eq!(
            decide(&[(0, 1.0), (1, 1.0)], q(), false, &t).decision,
            Decision::Ignore
        );
        assert_eq!(decide(&[], q(), false, &t).decision, Decision::Ignore);
    }

    #[test]
    fn a_grievance_around_a_clear_how_to_question_gets_the_answer() {
        let s = Signals {
            complaint: true,
            how_to: true,
            ..q()
        };
        let v = decide(&[(2, 4.0)], s, true, &tuning());
        assert_eq!((v.decision, v.item), (Decision::Answer, Some(2)));
        let own_case = Signals { case: true, ..s };
        assert_eq!(
            decide(&[(2, 4.0)], own_case, true, &tuning()).decision,
            Decision::Escalate
        );
        let no_question = Signals { how_to: false, ..s };
        assert_eq!(
            decide(&[(2, 4.0)], no_question, true, &tuning()).decision,
            Decision::Escalate
        );
    }

    #[test]
    fn a_matter_outside_the_guide_is_not_answered_from_a_neighbour() {
        let s = Signals {
            uncovered: true,
            ..q()
        };
        let v = decide(&[(0, 4.0)], s, true, &tuning());
        assert_eq!(
            (v.decision, v.reason),
            (Decision::Escalate, Some(EscalateReason::Uncovered))
        );
        assert_eq!(
            decide(&[(0, 4.0)], s, false, &tuning()).decision,
            Decision::Ignore
        );
    }

    #[test]
    fn empty_message() {
        let empty = Signals {
            empty: true,
            ..Signals::default()
        };
        assert_eq!(decide(&[], empty, true, &tuning()).decision, Decision::Help);
        assert_eq!(
            decide(&[], empty, false, &tuning()).decision,
            Decision::Ignore
        );
    }
}
