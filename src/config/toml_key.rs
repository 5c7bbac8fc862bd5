//! The key path at a place in a TOML text, for parse errors: the parser says where it stopped,
//! this says which key that is.

use std::ops::Range;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// The key path at byte `at` of `text`, like `villages.v01.township` or `agents_chats[1].chat`:
/// the innermost key or value that holds `at`; failing that (a syntax error where the parser
/// recovered no value), the last key before `at` on its line. `None` when neither is found.
pub fn at(text: &str, at: usize) -> Option<String> {
    let (doc, _) = DeTable::parse_recoverable(text);
    let root = Spanned::new(doc.span(), DeValue::Table(doc.into_inner()));
    let mut path = Vec::new();
    if holding(&root, at, &mut path) && !path.is_empty() {
        return Some(join(&path));
    }
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let mut last: Option<(usize, Vec<String>)> = None;
    last_key_before(&root, at, &mut Vec::new(), &mut last);
    last.filter(|(start, _)| *start >= line_start)
        .map(|(_, path)| join(&path))
}

/// Whether `value` holds `at`; `path` gets the keys (and `[i]` indexes) down to it.
fn holding(value: &Spanned<DeValue>, at: usize, path: &mut Vec<String>) -> bool {
    let inside = match value.get_ref() {
        DeValue::Table(t) => t.iter().any(|(k, v)| {
            if contains(&k.span(), at) {
                path.push(k.get_ref().to_string());
                return true;
            }
            // A `[table]`'s own span is its header: its keys may lie anywhere after it.
            descend(v, k.get_ref().to_string(), at, path)
        }),
        DeValue::Array(a) => a
            .iter()
            .enumerate()
            .any(|(i, v)| descend(v, format!("[{i}]"), at, path)),
        _ => false,
    };
    inside || contains(&value.span(), at)
}

/// Whether `child`, named `name` in its parent, holds `at`; if so `name` stays on `path`.
fn descend(child: &Spanned<DeValue>, name: String, at: usize, path: &mut Vec<String>) -> bool {
    path.push(name);
    if holding(child, at, path) {
        return true;
    }
    path.pop();
    false
}

/// The key that starts last before `at`, with its path.
fn last_key_before(
    value: &Spanned<DeValue>,
    at: usize,
    path: &mut Vec<String>,
    last: &mut Option<(usize, Vec<String>)>,
) {
    match value.get_ref() {
        DeValue::Table(t) => {
            for (k, v) in t.iter() {
                path.push(k.get_ref().to_string());
                let start = k.span().start;
                if start <= at && last.as_ref().is_none_or(|(s, _)| start > *s) {
                    *last = Some((start, path.clone()));
                }
                last_key_before(v, at, path, last);
                path.pop();
            }
        }
        DeValue::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                path.push(format!("[{i}]"));
                last_key_before(v, at, path, last);
                path.pop();
            }
        }
        _ => {}
    }
}

fn contains(span: &Range<usize>, at: usize) -> bool {
    span.start <= at && at < span.end.max(span.start + 1)
}

/// `a.b[0].c`.
fn join(path: &[String]) -> String {
    let mut out = String::new();
    for part in path {
        if !out.is_empty() && !part.starts_with('[') {
            out.push('.');
        }
        out.push_str(part);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key at the place the parser names for `text`.
    fn key_of(text: &str) -> Option<String> {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Doc {
            name: Option<String>,
            a: Option<A>,
            v: Option<std::collections::BTreeMap<String, B>>,
            c: Option<Vec<B>>,
        }
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct A {
            enabled: bool,
            list: Option<Vec<u32>>,
        }
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct B {
            x: u32,
        }
        let e = toml::from_str::<Doc>(text).unwrap_err();
        at(text, e.span().unwrap().start)
    }

    #[test]
    fn names_the_key_where_parsing_stopped() {
        let key = |text| key_of(text).unwrap_or_else(|| format!("none for {text:?}"));
        assert_eq!(key("[a]\nenabled = \"yes\"\n"), "a.enabled");
        assert_eq!(key("[a]\nenabld = true\n"), "a.enabld");
        assert_eq!(key("[v]\nv01 = { x = \"s\" }\n"), "v.v01.x");
        assert_eq!(key("[[c]]\nx = 1\n[[c]]\nx = -1\n"), "c[1].x");
        assert_eq!(key("[a]\nenabled = true\nlist = [1,\n 2,,\n]\n"), "a.list");
        // Syntax errors: the key on the line.
        assert_eq!(key("name = = \"x\"\n"), "name");
        assert_eq!(key("[a]\nenabled = tru\n"), "a.enabled");
        assert_eq!(key("name = \"abc\nx = 1\n"), "name");
        // A line with no key of its own names none rather than a wrong one.
        assert_eq!(key_of("[a]\nenabled = true\nfoo\n"), None);
    }
}
