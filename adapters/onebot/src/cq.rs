//! CQ codes: the string form of OneBot v11 messages, `text[CQ:type,key=value,...]text`.
//!
//! Escaping: in text `&` `[` `]` become `&amp;` `&#91;` `&#93;`; inside parameter values `,`
//! also becomes `&#44;`. Parsing never fails: what does not look like a CQ code is text.

use serde_json::{Map, Value};

use crate::segment::Segment;

/// Escapes plain text for a CQ string.
pub(crate) fn escape_text(text: &str) -> String {
    escape(text, false)
}

/// Escapes a parameter value of a CQ code.
pub(crate) fn escape_param(value: &str) -> String {
    escape(value, true)
}

fn escape(s: &str, comma: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '[' => out.push_str("&#91;"),
            ']' => out.push_str("&#93;"),
            ',' if comma => out.push_str("&#44;"),
            c => out.push(c),
        }
    }
    out
}

/// Undoes [`escape_text`] and [`escape_param`] in one pass, so `&amp;#91;` becomes `&#91;`.
/// An `&` that starts no known escape stays as it is.
pub(crate) fn unescape(s: &str) -> String {
    const ESCAPES: [(&str, char); 4] = [
        ("&amp;", '&'),
        ("&#91;", '['),
        ("&#93;", ']'),
        ("&#44;", ','),
    ];
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        match ESCAPES.iter().find(|(e, _)| rest.starts_with(e)) {
            Some((e, c)) => {
                out.push(*c);
                rest = &rest[e.len()..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Splits a CQ string into segments: text runs become `text` segments, codes their own type
/// with string parameters. Adjacent text is merged; empty text is dropped.
pub(crate) fn parse(s: &str) -> Vec<Segment> {
    let mut segments = Vec::new();
    let mut text = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("[CQ:") {
        let body_and_rest = &rest[start + 4..];
        let Some(end) = body_and_rest.find(']') else {
            break;
        };
        let Some(code) = parse_code(&body_and_rest[..end]) else {
            // Not a well-formed code: keep "[CQ:" as text and look further on.
            text.push_str(&rest[..start + 4]);
            rest = body_and_rest;
            continue;
        };
        text.push_str(&rest[..start]);
        flush_text(&mut text, &mut segments);
        segments.push(code);
        rest = &body_and_rest[end + 1..];
    }
    text.push_str(rest);
    flush_text(&mut text, &mut segments);
    segments
}

fn flush_text(text: &mut String, segments: &mut Vec<Segment>) {
    if !text.is_empty() {
        segments.push(Segment::text(&unescape(text)));
        text.clear();
    }
}

/// `type,key=value,...` (the part between `[CQ:` and `]`).
fn parse_code(body: &str) -> Option<Segment> {
    let mut parts = body.split(',');
    let kind = parts.next()?.trim();
    let well_formed = !kind.is_empty()
        && kind
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
    // Text is never a code: `[CQ:text,…]` would become a text segment without its text
    // (found by the `cq` fuzz target); it stays literal text.
    if !well_formed || kind == "text" {
        return None;
    }
    let mut data = Map::new();
    for part in parts {
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        data.insert(key.trim().to_owned(), Value::String(unescape(value)));
    }
    Some(Segment {
        kind: kind.to_owned(),
        data,
    })
}

/// Renders segments as a CQ string (parameters in key order).
pub(crate) fn render(segments: &[Segment]) -> String {
    let mut out = String::new();
    for segment in segments {
        if segment.kind == "text" {
            out.push_str(&escape_text(&segment.str_param("text").unwrap_or_default()));
            continue;
        }
        out.push_str("[CQ:");
        out.push_str(&segment.kind);
        for (key, value) in &segment.data {
            let value = match value {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            out.push(',');
            out.push_str(key);
            out.push('=');
            out.push_str(&escape_param(&value));
        }
        out.push(']');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(kind: &str, params: &[(&str, &str)]) -> Segment {
        Segment {
            kind: kind.to_owned(),
            data: params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
                .collect(),
        }
    }

    #[test]
    fn escapes_text_and_params() {
        assert_eq!(escape_text("a&b[c]d,e"), "a&amp;b&#91;c&#93;d,e");
        assert_eq!(escape_param("a&b[c]d,e"), "a&amp;b&#91;c&#93;d&#44;e");
    }

    #[test]
    fn unescape_is_one_pass() {
        assert_eq!(unescape("&amp;#91;"), "&#91;");
        assert_eq!(unescape("&#91;CQ:at,qq=1&#93;"), "[CQ:at,qq=1]");
        assert_eq!(unescape("R&D & &lt; &"), "R&D & &lt; &");
    }

    #[test]
    fn escape_round_trips() {
        for s in [
            "",
            "plain",
            "&",
            "&amp;",
            "[CQ:at,qq=1]",
            "a,b=c&#44;",
            "社保卡[急]&",
        ] {
            assert_eq!(unescape(&escape_text(s)), s);
            assert_eq!(unescape(&escape_param(s)), s);
        }
    }

    #[test]
    fn parses_codes_and_text() {
        let segments = parse("[CQ:reply,id=55][CQ:at,qq=123456789] 社保卡&#91;急&#93;怎么办");
        assert_eq!(
            segments,
            vec![
                seg("reply", &[("id", "55")]),
                seg("at", &[("qq", "123456789")]),
                Segment::text(" 社保卡[急]怎么办"),
            ]
        );
    }

    #[test]
    fn parameter_values_are_unescaped() {
        let segments = parse("[CQ:share,title=a&#44;b&#91;c&#93;&amp;,url=http://x/?a=1&amp;b=2]");
        assert_eq!(
            segments,
            vec![seg(
                "share",
                &[("title", "a,b[c]&"), ("url", "http://x/?a=1&b=2")]
            )]
        );
    }

    #[test]
    fn malformed_codes_are_text() {
        assert_eq!(parse("[CQ:at,qq=1"), vec![Segment::text("[CQ:at,qq=1")]);
        assert_eq!(parse("[CQ:]x"), vec![Segment::text("[CQ:]x")]);
        assert_eq!(
            parse("[CQ:a b][CQ:face,id=1]"),
            vec![Segment::text("[CQ:a b]"), seg("face", &[("id", "1")])]
        );
        assert_eq!(parse(""), vec![]);
    }

    #[test]
    fn render_then_parse_round_trips() {
        let segments = vec![
            seg("reply", &[("id", "7")]),
            seg("at", &[("qq", "all")]),
            Segment::text("价格[暂定], R&D"),
            seg(
                "image",
                &[("file", "a,b.jpg"), ("url", "http://x/?a=[1]&b")],
            ),
            Segment::text("&amp;"),
        ];
        let rendered = render(&segments);
        assert_eq!(
            rendered,
            "[CQ:reply,id=7][CQ:at,qq=all]价格&#91;暂定&#93;, R&amp;D\
             [CQ:image,file=a&#44;b.jpg,url=http://x/?a=&#91;1&#93;&amp;b]&amp;amp;"
        );
        assert_eq!(parse(&rendered), segments);
    }

    #[test]
    fn parse_then_render_round_trips_canonical_strings() {
        for s in [
            "[CQ:at,qq=123]你好",
            "a&amp;b&#91;c&#93;[CQ:face,id=14]",
            "[CQ:image,file=x&#44;y.png,url=u]",
        ] {
            assert_eq!(render(&parse(s)), s);
        }
    }
}
