//! Checks on items beyond what parsing enforces: every error names the item and the field.
//! The messages are in Chinese: admins read them next to the field in the console and in imports.

use super::{Aspect, Item};
use crate::config::ConfigError;
use std::collections::HashMap;
use std::path::PathBuf;

pub fn catalog(items: &[Item], file_of: &dyn Fn(&Item) -> PathBuf) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    let mut ids: HashMap<&str, usize> = HashMap::new();
    let mut aliases: HashMap<&str, &str> = HashMap::new();
    for item in items {
        let file = file_of(item);
        let mut err = |field: String, message: String| {
            errors.push(ConfigError {
                file: file.clone(),
                key: format!("item {}: {field}", item.id),
                message,
            })
        };
        if *ids.entry(&item.id).and_modify(|n| *n += 1).or_insert(1) == 2 {
            err("id".into(), "另一个事项已用这个编号，应为唯一的编号".into());
        }
        check_item(item, &mut err);
        for alias in std::iter::once(&item.name).chain(&item.aliases) {
            if let Some(other) = aliases.insert(alias, &item.id)
                && other != item.id
            {
                err(
                    format!("aliases \"{alias}\""),
                    format!("事项 {other} 也用这个名称，一个名称只能指一个事项"),
                );
            }
        }
    }
    errors
}

/// Lowercase ASCII words (letters and digits) joined by `-`.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.split('-').all(|w| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

/// The keys of an item's `examples`: an aspect name, or what is not a question about the card.
pub const EXAMPLE_KINDS: [&str; 2] = ["case", "complaint"];

fn check_item(item: &Item, err: &mut impl FnMut(String, String)) {
    if !is_valid_id(&item.id) {
        err(
            "id".into(),
            "应为小写字母或数字，用“-”连接，例如 sbk-apply".into(),
        );
    }
    let mut non_empty = |field: &str, value: &str| {
        if value.trim().is_empty() {
            err(field.into(), "不能为空".into());
        }
    };
    non_empty("name", &item.name);
    non_empty("department", &item.department);
    non_empty("summary", &item.summary);
    non_empty("review.source", &item.review.source);
    for (i, a) in item.aliases.iter().enumerate() {
        non_empty(&format!("aliases[{i}]"), a);
    }
    for (i, b) in item.basis.iter().enumerate() {
        non_empty(&format!("basis[{i}].document"), &b.document);
    }
    for (i, c) in item.conditions.iter().enumerate() {
        non_empty(&format!("conditions[{i}]"), c);
    }
    for (i, s) in item.process.iter().enumerate() {
        non_empty(&format!("process[{i}]"), s);
    }
    for (i, m) in item.materials.iter().enumerate() {
        non_empty(&format!("materials[{i}].name"), &m.name);
    }
    for (i, p) in item.places.iter().enumerate() {
        non_empty(&format!("places[{i}].name"), &p.name);
    }
    for (i, c) in item.contacts.iter().enumerate() {
        non_empty(&format!("contacts[{i}].phone"), &c.phone);
    }
    for (i, f) in item.faq.iter().enumerate() {
        non_empty(&format!("faq[{i}].q"), &f.q);
        non_empty(&format!("faq[{i}].a"), &f.a);
    }
    for (field, list) in [
        ("premium", &item.premium),
        ("benefit", &item.benefit),
        ("window", &item.window),
    ] {
        for (i, s) in list.iter().enumerate() {
            non_empty(&format!("{field}[{i}]"), s);
        }
    }
    for (kind, list) in &item.examples {
        for (i, q) in list.iter().enumerate() {
            non_empty(&format!("examples.{kind}[{i}]"), q);
        }
    }
    for (i, m) in item.materials.iter().enumerate() {
        if m.count == 0 {
            err(
                format!("materials[{i}].count"),
                "应为不小于 1 的整数".into(),
            );
        }
    }
    for kind in item.examples.keys() {
        if Aspect::from_name(kind).is_none() && !EXAMPLE_KINDS.contains(&kind.as_str()) {
            let names: Vec<&str> = Aspect::ALL.iter().map(|a| a.name()).collect();
            err(
                format!("examples.{kind}"),
                format!(
                    "应为 {}、{} 之一",
                    names.join("、"),
                    EXAMPLE_KINDS.join("、")
                ),
            );
        }
    }
    let t = &item.time_limit;
    if !t.instant && t.legal_days.is_none() && t.promised_days.is_none() && t.note.trim().is_empty()
    {
        err(
            "time_limit".into(),
            "应写明办理时限：即办、法定时限、承诺时限或时限说明，至少填一项".into(),
        );
    }
    if item.process.is_empty() {
        err("process".into(), "至少要有一个步骤".into());
    }
    if item.places.is_empty() {
        err("places".into(), "至少要有一个办理地点".into());
    }
    if !is_date(&item.review.reviewed_at) {
        err(
            "review.reviewed_at".into(),
            "应为日期，格式 YYYY-MM-DD（如 2026-01-31）".into(),
        );
    }
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}
