//! Question understanding on the shipped catalog, stage by stage, and on a labelled question set
//! written apart from the matcher's tuning (tests/data/holdout.tsv).

use bangban::catalog::Aspect;
use bangban::config::Config;
use bangban::understand::{Decision, EscalateReason, Matcher, Understanding};
use std::path::Path;
use std::sync::OnceLock;

fn setup() -> &'static (Config, Matcher) {
    static SETUP: OnceLock<(Config, Matcher)> = OnceLock::new();
    SETUP.get_or_init(|| {
        let config = Config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("bot-config"))
            .unwrap_or_else(|e| panic!("{e}"));
        let matcher = Matcher::new(&config);
        (config, matcher)
    })
}

fn ask(text: &str, addressed: bool) -> (Understanding, Option<&'static str>) {
    let (config, matcher) = setup();
    let u = matcher.understand(text, addressed);
    let id = u.item.map(|i| config.catalog.items()[i].id.as_str());
    (u, id)
}

fn assert_answer(text: &str, item: &str, aspect: Aspect) {
    let (u, id) = ask(text, true);
    assert_eq!(
        (u.decision, id, u.aspect),
        (Decision::Answer, Some(item), Some(aspect)),
        "{text}"
    );
}

#[test]
fn normalisation_reaches_the_item() {
    // traditional characters, full-width, CQ codes, @-mentions, emoji, dialect
    assert_answer("老年卡要帶什麼材料", "elder-card", Aspect::Materials);
    assert_answer(
        "[CQ:at,qq=2854196310] 低保么样申请🙏🙏",
        "dibao",
        Aspect::Process,
    );
    assert_answer(
        "@帮办小助手 残疾证在哪里办？",
        "disability-card",
        Aspect::Place,
    );
    assert_answer("ＤＩＢＡＯ要带啥子", "dibao", Aspect::Materials);
}

#[test]
fn typos_by_sound_and_latin_pinyin() {
    assert_answer("设保卡怎么急活", "sbk-activate", Aspect::Process);
    assert_answer("老年咔要带啥", "elder-card", Aspect::Materials);
    assert_answer("laonianka yao dai shenme", "elder-card", Aspect::Materials);
    assert_answer("di bao zenme shenqing", "dibao", Aspect::Process);
}

#[test]
fn a_sound_alike_alone_never_names_an_item() {
    // 钱一 sounds like 迁移 (hukou-move), with nothing else pointing there.
    let (u, id) = ask("这个月的钱一个人多少", true);
    assert_ne!(id, Some("hukou-move"), "{u:?}");
    assert_ne!(u.decision, Decision::Answer);
}

#[test]
fn each_aspect_is_recognised() {
    let cases = [
        ("办老年卡要准备哪些材料", Aspect::Materials),
        ("办老年卡要几天", Aspect::TimeLimit),
        ("老年卡是按哪个文件规定办的", Aspect::Basis),
        ("老年卡到哪里去办", Aspect::Place),
        ("老年卡的办理流程是什么", Aspect::Process),
        ("办老年卡收不收费", Aspect::Fee),
        ("外地户口的老人能办老年卡吗", Aspect::Conditions),
        ("老年卡的咨询电话是多少", Aspect::Contact),
        ("老年卡是什么", Aspect::Overview),
    ];
    for (text, aspect) in cases {
        assert_answer(text, "elder-card", aspect);
    }
}

#[test]
fn a_bare_topic_is_asked_back_with_its_items() {
    let (config, _) = setup();
    let (u, _) = ask("社保卡的事", true);
    assert_eq!(u.decision, Decision::Clarify);
    let ids: Vec<&str> = u
        .candidates
        .iter()
        .map(|&i| config.catalog.items()[i].id.as_str())
        .collect();
    for id in ["sbk-apply", "sbk-activate", "sbk-lost"] {
        assert!(ids.contains(&id), "{ids:?}");
    }
}

#[test]
fn own_cases_complaints_and_uncovered_matters_go_to_an_agent() {
    let cases = [
        ("我妈的高龄津贴三个月没发了", EscalateReason::Case),
        ("帮我查下我家残疾证审核了没", EscalateReason::Case),
        ("办个低保跑了好几趟都没办成", EscalateReason::Complaint),
        ("摩托车驾照在哪里考", EscalateReason::Uncovered),
    ];
    for (text, reason) in cases {
        let (u, _) = ask(text, true);
        assert_eq!(
            (u.decision, u.reason),
            (Decision::Escalate, Some(reason)),
            "{text}"
        );
    }
}

