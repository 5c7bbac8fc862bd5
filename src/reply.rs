//! Replies residents read: short, plain, the asked aspect first, lists numbered, one line pointing
//! to the rest of the card. Wording that is not item content comes from `bot-config/replies.toml`.

use crate::catalog::{Aspect, Catalog, Item, MaterialForm, Matter, PlaceLevel, ReviewStatus};
use crate::config::{Config, Replies};
use crate::helpdesk::fill;
use crate::understand::{Decision, EscalateReason, Understanding};
use std::fmt::Write;

/// The text the group sees for an understanding; empty when the bot stays silent.
pub fn render(u: &Understanding, catalog: &Catalog, config: &Config) -> String {
    let replies = &config.replies;
    let items = catalog.items();
    match u.decision {
        Decision::Ignore => String::new(),
        Decision::Help => replies.help.clone(),
        Decision::Thanks => replies.thanks.clone(),
        Decision::Escalate => match u.reason {
            Some(EscalateReason::Case) => replies.escalate_case.clone(),
            Some(EscalateReason::Complaint) => replies.escalate_complaint.clone(),
            _ => match u.matter.and_then(|m| config.matters.list().get(m)) {
                Some(m) => format!("{}\n{}", matter_pointer(m, replies), replies.escalate),
                None => replies.escalate.clone(),
            },
        },
        Decision::Clarify => {
            let mut out = format!("{}\n", replies.clarify);
            for (n, &i) in u.candidates.iter().enumerate() {
                let _ = writeln!(out, "{}. {}", n + 1, short_name(&items[i]));
            }
            out.push_str(&replies.clarify_footer);
            out
        }
        Decision::Answer => match u.item.map(|i| &items[i]) {
            Some(item) => answer(item, u.aspect.unwrap_or(Aspect::Overview), u.faq, replies),
            None => replies.escalate.clone(),
        },
    }
}

/// "这件事由区医保局办理，咨询电话12393。"
fn matter_pointer(m: &Matter, replies: &Replies) -> String {
    let phone = if m.phone.is_empty() {
        String::new()
    } else {
        fill(&replies.matter_phone, &[("phone", &m.phone)])
    };
    fill(
        &replies.matter_pointer,
        &[
            ("matter", &m.name),
            ("department", &m.department),
            ("phone", &phone),
        ],
    )
}

/// The item's name without parenthesised parts (see [`Item::short_name`]).
pub fn short_name(item: &Item) -> String {
    item.short_name()
}

/// An answer about one item: the FAQ answer when a FAQ entry is close, else the asked aspect.
pub fn answer(item: &Item, aspect: Aspect, faq: Option<usize>, replies: &Replies) -> String {
    let title = short_name(item);
    let mut out = String::new();
    match faq.and_then(|f| item.faq.get(f)) {
        Some(entry) => {
            let _ = writeln!(out, "【{title}】");
            out.push_str(&entry.a);
        }
        None => {
            // A finer aspect the card does not fill falls back to the contract's one
            // (缴费期 → 办理时限 note, 缴费标准 → 收费标准 note).
            let (aspect, body) = match aspect_text(item, aspect) {
                b if b.is_empty() && aspect.contract() != aspect => {
                    (aspect.contract(), aspect_text(item, aspect.contract()))
                }
                b => (aspect, b),
            };
            if body.is_empty() {
                let _ = writeln!(out, "【{title}】{}", replies.aspect_missing);
                out.push_str(&item.summary);
            } else {
                let _ = writeln!(out, "【{title}·{}】", aspect.label());
                out.push_str(&body);
            }
        }
    }
    let pointer_name = item.aliases.first().map_or(title.as_str(), String::as_str);
    let _ = write!(out, "\n{}", replies.more.replace("{item}", pointer_name));
    if item.review.status == ReviewStatus::Sample {
        out.push_str(&replies.sample_notice);
    }
    out
}

/// The card's text for one aspect; empty when the card has nothing for it.
pub fn aspect_text(item: &Item, aspect: Aspect) -> String {
    let mut out = String::new();
    match aspect {
        Aspect::Materials => numbered(
            &mut out,
            item.materials.iter().map(|m| {
                let mut s = match m.form {
                    MaterialForm::Photo => format!("{}（{}张）", m.name, m.count),
                    form => format!("{}（{}{}份）", m.name, form.label(), m.count),
                };
                if !m.note.is_empty() {
                    s.push_str(&format!("，{}", m.note));
                }
                s
            }),
        ),
        Aspect::TimeLimit => {
            let t = &item.time_limit;
            if t.instant {
                out.push_str("即办，资料齐全当场办好。");
            } else {
                if let Some(d) = t.promised_days {
                    let _ = write!(out, "承诺{d}个工作日办结。");
                }
                if let Some(d) = t.legal_days {
                    let _ = write!(out, "法定{d}个工作日。");
                }
            }
            push_line(&mut out, &t.note);
        }
        Aspect::Basis => numbered(
            &mut out,
            item.basis
                .iter()
                .map(|b| format!("{}{}", b.document, b.articles)),
        ),
        Aspect::Place => {
            numbered(
                &mut out,
                item.places.iter().map(|p| {
                    let mut s = p.name.clone();
                    if p.level != PlaceLevel::Other && !s.contains(p.level.label()) {
                        s = format!("{}（{}）", s, p.level.label());
                    }
                    if !p.note.is_empty() {
                        s.push_str(&format!("：{}", p.note));
                    }
                    s
                }),
            );
            push_online(&mut out, item);
        }
        Aspect::Process => {
            numbered(&mut out, item.process.iter().cloned());
            push_online(&mut out, item);
        }
        Aspect::Fee => {
            out.push_str(if item.fee.free {
                "不收费。"
            } else {
                "收费。"
            });
            push_line(&mut out, &item.fee.note);
        }
        Aspect::Conditions => numbered(&mut out, item.conditions.iter().cloned()),
        Aspect::Contact => numbered(
            &mut out,
            item.contacts
                .iter()
                .map(|c| format!("{}：{}", c.name, c.phone)),
        ),
        Aspect::Premium => numbered(&mut out, item.premium.iter().cloned()),
        Aspect::Benefit => numbered(&mut out, item.benefit.iter().cloned()),
        Aspect::Window => numbered(&mut out, item.window.iter().cloned()),
        Aspect::Overview => {
            out.push_str(&item.summary);
            if let Some(p) = item.places.first() {
                let _ = write!(out, "\n办理地点：{}", p.name);
            }
        }
    }
    out
}

fn numbered(out: &mut String, lines: impl Iterator<Item = String>) {
    for (n, line) in lines.enumerate() {
        if n > 0 {
            out.push('\n');
        }
        let _ = write!(out, "{}. {}", n + 1, line);
    }
}

fn push_line(out: &mut String, line: &str) {
    if !line.is_empty() {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(line);
    }
}

fn push_online(out: &mut String, item: &Item) {
    if let Some(o) = item.online.first() {
        let path = if o.path.is_empty() {
            String::new()
        } else {
            format!("（{}）", o.path)
        };
        push_line(out, &format!("网上办：{}{}", o.name, path));
    }
}
