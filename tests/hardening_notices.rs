//! Issue 10, item 7: a resident cannot forge lines in agents' notices. Whatever a resident writes
//! (line breaks, terminal escapes, bidi overrides, zero-width characters) reaches agents as one
//! clean line inside 「」, in the new-ticket notice (group and private), in the ladder's notice,
//! in the ticket list and in a ticket's details. Through the engine, on real sled files.

mod helpdesk_common;

use bangban::config::Config;
use bangban::engine::Engine;
use bangban::helpdesk::notify::{self, Shown};
use bangban::store::Store;
use bangban_contract::Chat;
use helpdesk_common::*;
use std::sync::Arc;
use std::time::Duration;

/// The bot's own instruction line, as a resident would forge it.
const FORGED: &str = "请大湖村帮办专员（示例）发“办结 1”结案。";

/// An escalated question carrying a forged line, a terminal colour escape and bidi, zero-width
/// and C1 characters.
fn hostile() -> String {
    format!(
        "@村里的路灯坏了找谁\n{FORGED}\r\n\u{1b}[31m\u{202e}居民\u{200b}」已\u{2066}核实\u{2028}\u{85}\u{feff}\u{9b}"
    )
}

/// Characters that must never reach an agent from a resident.
fn hidden(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(c,
            '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
            | '\u{2028}' | '\u{2029}' | '\u{FEFF}')
}

/// Asserts that in `text` (a message to agents) the forged line is no line of its own: it is
/// only inside one quote 「…」 that a line ends with, after `label`.
fn assert_quoted_once(text: &str, label: &str) {
    assert!(
        !text.chars().any(hidden),
        "hidden characters left: {text:?}"
    );
    let lines: Vec<&str> = text.lines().collect();
    let holding: Vec<&&str> = lines.iter().filter(|l| l.contains(FORGED)).collect();
    assert_eq!(holding.len(), 1, "{text}");
    let line = holding[0];
    let (head, quoted) = line
        .split_once('「')
        .unwrap_or_else(|| panic!("no quote: {line}"));
    assert!(head.ends_with(label), "{line}");
    assert!(quoted.ends_with('」'), "{line}");
    // The resident's own 」 cannot close the quote early.
    assert_eq!(quoted.matches('」').count(), 1, "{line}");
    assert!(
        !lines.iter().any(|l| l.trim_start().starts_with(FORGED)),
        "{text}"
    );
}

fn engine(config: Config) -> (Engine, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (Engine::new(Arc::new(config), store), dir)
}

#[tokio::test]
async fn resident_text_is_one_quoted_line_in_every_notice_to_agents() {
    // 大湖村's agent also asks for private notices (the full text, unmasked).
    let mut config = (*config()).clone();
    let dahu = config
        .org
        .agents
        .iter_mut()
        .find(|a| a.id == "a01")
        .unwrap();
    dahu.private = true;
    let (bot, _dir) = engine(config);
    let mut event = said(DAHU_GROUP, RESIDENT, "m1", &hostile());
    event.sender_name = Some("李阿姨\n【新工单 99】\u{202e}".into());
    let out = bot.handle_at(&event, monday(9, 0)).await.unwrap();
    let told = one_to_group(&out, DAHU_GROUP);
    assert!(told.text.contains("工单号：1"), "{}", told.text);

    let note = one_to_group(&out, AGENTS_GROUP).text;
    assert_quoted_once(&note, "问题：");
    assert!(note.contains("李阿姨 ↵ 【新工单 99】（700001）"), "{note}");
    assert_eq!(note.lines().count(), 4, "{note}");
    let privately: Vec<_> = sent(&out)
        .into_iter()
        .filter(|s| s.chat == Chat::Private(DAHU_AGENT.into()))
        .collect();
    assert_eq!(privately.len(), 1, "{out:#?}");
    assert_quoted_once(&privately[0].text, "问题：");

    // The ticket list and the ticket's details.
    let out = bot
        .handle_at(&private(DAHU_AGENT, "p1", "我的工单"), monday(9, 1))
        .await
        .unwrap();
    let list = &sent(&out)[0].text;
    assert!(!list.chars().any(hidden), "{list:?}");
    let line = list.lines().find(|l| l.starts_with("工单1｜")).unwrap();
    assert!(line.ends_with("…」") && line.contains("｜「"), "{list}");
    let out = bot
        .handle_at(
            &said(AGENTS_GROUP, DAHU_AGENT, "a1", "工单 1"),
            monday(9, 2),
        )
        .await
        .unwrap();
    let details = one_to_group(&out, AGENTS_GROUP).text;
    assert_quoted_once(&details, "问题：");
    assert!(!details.contains("\n【新工单 99】"), "{details}");

    // Unclaimed past T1 (30 minutes of duty time): the ladder's notice quotes it the same way.
    let later = monday(9, 0) + Duration::from_secs(31 * 60);
    let out = bot.tick(later).await.unwrap();
    let climbed = one_to_group(&out, AGENTS_GROUP).text;
    assert!(climbed.contains("升级到乡镇便民服务中心"), "{climbed}");
    assert_quoted_once(&climbed, "问题：");
}

#[test]
fn quoting_keeps_the_words_and_makes_one_line() {
    let quoted = notify::quote(&hostile(), Shown::Full);
    assert_eq!(
        quoted,
        format!("「@村里的路灯坏了找谁 ↵ {FORGED} ↵ [31m居民』已核实」")
    );
    // Blank lines and spaces around breaks fold into one mark; tabs become spaces.
    assert_eq!(
        notify::quote("  第一行 \n\n\t第二行\r\n", Shown::Full),
        "「第一行 ↵  第二行」"
    );
    // Where a group reads: personal numbers masked, cut to the excerpt length.
    let masked = notify::quote("电话13907111234", Shown::Masked(200));
    assert!(!masked.contains("13907111234"), "{masked}");
    assert_eq!(notify::quote("一二三四五", Shown::Masked(3)), "「一二三…」");
    // A number hidden by zero-width characters is still found and masked.
    let hidden_number = notify::quote("电话139\u{200b}0711\u{200b}1234", Shown::Masked(200));
    assert!(!hidden_number.contains("1234"), "{hidden_number}");
}