#[test]
fn unaddressed_chatter_is_left_alone_and_clear_questions_answered() {
    for text in [
        "我家老年卡昨天办好了",
        "哈哈 好的",
        "[动画表情]",
        "",
        "今天赶集的人真多",
    ] {
        assert_eq!(ask(text, false).0.decision, Decision::Ignore, "{text}");
    }
    let (u, id) = ask("请问大家低保要什么条件？", false);
    assert_eq!((u.decision, id), (Decision::Answer, Some("dibao")));
}

#[test]
fn greetings_addressed_get_help() {
    for text in ["你好", "在不在", "你会些什么"] {
        assert_eq!(ask(text, true).0.decision, Decision::Help, "{text}");
    }
}

#[test]
fn huge_and_empty_messages_are_handled() {
    let huge = "社保卡".repeat(400_000);
    let (u, _) = ask(&huge, true);
    assert!(u.normalized.chars().count() <= bangban::understand::MAX_QUESTION_CHARS);
    assert_eq!(ask("   ", true).0.decision, Decision::Help);
}

/// The same measure as the shared evaluation's score.py, on every labelled set in tests/data: question
/// sets written by people who did not see the matcher and never trained on (holdout.tsv,
/// written-N.tsv). Each set is held to the design's bars: correct ≥ 0.95, wrong answers ≤ 1 %,
/// aspect ≥ 0.90 — so a change that loses ground fails here (`bangban eval` shows the figures).
#[test]
fn labelled_question_sets_meet_the_quality_bars() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut sets: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "tsv"))
        .collect();
    sets.sort();
    assert!(sets.len() >= 6, "{sets:?}");
    let reports: Vec<String> = sets.iter().filter_map(|set| score(set).err()).collect();
    assert!(reports.is_empty(), "{}", reports.join("\n\n"));
}

/// Scores one set; Err carries the figures and the failing rows when a bar is missed.
fn score(set: &Path) -> Result<(), String> {
    let (config, matcher) = setup();
    let text = std::fs::read_to_string(set).unwrap();
    let (mut total, mut passed, mut wrong, mut aspect_total, mut aspect_ok) = (0, 0, 0, 0, 0);
    let mut fails = Vec::new();
    for line in text.lines().skip(1).filter(|l| !l.is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (mode, expect, items, aspect, question) = (cols[0], cols[1], cols[2], cols[3], cols[4]);
        let items: Vec<&str> = items.split('|').filter(|i| *i != "-").collect();
        let u = matcher.understand(question, mode == "at");
        let id = u.item.map(|i| config.catalog.items()[i].id.as_str());
        let in_items = id.is_some_and(|id| items.contains(&id));
        total += 1;
        if u.decision == Decision::Answer && !in_items {
            wrong += 1;
        }
        let ok = match expect {
            "answer" => {
                let ok = u.decision == Decision::Answer && in_items;
                if ok && aspect != "-" && aspect != "overview" {
                    aspect_total += 1;
                    aspect_ok += usize::from(u.aspect.map(|a| a.contract().name()) == Some(aspect));
                }
                ok
            }
            "clarify" => {
                let offered = u
                    .candidates
                    .iter()
                    .any(|&i| items.contains(&config.catalog.items()[i].id.as_str()));
                (u.decision == Decision::Clarify && offered)
                    || (u.decision == Decision::Answer && in_items)
            }
            other => u.decision.name() == other,
        };
        passed += usize::from(ok);
        if !ok {
            fails.push(format!(
                "{expect} {items:?} got {} {id:?} :: {question}",
                u.decision.name()
            ));
        }
    }
    let correct = passed as f64 / total as f64;
    let wrong_rate = wrong as f64 / total as f64;
    let aspect_rate = aspect_ok as f64 / aspect_total as f64;
    let met = total >= 100 && correct >= 0.95 && wrong_rate <= 0.01 && aspect_rate >= 0.90;
    if met {
        return Ok(());
    }
    Err(format!(
        "{}: {total} rows, correct {correct:.3} wrong {wrong_rate:.3} aspect {aspect_rate:.3}\n{}",
        set.display(),
        fails.join("\n")
    ))
}

#[test]
fn a_question_close_to_a_faq_entry_gets_its_answer() {
    let (config, matcher) = setup();
    let u = matcher.understand("老人瘫痪在床去不了银行 社保卡怎么激活", true);
    let item = &config.catalog.items()[u.item.expect("an item")];
    assert_eq!(item.id, "sbk-activate");
    let faq = &item.faq[u.faq.expect("a FAQ entry")];
    assert!(faq.q.contains("瘫痪"), "{}", faq.q);
    let reply = bangban::reply::render(&u, &config.catalog, config);
    assert!(reply.contains(&faq.a));
    // an ordinary aspect question is answered from the card, not from a nearby FAQ entry
    for text in ["社保卡激活要带什么", "老年卡在哪办"] {
        let u = matcher.understand(text, true);
        assert_eq!(u.faq, None, "{text}");
    }
}
