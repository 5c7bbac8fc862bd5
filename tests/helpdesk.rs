//! The help desk through the engine, on real sled files: tickets, agents' commands, the ladder,
//! ratings, the privacy guard, and dialogue context across messages.

mod helpdesk_common;

use bangban::helpdesk::ledger::{self, Period};
use bangban::store::tickets::{Change, Handler, Level, Rating, Role, Stage};
use bangban_contract::Chat;
use helpdesk_common::*;
use std::time::Duration;

const UNCOVERED: &str = "@村里的路灯坏了找谁";

/// Whether `text` carries the after-hours notice as `org.toml` words it (the fixed parts around
/// `{when}`, e.g. "上班后回复您").
fn after_hours_notice(text: &str) -> bool {
    let wording = &config().org.replies.after_hours;
    let (head, tail) = wording.split_once("{when}").expect("{when} in after_hours");
    [head, tail]
        .iter()
        .map(|part| part.trim_matches(|c: char| c.is_whitespace() || "，。".contains(c)))
        .filter(|part| !part.is_empty())
        .any(|part| text.contains(part))
}

#[tokio::test]
async fn a_ticket_from_question_to_rating_with_its_audit_trail() {
    let (bot, _dir) = bot();
    // A question the guide cannot answer, in 大湖村's group.
    let out = bot
        .handle_at(&said(DAHU_GROUP, RESIDENT, "m1", UNCOVERED), monday(9, 0))
        .await
        .unwrap();
    let told = one_to_group(&out, DAHU_GROUP);
    assert!(told.text.contains("工单号：1"), "{}", told.text);
    assert!(told.text.contains("大湖村帮办专员"), "{}", told.text);
    assert!(
        !after_hours_notice(&told.text),
        "in office hours: {}",
        told.text
    );
    assert_eq!(told.quote.as_deref(), Some("m1"));
    assert_eq!(told.mention.as_deref(), Some(RESIDENT));
    // The agent is notified in the agents' group, @-mentioned, with village, resident, question.
    let note = one_to_group(&out, AGENTS_GROUP);
    assert_eq!(note.mention.as_deref(), Some(DAHU_AGENT));
    for part in ["新工单 1", "大湖村", RESIDENT, "路灯坏了", "接单 1"] {
        assert!(note.text.contains(part), "{part} missing: {}", note.text);
    }
    // Written before the resident was told.
    let tickets = bot.store().tickets().unwrap();
    let t = tickets.get(1).unwrap().unwrap();
    assert_eq!(
        (t.stage, t.village.as_deref()),
        (Stage::Pending, Some("v01"))
    );
    assert_eq!(t.message_id, "m1");

    // A resident cannot claim; an agent of another village may not.
    let out = bot
        .handle_at(&said(DAHU_GROUP, "700002", "m2", "接单 1"), monday(9, 1))
        .await
        .unwrap();
    assert!(one_to_group(&out, DAHU_GROUP).text.contains("只有帮办专员"));
    let out = bot
        .handle_at(
            &said(AGENTS_GROUP, OTHER_VILLAGE_AGENT, "a0", "接单 1"),
            monday(9, 1),
        )
        .await
        .unwrap();
    assert!(one_to_group(&out, AGENTS_GROUP).text.contains("不归您负责"));
    assert_eq!(tickets.get(1).unwrap().unwrap().stage, Stage::Pending);

    // The village's agent claims, replies, resolves.
    let out = bot
        .handle_at(
            &said(AGENTS_GROUP, DAHU_AGENT, "a1", "接单 1"),
            monday(9, 5),
        )
        .await
        .unwrap();
    assert!(
        one_to_group(&out, AGENTS_GROUP)
            .text
            .contains("已接单：工单1")
    );
    let out = bot
        .handle_at(
            &said(
                AGENTS_GROUP,
                DAHU_AGENT,
                "a2",
                "回复 1 路灯归村委会管，已经报修了",
            ),
            monday(9, 20),
        )
        .await
        .unwrap();
    let relayed = one_to_group(&out, DAHU_GROUP);
    assert!(relayed.text.contains("路灯归村委会管，已经报修了"));
    assert!(relayed.text.contains("大湖村帮办专员"), "{}", relayed.text);
    assert_eq!(relayed.quote.as_deref(), Some("m1"), "quotes the question");
    assert_eq!(
        relayed.mention.as_deref(),
        Some(RESIDENT),
        "@-mentions the resident"
    );
    assert!(one_to_group(&out, AGENTS_GROUP).text.contains("已转达"));
    let out = bot
        .handle_at(
            &said(AGENTS_GROUP, DAHU_AGENT, "a3", "/resolve 1"),
            monday(10, 5),
        )
        .await
        .unwrap();
    let asked = one_to_group(&out, DAHU_GROUP);
    assert!(asked.text.contains("已办结") && asked.text.contains("1 非常满意"));
    assert_eq!(asked.mention.as_deref(), Some(RESIDENT));

    // The resident rates it 2 (满意).
    let out = bot
        .handle_at(&said(DAHU_GROUP, RESIDENT, "m3", "2"), monday(10, 30))
        .await
        .unwrap();
    assert!(one_to_group(&out, DAHU_GROUP).text.contains("谢谢"));
    assert!(to_group(&out, AGENTS_GROUP).is_empty());

    let t = tickets.get(1).unwrap().unwrap();
    assert_eq!(t.stage, Stage::Rated);
    assert_eq!(t.rating, Some(Rating::Satisfied));
    let trail: Vec<(&str, Role)> = t
        .events
        .iter()
        .map(|e| (e.change.label(), e.by.role))
        .collect();
    assert_eq!(
        trail,
        [
            ("建单", Role::Resident),
            ("接单", Role::Agent),
            ("回复", Role::Agent),
            ("办结", Role::Agent),
            ("评价", Role::Resident),
        ]
    );
    assert!(t.events.windows(2).all(|w| w[0].at <= w[1].at));
    assert_eq!(t.events[1].by.id, "a01", "who: the agent's id in org.toml");

    // In the ledger, CSV and XLSX alike.
    let rows = ledger::load(&config(), bot.store(), Period::default()).unwrap();
    assert_eq!(rows.len(), 1);
    let expected = [
        "1",
        "大湖村",
        "QQ群900001",
        "用户700001（700001）",
        "未识别事项",
        "村里的路灯坏了找谁",
        "2026-12-07 09:05",
        "大湖村帮办专员（示例）",
        "2026-12-07 10:05",
        "1小时5分钟",
        "满意",
    ];
    assert_eq!(rows[0].cells(), expected.map(String::from));
    let csv = ledger::csv(&rows).unwrap();
    let csv = String::from_utf8(csv).unwrap();
    let mut lines = csv.trim_start_matches('\u{feff}').lines();
    assert_eq!(lines.next().unwrap(), ledger::COLUMNS.join(","));
    assert_eq!(lines.next().unwrap(), expected.join(","));
    let sheet = xlsx::cells(&ledger::xlsx(&rows).unwrap());
    assert_eq!(sheet[0], ledger::COLUMNS.map(String::from));
    assert_eq!(sheet[1], expected.map(String::from));
}

#[tokio::test]
async fn the_same_message_twice_gives_one_ticket_and_the_same_reply() {
    let (bot, _dir) = bot();
    let question = said(DAHU_GROUP, RESIDENT, "m1", UNCOVERED);
    let first = bot.handle_at(&question, monday(9, 0)).await.unwrap();
    let again = bot.handle_at(&question, monday(9, 3)).await.unwrap();
    assert_eq!(first, again);
    let tickets = bot.store().tickets().unwrap();
    assert_eq!(tickets.all().unwrap().len(), 1);

    // Commands too: a replayed 回复 relays once in the trail and says the same.
    let claim = said(AGENTS_GROUP, DAHU_AGENT, "a1", "回复 1 明天上午来村里");
    let first = bot.handle_at(&claim, monday(9, 5)).await.unwrap();
    let again = bot.handle_at(&claim, monday(9, 6)).await.unwrap();
    assert_eq!(first, again);
    let t = tickets.get(1).unwrap().unwrap();
    let replies = t
        .events
        .iter()
        .filter(|e| matches!(e.change, Change::Replied { .. }))
        .count();
    assert_eq!(replies, 1);
    // A different message with the same words is a new question: a second ticket.
    bot.handle_at(&said(DAHU_GROUP, RESIDENT, "m2", UNCOVERED), monday(9, 7))
        .await
        .unwrap();
    assert_eq!(tickets.all().unwrap().len(), 2);
}

#[tokio::test]
async fn tickets_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = bangban::store::Store::open(dir.path()).unwrap();
        let bot = bangban::engine::Engine::new(config(), store);
        bot.handle_at(&said(DAHU_GROUP, RESIDENT, "m1", UNCOVERED), monday(9, 0))
            .await
            .unwrap();
    }
    let store = bangban::store::Store::open(dir.path()).unwrap();
    let bot = bangban::engine::Engine::new(config(), store);
    let out = bot
        .handle_at(
            &said(AGENTS_GROUP, DAHU_AGENT, "a1", "工单 1"),
            monday(9, 5),
        )
        .await
        .unwrap();
    assert!(one_to_group(&out, AGENTS_GROUP).text.contains("路灯坏了"));
    // The counter goes on after the restart.
    let out = bot
        .handle_at(&said(DAHU_GROUP, RESIDENT, "m2", UNCOVERED), monday(9, 6))
        .await
        .unwrap();
    assert!(one_to_group(&out, DAHU_GROUP).text.contains("工单号：2"));
}

#[tokio::test]
async fn unclaimed_tickets_climb_the_ladder_in_office_time_only() {
    let (bot, _dir) = bot();
    // Friday 17:20: ten minutes of office time left that day.
    let friday = at(2026, 12, 4, 17, 20);
    bot.handle_at(&said(DAHU_GROUP, RESIDENT, "m1", UNCOVERED), friday)
        .await
        .unwrap();
    // The weekend does not count; nor does Monday before 08:50 (10 + 20 minutes = T1).
    for quiet in [
        at(2026, 12, 5, 12, 0),
        at(2026, 12, 6, 23, 0),
        monday(8, 49),
    ] {
        assert!(bot.tick(quiet).await.unwrap().is_empty());
    }
    let out = bot.tick(monday(8, 51)).await.unwrap();
    let note = one_to_group(&out, AGENTS_GROUP);
    assert_eq!(note.mention.as_deref(), Some(MIAOLING_AGENT));
    assert!(
        note.text.contains("升级到乡镇便民服务中心"),
        "{}",
        note.text
    );
    let tickets = bot.store().tickets().unwrap();
    let t = tickets.get(1).unwrap().unwrap();
    assert_eq!(
        (t.stage, t.level, &t.handler),
        (
            Stage::Escalated,
            Level::Township,
            &Handler::Township("miaoling".into())
        )
    );
    // Ticks are idempotent: nothing more until T2 (120 minutes: Monday 10:20).
    assert!(bot.tick(monday(8, 52)).await.unwrap().is_empty());
    assert!(bot.tick(monday(10, 19)).await.unwrap().is_empty());
    let out = bot.tick(monday(10, 21)).await.unwrap();
    let note = one_to_group(&out, AGENTS_GROUP);
    assert_eq!(note.mention.as_deref(), Some(DISTRICT_AGENT));
    assert!(note.text.contains("升级到区政务服务中心"));
    let t = tickets.get(1).unwrap().unwrap();
    assert_eq!((t.level, &t.handler), (Level::District, &Handler::District));
    assert_eq!(
        t.events
            .iter()
            .filter(|e| matches!(e.change, Change::Escalated { .. }))
            .count(),
        2
    );
    // Anyone up the ladder may now claim it; the ladder stops.
    bot.handle_at(
        &said(AGENTS_GROUP, DISTRICT_AGENT, "a1", "接单 1"),
        monday(10, 30),
    )
    .await
    .unwrap();
    assert!(bot.tick(monday(17, 0)).await.unwrap().is_empty());
    assert_eq!(tickets.get(1).unwrap().unwrap().stage, Stage::Claimed);
}

#[tokio::test]
async fn after_hours_the_resident_is_told_when_to_expect_an_answer() {
    let (bot, _dir) = bot();
    let saturday = at(2026, 12, 5, 10, 0);
    let out = bot
        .handle_at(&said(DAHU_GROUP, RESIDENT, "m1", UNCOVERED), saturday)
        .await
        .unwrap();
    let told = one_to_group(&out, DAHU_GROUP).text;
    assert!(told.contains("不在岗"), "{told}");
    assert!(after_hours_notice(&told), "{told}");
    assert!(told.contains("12月7日（周一）8:30"), "{told}");
    // Lunch on a working day: this afternoon.
    let out = bot
        .handle_at(&said(DAHU_GROUP, RESIDENT, "m2", UNCOVERED), monday(12, 30))
        .await
        .unwrap();
    assert!(one_to_group(&out, DAHU_GROUP).text.contains("今天14:00"));
}

#[tokio::test]
async fn a_bad_rating_opens_a_follow_up_for_the_township_centre() {
    let (bot, _dir) = bot();
    bot.handle_at(&said(DAHU_GROUP, RESIDENT, "m1", UNCOVERED), monday(9, 0))
        .await
        .unwrap();
    bot.handle_at(
        &said(AGENTS_GROUP, DAHU_AGENT, "a1", "办结 1"),
        monday(9, 30),
    )
    .await
    .unwrap();
    let rating = said(DAHU_GROUP, RESIDENT, "m2", "4");
    let out = bot.handle_at(&rating, monday(9, 40)).await.unwrap();
    let told = one_to_group(&out, DAHU_GROUP);
    assert!(told.text.contains("庙岭镇便民服务中心"), "{}", told.text);
    assert!(told.text.contains("工单号：2"), "{}", told.text);
    let note = one_to_group(&out, AGENTS_GROUP);
    assert_eq!(note.mention.as_deref(), Some(MIAOLING_AGENT));
    assert!(note.text.contains("差评回访 2") && note.text.contains("不满意"));

    let tickets = bot.store().tickets().unwrap();
    let rated = tickets.get(1).unwrap().unwrap();
    assert_eq!(
        (rated.stage, rated.rating),
        (Stage::Rated, Some(Rating::Dissatisfied))
    );
    assert!(
        rated
            .events
            .iter()
            .any(|e| e.change == Change::FollowUp { ticket: 2 })
    );
    let follow = tickets.get(2).unwrap().unwrap();
    assert_eq!(follow.follow_up_of, Some(1));
    assert_eq!(follow.handler, Handler::Township("miaoling".into()));
    // The rating message again (a replay): same answer, no third ticket.
    assert_eq!(bot.handle_at(&rating, monday(9, 41)).await.unwrap(), out);
    assert_eq!(tickets.all().unwrap().len(), 2);
    // Afterwards a "1" in the group is not a rating any more.
    let out = bot
        .handle_at(&said(DAHU_GROUP, RESIDENT, "m3", "1"), monday(9, 50))
        .await
        .unwrap();
    assert!(out.is_empty(), "{out:?}");
}

#[tokio::test]
async fn transfer_hands_the_ticket_over_and_notifies_the_new_handler() {
    let (bot, _dir) = bot();
    bot.handle_at(&said(DAHU_GROUP, RESIDENT, "m1", UNCOVERED), monday(9, 0))
        .await
        .unwrap();
    let out = bot
        .handle_at(
            &said(AGENTS_GROUP, DAHU_AGENT, "a1", "转办 1 庙岭镇"),
            monday(9, 5),
        )
        .await
        .unwrap();
    let notes = to_group(&out, AGENTS_GROUP);
    assert!(
        notes
            .iter()
            .any(|n| n.text.contains("已转给庙岭镇便民服务中心"))
    );
    let note = notes
        .iter()
        .find(|n| n.text.contains("转办工单 1"))
        .expect("the township centre is notified");
    assert_eq!(note.mention.as_deref(), Some(MIAOLING_AGENT));
    let tickets = bot.store().tickets().unwrap();
    assert_eq!(tickets.get(1).unwrap().unwrap().stage, Stage::Transferred);
    let out = bot
        .handle_at(
            &said(AGENTS_GROUP, "700009", "x", "转办 1 区中心"),
            monday(9, 6),
        )
        .await
        .unwrap();
    assert!(
        one_to_group(&out, AGENTS_GROUP)
            .text
            .contains("只有帮办专员")
    );
    let out = bot
        .handle_at(
            &said(AGENTS_GROUP, DAHU_AGENT, "a2", "转办 1 火星"),
            monday(9, 6),
        )
        .await
        .unwrap();
    assert!(
        one_to_group(&out, AGENTS_GROUP)
            .text
            .contains("找不到转办对象")
    );
    let out = bot
        .handle_at(
            &said(AGENTS_GROUP, MIAOLING_AGENT, "a3", "/claim 1"),
            monday(9, 10),
        )
        .await
        .unwrap();
    assert!(one_to_group(&out, AGENTS_GROUP).text.contains("已接单"));
    let t = tickets.get(1).unwrap().unwrap();
    assert_eq!(t.assignee.unwrap().id, "miaoling");
    // Claimed by someone else: a clear answer, nothing changed.
    let out = bot
        .handle_at(
            &said(AGENTS_GROUP, DAHU_AGENT, "a4", "接单 1"),
            monday(9, 11),
        )
        .await
        .unwrap();
    assert!(one_to_group(&out, AGENTS_GROUP).text.contains("已由"));
}

#[tokio::test]
async fn agents_see_their_tickets_and_details() {
    let (bot, _dir) = bot();
    for (i, m) in ["m1", "m2"].iter().enumerate() {
        bot.handle_at(
            &said(DAHU_GROUP, RESIDENT, m, UNCOVERED),
            monday(9, i as u64),
        )
        .await
        .unwrap();
    }
    bot.handle_at(
        &said(AGENTS_GROUP, DAHU_AGENT, "a1", "接单 2"),
        monday(9, 5),
    )
    .await
    .unwrap();
    let out = bot
        .handle_at(&private(DAHU_AGENT, "p1", "我的工单"), monday(9, 6))
        .await
        .unwrap();
    let text = match &sent(&out)[..] {
        [one] => one.text.clone(),
        other => panic!("{other:?}"),
    };
    assert!(
        text.contains("在办（1件）") && text.contains("工单2"),
        "{text}"
    );
    assert!(
        text.contains("待接（1件）") && text.contains("工单1"),
        "{text}"
    );
    let out = bot
        .handle_at(
            &said(AGENTS_GROUP, DAHU_AGENT, "a2", "工单 2"),
            monday(9, 7),
        )
        .await
        .unwrap();
    let text = one_to_group(&out, AGENTS_GROUP).text;
    assert!(
        text.contains("已受理") && text.contains("建单") && text.contains("接单"),
        "{text}"
    );
    // A mistyped command from an agent gets a hint saying what is missing.
    for (id, typed, hint) in [
        ("a3", "接单", "请写工单号，例如：接单 12"),
        ("a5", "接单 abc", "请写工单号"),
        ("a6", "回复 2", "请写回复内容"),
        ("a7", "转办 2", "请写转给谁"),
        ("a8", "/help", "专员命令"),
    ] {
        let out = bot
            .handle_at(&said(AGENTS_GROUP, DAHU_AGENT, id, typed), monday(9, 8))
            .await
            .unwrap();
        let text = one_to_group(&out, AGENTS_GROUP).text;
        assert!(text.contains(hint), "{typed}: {text}");
    }
    let out = bot
        .handle_at(
            &said(AGENTS_GROUP, DAHU_AGENT, "a4", "办结 99"),
            monday(9, 8),
        )
        .await
        .unwrap();
    assert!(one_to_group(&out, AGENTS_GROUP).text.contains("没有工单99"));
}

#[tokio::test]
async fn personal_numbers_in_a_group_get_advice_and_go_private() {
    let (bot, _dir) = bot();
    let id_card = "420703195501011234";
    let text = format!("@我身份证{id_card}，低保怎么还没到账");
    let out = bot
        .handle_at(&said(DAHU_GROUP, RESIDENT, "m1", &text), monday(9, 0))
        .await
        .unwrap();
    let told = one_to_group(&out, DAHU_GROUP).text;
    assert!(told.contains("身份证号") && told.contains("撤回"), "{told}");
    assert!(told.contains("工单号：1"), "{told}");
    let note = one_to_group(&out, AGENTS_GROUP).text;
    assert!(
        !note.contains(id_card),
        "masked for the agents' group: {note}"
    );
    for s in sent(&out) {
        assert!(
            !s.text.contains(id_card),
            "never echoed into a group: {s:?}"
        );
    }
    // The ticket keeps what the agent needs; they read it privately.
    let tickets = bot.store().tickets().unwrap();
    assert!(tickets.get(1).unwrap().unwrap().question.contains(id_card));
    let out = bot
        .handle_at(&private(DAHU_AGENT, "p1", "工单 1"), monday(9, 5))
        .await
        .unwrap();
    assert!(sent(&out)[0].text.contains(id_card));
    let out = bot
        .handle_at(
            &said(AGENTS_GROUP, DAHU_AGENT, "a1", "工单 1"),
            monday(9, 5),
        )
        .await
        .unwrap();
    assert!(!one_to_group(&out, AGENTS_GROUP).text.contains(id_card));
    // An agent's reply with a phone number is not relayed into the group.
    let out = bot
        .handle_at(
            &said(AGENTS_GROUP, DAHU_AGENT, "a2", "回复 1 打我电话13812345678"),
            monday(9, 6),
        )
        .await
        .unwrap();
    assert!(to_group(&out, DAHU_GROUP).is_empty());
    assert!(
        one_to_group(&out, AGENTS_GROUP)
            .text
            .contains("不能发到居民群里")
    );
    // A number posted not to the bot: the advice promises that an agent gets in touch privately,
    // so a ticket is opened and the village's agent notified — the number masked.
    let out = bot
        .handle_at(
            &said(DAHU_GROUP, "700002", "m2", "我换号了 139 1234 5678"),
            monday(9, 7),
        )
        .await
        .unwrap();
    let told = one_to_group(&out, DAHU_GROUP).text;
    assert!(
        told.contains("手机号") && told.contains("私下联系") && told.contains("工单号：2"),
        "{told}"
    );
    let note = one_to_group(&out, AGENTS_GROUP);
    assert_eq!(note.mention.as_deref(), Some(DAHU_AGENT));
    assert!(
        note.text.contains("新工单 2") && note.text.contains("需私聊"),
        "{}",
        note.text
    );
    assert!(note.text.contains("139******78"), "{}", note.text);
    for s in sent(&out) {
        assert!(!s.text.contains("1234 5678"), "never echoed: {s:?}");
    }
    let t = tickets.get(2).unwrap().unwrap();
    assert_eq!(t.reason, bangban::store::tickets::Reason::Privacy);
    assert_eq!(t.handler, Handler::Village("v01".into()));
    // An agent posting a number in a village group (their work phone) gets the advice only.
    let out = bot
        .handle_at(
            &said(DAHU_GROUP, DAHU_AGENT, "m3", "有事打我电话13812345678"),
            monday(9, 8),
        )
        .await
        .unwrap();
    assert!(one_to_group(&out, DAHU_GROUP).text.contains("手机号"));
    assert!(to_group(&out, AGENTS_GROUP).is_empty());
    assert_eq!(tickets.all().unwrap().len(), 2);
}

#[tokio::test]
async fn a_follow_up_refers_to_the_item_just_discussed_until_context_expires() {
    let (bot, _dir) = bot();
    let out = bot
        .handle_at(
            &said(DAHU_GROUP, RESIDENT, "m1", "@老年卡要带什么"),
            monday(9, 0),
        )
        .await
        .unwrap();
    assert!(one_to_group(&out, DAHU_GROUP).text.contains("申请材料"));
    // Not @-mentioned, no item named: still about 老年卡.
    let out = bot
        .handle_at(
            &said(DAHU_GROUP, RESIDENT, "m2", "那要多久？"),
            monday(9, 2),
        )
        .await
        .unwrap();
    let answer = one_to_group(&out, DAHU_GROUP).text;
    assert!(
        answer.contains("老年") && answer.contains("办理时限"),
        "{answer}"
    );
    // Someone else's follow-up is not about this resident's item.
    let out = bot
        .handle_at(
            &said(DAHU_GROUP, "700002", "m3", "那要多久？"),
            monday(9, 3),
        )
        .await
        .unwrap();
    assert!(out.is_empty(), "{out:?}");
    // Context lasts 10 minutes from the last answer: at 09:11 (9 minutes) it holds and is renewed,
    // at 09:22 (11 minutes) it is gone.
    let out = bot
        .handle_at(&said(DAHU_GROUP, RESIDENT, "m4", "在哪办？"), monday(9, 11))
        .await
        .unwrap();
    let text = one_to_group(&out, DAHU_GROUP).text;
    assert!(text.contains("老年") && text.contains("离您最近"), "{text}");
    let out = bot
        .handle_at(
            &said(DAHU_GROUP, RESIDENT, "m5", "那要多久？"),
            monday(9, 22),
        )
        .await
        .unwrap();
    assert!(out.is_empty(), "expired context must not answer: {out:?}");
}

#[tokio::test]
async fn a_number_picks_from_the_list_just_offered_until_it_expires() {
    let (bot, _dir) = bot();
    let out = bot
        .handle_at(
            &said(DAHU_GROUP, RESIDENT, "m1", "@社保卡怎么办"),
            monday(9, 0),
        )
        .await
        .unwrap();
    let list = one_to_group(&out, DAHU_GROUP).text;
    let second = list
        .lines()
        .find_map(|l| l.strip_prefix("2. "))
        .unwrap_or_else(|| panic!("a numbered list: {list}"))
        .to_string();
    let out = bot
        .handle_at(&said(DAHU_GROUP, RESIDENT, "m2", "2"), monday(9, 1))
        .await
        .unwrap();
    let answer = one_to_group(&out, DAHU_GROUP).text;
    assert!(answer.starts_with(&format!("【{second}")), "{answer}");

    bot.handle_at(
        &said(DAHU_GROUP, RESIDENT, "m3", "@社保卡怎么办"),
        monday(9, 30),
    )
    .await
    .unwrap();
    let late = monday(9, 30) + Duration::from_secs(11 * 60);
    let out = bot
        .handle_at(&said(DAHU_GROUP, RESIDENT, "m4", "2"), late)
        .await
        .unwrap();
    assert!(out.is_empty(), "expired: {out:?}");
}

#[tokio::test]
async fn where_answers_name_the_askers_own_station_and_township_centre() {
    let (bot, _dir) = bot();
    let out = bot
        .handle_at(
            &said(DAHU_GROUP, RESIDENT, "m1", "@老年卡在哪办"),
            monday(9, 0),
        )
        .await
        .unwrap();
    let text = one_to_group(&out, DAHU_GROUP).text;
    assert!(
        text.contains("离您最近：大湖村便民服务站；庙岭镇便民服务中心"),
        "{text}"
    );
    // 周汤村 (v76) is in 华容镇.
    let out = bot
        .handle_at(
            &said("900076", RESIDENT, "m2", "@老年卡在哪办"),
            monday(9, 0),
        )
        .await
        .unwrap();
    let text = one_to_group(&out, "900076").text;
    assert!(
        text.contains("周汤村便民服务站；华容镇便民服务中心"),
        "{text}"
    );
    // Private chats have no village: the guide's answer alone.
    let out = bot
        .handle_at(&private(RESIDENT, "p1", "老年卡在哪办"), monday(9, 0))
        .await
        .unwrap();
    assert!(!sent(&out)[0].text.contains("离您最近"));
    assert_eq!(sent(&out)[0].chat, Chat::Private(RESIDENT.into()));
}

#[tokio::test]
async fn agents_who_ask_for_it_are_also_notified_privately_with_the_full_text() {
    let mut config = (*config()).clone();
    let agent = config
        .org
        .agents
        .iter_mut()
        .find(|a| a.id == "a01")
        .unwrap();
    agent.private = true;
    let dir = tempfile::tempdir().unwrap();
    let store = bangban::store::Store::open(dir.path()).unwrap();
    let bot = bangban::engine::Engine::new(std::sync::Arc::new(config), store);
    let phone = "13812345678";
    let out = bot
        .handle_at(
            &said(
                DAHU_GROUP,
                RESIDENT,
                "m1",
                &format!("@我电话{phone}，村里的路灯坏了找谁"),
            ),
            monday(9, 0),
        )
        .await
        .unwrap();
    let private: Vec<Sent> = sent(&out)
        .into_iter()
        .filter(|s| s.chat == Chat::Private(DAHU_AGENT.into()))
        .collect();
    assert_eq!(private.len(), 1, "{out:#?}");
    assert!(
        private[0].text.contains(phone),
        "the agent gets what they need"
    );
    assert!(!one_to_group(&out, AGENTS_GROUP).text.contains(phone));
}

/// 郭垱村 (v30, 蒲团乡): its sample agent is on duty 08:00–12:00, Monday to Saturday.
const GUODANG_GROUP: &str = "900030";
const PUTUAN_AGENT: &str = "800103";

#[tokio::test]
async fn residents_are_told_when_the_agents_who_follow_up_are_on_duty() {
    let (bot, _dir) = bot();
    let saturday = |h, min| at(2026, 12, 5, h, min);
    // Saturday morning: 郭垱村's agent is on duty, so no after-hours notice…
    let out = bot
        .handle_at(
            &said(GUODANG_GROUP, RESIDENT, "m1", UNCOVERED),
            saturday(9, 0),
        )
        .await
        .unwrap();
    let told = one_to_group(&out, GUODANG_GROUP).text;
    assert!(told.contains("郭垱村帮办专员"), "{told}");
    assert!(!after_hours_notice(&told), "{told}");
    // …while 大湖村's agent has no `duty` and keeps office hours.
    let out = bot
        .handle_at(&said(DAHU_GROUP, RESIDENT, "m2", UNCOVERED), saturday(9, 0))
        .await
        .unwrap();
    assert!(
        one_to_group(&out, DAHU_GROUP)
            .text
            .contains("专员现在不在岗，12月7日（周一）8:30上班后回复您")
    );
    // Saturday afternoon and Monday afternoon (the office is open): 郭垱村's agent is off duty.
    for (id, when, expect) in [
        ("m3", saturday(13, 0), "12月7日（周一）8:00上班后"),
        ("m4", monday(14, 30), "不在岗，明天8:00上班后"),
    ] {
        let out = bot
            .handle_at(&said(GUODANG_GROUP, RESIDENT, id, UNCOVERED), when)
            .await
            .unwrap();
        let told = one_to_group(&out, GUODANG_GROUP).text;
        assert!(told.contains(expect), "{expect}: {told}");
    }
}

#[tokio::test]
async fn with_several_agents_the_earliest_on_duty_counts() {
    // A second agent for 大湖村, on duty on Saturday mornings only.
    let mut config = (*config()).clone();
    let org = &mut config.org;
    let spec = bangban::helpdesk::hours::DutySpec {
        weekdays: vec![6],
        periods: vec!["08:00-12:00".into()],
    };
    let mut errors = Vec::new();
    let duty = org.hours.duty(
        &spec,
        "agents.a01b.duty",
        std::path::Path::new("org.toml"),
        &mut errors,
    );
    assert!(errors.is_empty(), "{errors:?}");
    let mut second = org.agent("a01").unwrap().clone();
    second.id = "a01b".into();
    second.name = "大湖村周六值班专员（示例）".into();
    second.duty = Some(duty);
    org.agents.push(second);
    let dir = tempfile::tempdir().unwrap();
    let store = bangban::store::Store::open(dir.path()).unwrap();
    let bot = bangban::engine::Engine::new(std::sync::Arc::new(config), store);
    // Friday evening: the Saturday agent is on duty first.
    let out = bot
        .handle_at(
            &said(DAHU_GROUP, RESIDENT, "m1", UNCOVERED),
            at(2026, 12, 4, 20, 0),
        )
        .await
        .unwrap();
    assert!(
        one_to_group(&out, DAHU_GROUP)
            .text
            .contains("不在岗，明天8:00上班后"),
        "{out:#?}"
    );
    // The ladder runs while either of them is on duty: Saturday 08:00–08:30 is T1.
    assert!(bot.tick(at(2026, 12, 5, 8, 29)).await.unwrap().is_empty());
    let out = bot.tick(at(2026, 12, 5, 8, 30)).await.unwrap();
    assert!(
        one_to_group(&out, AGENTS_GROUP)
            .text
            .contains("升级到乡镇便民服务中心")
    );
}

#[tokio::test]
async fn the_ladder_counts_the_duty_time_of_the_agents_responsible() {
    let (bot, _dir) = bot();
    let tickets = bot.store().tickets().unwrap();
    // Saturday 09:00 in 郭垱村: its agent is on duty, so T1 (30 minutes) runs out at 09:30.
    bot.handle_at(
        &said(GUODANG_GROUP, RESIDENT, "m1", UNCOVERED),
        at(2026, 12, 5, 9, 0),
    )
    .await
    .unwrap();
    assert!(bot.tick(at(2026, 12, 5, 9, 29)).await.unwrap().is_empty());
    let out = bot.tick(at(2026, 12, 5, 9, 30)).await.unwrap();
    let note = one_to_group(&out, AGENTS_GROUP);
    assert_eq!(note.mention.as_deref(), Some(PUTUAN_AGENT));
    assert_eq!(
        tickets.get(1).unwrap().unwrap().handler,
        Handler::Township("putuan".into())
    );
    // The township centre keeps office hours: its T2 − T1 (90 minutes) runs from Monday 08:30.
    for quiet in [at(2026, 12, 6, 12, 0), monday(9, 59)] {
        assert!(bot.tick(quiet).await.unwrap().is_empty());
    }
    let out = bot.tick(monday(10, 0)).await.unwrap();
    assert_eq!(
        one_to_group(&out, AGENTS_GROUP).mention.as_deref(),
        Some(DISTRICT_AGENT)
    );
    assert_eq!(tickets.get(1).unwrap().unwrap().level, Level::District);

    // Monday 14:30: the office is open but 郭垱村's agent is not; the clock waits for them.
    bot.handle_at(
        &said(GUODANG_GROUP, RESIDENT, "m2", UNCOVERED),
        monday(14, 30),
    )
    .await
    .unwrap();
    for quiet in [monday(17, 30), at(2026, 12, 8, 8, 29)] {
        assert!(bot.tick(quiet).await.unwrap().is_empty());
    }
    let out = bot.tick(at(2026, 12, 8, 8, 30)).await.unwrap();
    assert!(
        one_to_group(&out, AGENTS_GROUP)
            .text
            .contains("工单 2 升级到乡镇")
    );
}

/// `said` with the resident's display name (their group card) given.
fn said_as(
    name: &str,
    chat: &str,
    sender: &str,
    id: &str,
    text: &str,
) -> bangban_contract::Incoming {
    bangban_contract::Incoming {
        sender_name: Some(name.into()),
        ..said(chat, sender, id, text)
    }
}

#[tokio::test]
async fn a_huge_message_is_capped_in_the_ticket_short_in_groups_and_exports() {
    let (bot, _dir) = bot();
    let huge = format!("@村里的路灯坏了找谁{}", "晚上一直不亮".repeat(6000));
    let total = huge.trim_start_matches('@').chars().count();
    assert!(total > 36_000);
    let out = bot
        .handle_at(&said(DAHU_GROUP, RESIDENT, "m1", &huge), monday(9, 0))
        .await
        .unwrap();
    assert!(one_to_group(&out, DAHU_GROUP).text.contains("工单号：1"));
    // The agents' group gets an excerpt: one short message, not ~45.
    let note = one_to_group(&out, AGENTS_GROUP).text;
    assert!(note.chars().count() < 500, "{} chars", note.chars().count());
    assert!(note.contains("路灯坏了") && note.contains('…'), "{note}");
    // The ticket keeps the first 2,000 characters, saying it was cut.
    let tickets = bot.store().tickets().unwrap();
    let t = tickets.get(1).unwrap().unwrap();
    assert!(t.question.starts_with("村里的路灯坏了找谁晚上一直不亮"));
    assert!(t.question.chars().count() <= 2_100, "{}", t.question.len());
    assert!(
        t.question.contains(&format!("原消息共{total}字")),
        "{}",
        &t.question[t.question.len() - 120..]
    );
    // `工单 1` in the agents' group is short; in a private chat the agent reads the whole ticket.
    let out = bot
        .handle_at(
            &said(AGENTS_GROUP, DAHU_AGENT, "a1", "工单 1"),
            monday(9, 5),
        )
        .await
        .unwrap();
    let shown = one_to_group(&out, AGENTS_GROUP).text;
    assert!(
        shown.chars().count() < 600,
        "{} chars",
        shown.chars().count()
    );
    let out = bot
        .handle_at(&private(DAHU_AGENT, "p1", "工单 1"), monday(9, 6))
        .await
        .unwrap();
    // Whole, as one quoted line (the cut note's line break shown as ↵).
    let whole =
        bangban::helpdesk::notify::quote(&t.question, bangban::helpdesk::notify::Shown::Full);
    assert!(sent(&out)[0].text.contains(&whole));

    // A ticket stored before the cap (as big as the message was) still exports: cells are cut to
    // Excel's limit. Its question starts like a formula: neutralised too.
    let old = bangban::store::tickets::Ticket {
        source: "onebot:10000:old".into(),
        question: format!("=HYPERLINK(\"x\"){}", "长".repeat(40_000)),
        ..t.clone()
    };
    tickets.create_once(&old).unwrap();
    let rows = ledger::load(&config(), bot.store(), Period::default()).unwrap();
    let sheet = xlsx::cells(&ledger::xlsx(&rows).expect("the XLSX export succeeds"));
    assert_eq!(sheet.len(), 3);
    assert!(
        sheet[1][5].starts_with("村里的路灯坏了找谁"),
        "{}",
        &sheet[1][5][..60]
    );
    let cut = &sheet[2][5];
    assert!(cut.starts_with("'=HYPERLINK"), "{}", &cut[..40]);
    assert_eq!(cut.encode_utf16().count(), ledger::CELL_MAX);
    assert!(cut.ends_with('…'));
}

#[tokio::test]
async fn only_the_township_centre_and_above_work_on_a_bad_ratings_follow_up() {
    let (bot, _dir) = bot();
    bot.handle_at(&said(DAHU_GROUP, RESIDENT, "m1", UNCOVERED), monday(9, 0))
        .await
        .unwrap();
    bot.handle_at(
        &said(AGENTS_GROUP, DAHU_AGENT, "a1", "办结 1"),
        monday(9, 30),
    )
    .await
    .unwrap();
    bot.handle_at(&said(DAHU_GROUP, RESIDENT, "m2", "5"), monday(9, 40))
        .await
        .unwrap();
    let tickets = bot.store().tickets().unwrap();
    assert_eq!(tickets.get(2).unwrap().unwrap().follow_up_of, Some(1));
    // The rated agent (大湖村's) may not claim, transfer, reply to or resolve the follow-up.
    for (id, command) in [
        ("a2", "接单 2"),
        ("a3", "转办 2 大湖村"),
        ("a4", "回复 2 我已经处理好了"),
        ("a5", "办结 2"),
    ] {
        let out = bot
            .handle_at(&said(AGENTS_GROUP, DAHU_AGENT, id, command), monday(9, 45))
            .await
            .unwrap();
        let text = one_to_group(&out, AGENTS_GROUP).text;
        assert!(
            text.contains("差评后的回访") && text.contains("不能操作"),
            "{command}: {text}"
        );
        assert!(to_group(&out, DAHU_GROUP).is_empty(), "{command}");
    }
    let t = tickets.get(2).unwrap().unwrap();
    assert_eq!((t.stage, t.events.len()), (Stage::Pending, 1));
    // The township centre, the district and admins may.
    let out = bot
        .handle_at(
            &said(AGENTS_GROUP, MIAOLING_AGENT, "a6", "接单 2"),
            monday(9, 50),
        )
        .await
        .unwrap();
    assert!(
        one_to_group(&out, AGENTS_GROUP)
            .text
            .contains("已接单：工单2")
    );
    let out = bot
        .handle_at(
            &said(AGENTS_GROUP, DISTRICT_AGENT, "a7", "回复 2 我们明天回访"),
            monday(9, 51),
        )
        .await
        .unwrap();
    assert!(one_to_group(&out, DAHU_GROUP).text.contains("我们明天回访"));
    let out = bot
        .handle_at(&said(AGENTS_GROUP, "800900", "a8", "办结 2"), monday(9, 52))
        .await
        .unwrap();
    assert!(to_group(&out, AGENTS_GROUP)[0].text.contains("已办结"));
    // An ordinary ticket of 大湖村 stays the village agent's.
    bot.handle_at(&said(DAHU_GROUP, RESIDENT, "m3", UNCOVERED), monday(10, 0))
        .await
        .unwrap();
    let out = bot
        .handle_at(
            &said(AGENTS_GROUP, DAHU_AGENT, "a9", "接单 3"),
            monday(10, 1),
        )
        .await
        .unwrap();
    assert!(
        one_to_group(&out, AGENTS_GROUP)
            .text
            .contains("已接单：工单3")
    );
}

#[tokio::test]
async fn numbers_in_residents_display_names_are_masked_where_groups_and_the_ledger_see_them() {
    let (bot, _dir) = bot();
    let name = "王建国13907111234";
    let out = bot
        .handle_at(
            &said_as(name, DAHU_GROUP, RESIDENT, "m1", UNCOVERED),
            monday(9, 0),
        )
        .await
        .unwrap();
    let note = one_to_group(&out, AGENTS_GROUP).text;
    assert!(note.contains("王建国139******34（700001）"), "{note}");
    for s in sent(&out) {
        assert!(!s.text.contains("13907111234"), "{s:?}");
    }
    // `工单 1` in the agents' group: neither the summary nor the trail shows the number.
    let out = bot
        .handle_at(
            &said(AGENTS_GROUP, DAHU_AGENT, "a1", "工单 1"),
            monday(9, 5),
        )
        .await
        .unwrap();
    let shown = one_to_group(&out, AGENTS_GROUP).text;
    assert!(
        shown.contains("王建国139******34") && !shown.contains("13907111234"),
        "{shown}"
    );
    // Privately the agent sees the name as it is.
    let out = bot
        .handle_at(&private(DAHU_AGENT, "p1", "工单 1"), monday(9, 6))
        .await
        .unwrap();
    assert!(sent(&out)[0].text.contains(name));
    // The ledger: 居民 masked, in the rows and both files.
    let rows = ledger::load(&config(), bot.store(), Period::default()).unwrap();
    assert_eq!(rows[0].resident, "王建国139******34（700001）");
    let csv = String::from_utf8(ledger::csv(&rows).unwrap()).unwrap();
    assert!(!csv.contains("13907111234"));
    let sheet = xlsx::cells(&ledger::xlsx(&rows).unwrap());
    assert_eq!(sheet[1][3], "王建国139******34（700001）");
}

#[tokio::test]
async fn a_rating_counts_only_within_the_window_and_in_clear_forms() {
    let (bot, _dir) = bot();
    let tickets = bot.store().tickets().unwrap();
    bot.handle_at(&said(DAHU_GROUP, RESIDENT, "m1", UNCOVERED), monday(9, 0))
        .await
        .unwrap();
    bot.handle_at(
        &said(AGENTS_GROUP, DAHU_AGENT, "a1", "办结 1"),
        monday(9, 30),
    )
    .await
    .unwrap();
    // Points have no clear scale (our 5 is 非常不满意): not a rating, nothing happens.
    for (id, text) in [("m2", "打5分"), ("m3", "5分")] {
        let out = bot
            .handle_at(&said(DAHU_GROUP, RESIDENT, id, text), monday(9, 40))
            .await
            .unwrap();
        assert!(out.is_empty(), "{text}: {out:?}");
    }
    assert_eq!(tickets.get(1).unwrap().unwrap().stage, Stage::Resolved);
    // Five stars is the best.
    let out = bot
        .handle_at(&said(DAHU_GROUP, RESIDENT, "m4", "五星"), monday(9, 41))
        .await
        .unwrap();
    assert!(one_to_group(&out, DAHU_GROUP).text.contains("谢谢"));
    assert_eq!(
        tickets.get(1).unwrap().unwrap().rating,
        Some(Rating::VerySatisfied)
    );

    // Resolved on Monday 10:00; the window is 3 days (org.toml [rating] window_days).
    bot.handle_at(&said(DAHU_GROUP, RESIDENT, "m5", UNCOVERED), monday(9, 50))
        .await
        .unwrap();
    bot.handle_at(
        &said(AGENTS_GROUP, DAHU_AGENT, "a2", "办结 2"),
        monday(10, 0),
    )
    .await
    .unwrap();
    assert_eq!(config().org.rating_window, 3 * 86_400);
    // Thursday 10:01: too late, a "4" is an ordinary message — no rating, no follow-up.
    let out = bot
        .handle_at(
            &said(DAHU_GROUP, RESIDENT, "m6", "4"),
            at(2026, 12, 10, 10, 1),
        )
        .await
        .unwrap();
    assert!(out.is_empty(), "{out:?}");
    let t = tickets.get(2).unwrap().unwrap();
    assert_eq!((t.stage, t.rating), (Stage::Resolved, None));
    assert_eq!(tickets.all().unwrap().len(), 2);
    // Within the window (Thursday 09:59) it counts.
    bot.handle_at(
        &said(DAHU_GROUP, RESIDENT, "m7", UNCOVERED),
        at(2026, 12, 10, 9, 0),
    )
    .await
    .unwrap();
    bot.handle_at(
        &said(AGENTS_GROUP, DAHU_AGENT, "a3", "办结 3"),
        at(2026, 12, 10, 9, 1),
    )
    .await
    .unwrap();
    let out = bot
        .handle_at(
            &said(DAHU_GROUP, RESIDENT, "m8", "2"),
            at(2026, 12, 13, 8, 59),
        )
        .await
        .unwrap();
    assert!(one_to_group(&out, DAHU_GROUP).text.contains("谢谢"));
    assert_eq!(
        tickets.get(3).unwrap().unwrap().rating,
        Some(Rating::Satisfied)
    );
}

#[tokio::test]
async fn ticket_lists_and_details_stay_out_of_village_groups() {
    let (bot, _dir) = bot();
    bot.handle_at(
        &said(
            DAHU_GROUP,
            RESIDENT,
            "m1",
            "@村里的路灯坏了找谁，我家门口那盏",
        ),
        monday(9, 0),
    )
    .await
    .unwrap();
    for (chat, id, command) in [
        (DAHU_GROUP, "g1", "我的工单"),
        (DAHU_GROUP, "g2", "工单 1"),
        ("900002", "g3", "/mine"),
        ("900002", "g4", "/ticket 1"),
    ] {
        let out = bot
            .handle_at(&said(chat, DAHU_AGENT, id, command), monday(9, 5))
            .await
            .unwrap();
        let text = one_to_group(&out, chat).text;
        assert_eq!(text, "请在专员群或私聊里查工单。", "{command}");
    }
    // Claiming from a village group works, without repeating the question there.
    let out = bot
        .handle_at(&said("900002", DAHU_AGENT, "g5", "接单 1"), monday(9, 6))
        .await
        .unwrap();
    let text = one_to_group(&out, "900002").text;
    assert_eq!(text, "已接单：工单1。");
    // The agents' group and private chats still list them.
    let out = bot
        .handle_at(
            &said(AGENTS_GROUP, DAHU_AGENT, "a1", "我的工单"),
            monday(9, 7),
        )
        .await
        .unwrap();
    assert!(one_to_group(&out, AGENTS_GROUP).text.contains("我家门口"));
    let out = bot
        .handle_at(&private(DAHU_AGENT, "p1", "工单 1"), monday(9, 8))
        .await
        .unwrap();
    assert!(sent(&out)[0].text.contains("我家门口"));
}

#[tokio::test]
async fn ledger_cells_that_look_like_formulas_are_neutralised() {
    let (bot, _dir) = bot();
    for (i, name) in ["=cmd|' /C calc'!A0", "+1", "-2", "@SUM(A1)"]
        .iter()
        .enumerate()
    {
        bot.handle_at(
            &said_as(name, DAHU_GROUP, RESIDENT, &format!("m{i}"), UNCOVERED),
            monday(9, i as u64),
        )
        .await
        .unwrap();
    }
    let rows = ledger::load(&config(), bot.store(), Period::default()).unwrap();
    let csv = String::from_utf8(ledger::csv(&rows).unwrap()).unwrap();
    let sheet = xlsx::cells(&ledger::xlsx(&rows).unwrap());
    for (i, row) in rows.iter().enumerate() {
        let expected = format!("'{}", row.resident);
        assert_eq!(sheet[i + 1][3], expected);
        assert!(csv.contains(&expected), "{expected} in {csv}");
    }
    assert!(
        !csv.lines().any(|l| l.contains(",=") || l.contains(",\"=")),
        "{csv}"
    );
}

#[tokio::test]
async fn the_ledger_names_who_first_accepted_with_when() {
    let (bot, _dir) = bot();
    bot.handle_at(&said(DAHU_GROUP, RESIDENT, "m1", UNCOVERED), monday(9, 0))
        .await
        .unwrap();
    bot.handle_at(
        &said(AGENTS_GROUP, DAHU_AGENT, "a1", "接单 1"),
        monday(9, 5),
    )
    .await
    .unwrap();
    bot.handle_at(
        &said(AGENTS_GROUP, DAHU_AGENT, "a2", "转办 1 庙岭镇"),
        monday(9, 10),
    )
    .await
    .unwrap();
    let accepted = |bot: &bangban::engine::Engine| {
        let rows = ledger::load(&config(), bot.store(), Period::default()).unwrap();
        (rows[0].claimed_at.clone(), rows[0].claimed_by.clone())
    };
    let first = (
        "2026-12-07 09:05".to_string(),
        "大湖村帮办专员（示例）".to_string(),
    );
    // Transferred and waiting: still accepted by 大湖村's agent at 09:05.
    assert_eq!(accepted(&bot), first);
    bot.handle_at(
        &said(AGENTS_GROUP, MIAOLING_AGENT, "a3", "接单 1"),
        monday(9, 20),
    )
    .await
    .unwrap();
    bot.handle_at(
        &said(AGENTS_GROUP, MIAOLING_AGENT, "a4", "办结 1"),
        monday(9, 30),
    )
    .await
    .unwrap();
    assert_eq!(accepted(&bot), first);
}

#[tokio::test]
async fn a_ticket_from_a_private_chat_says_so() {
    let (bot, _dir) = bot();
    let out = bot
        .handle_at(&private(RESIDENT, "p1", "村里的路灯坏了找谁"), monday(9, 0))
        .await
        .unwrap();
    let note = one_to_group(&out, AGENTS_GROUP).text;
    assert!(note.contains("QQ私聊 居民"), "{note}");
    assert!(!note.contains("未登记的群"), "{note}");
    // The resident is told where the answer will come: here, not in a group.
    let told: Vec<Sent> = sent(&out)
        .into_iter()
        .filter(|s| s.chat == Chat::Private(RESIDENT.into()))
        .collect();
    assert_eq!(told.len(), 1, "{out:#?}");
    assert!(told[0].text.contains("工单号"), "{}", told[0].text);
    assert!(!told[0].text.contains("群"), "{}", told[0].text);
}

#[tokio::test]
async fn dialogue_context_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = bangban::store::Store::open(dir.path()).unwrap();
        let bot = bangban::engine::Engine::new(config(), store);
        let out = bot
            .handle_at(
                &said(DAHU_GROUP, RESIDENT, "m1", "@老年卡要带什么"),
                monday(9, 0),
            )
            .await
            .unwrap();
        assert!(one_to_group(&out, DAHU_GROUP).text.contains("申请材料"));
    }
    let store = bangban::store::Store::open(dir.path()).unwrap();
    let bot = bangban::engine::Engine::new(config(), store);
    let out = bot
        .handle_at(
            &said(DAHU_GROUP, RESIDENT, "m2", "那要多久？"),
            monday(9, 2),
        )
        .await
        .unwrap();
    let answer = one_to_group(&out, DAHU_GROUP).text;
    assert!(
        answer.contains("老年") && answer.contains("办理时限"),
        "{answer}"
    );
}

#[tokio::test]
async fn a_statement_completing_the_last_question_is_read_in_its_context() {
    let (bot, _dir) = bot();
    let out = bot
        .handle_at(
            &said(DAHU_GROUP, RESIDENT, "m1", "@高龄津贴怎么申请"),
            monday(9, 0),
        )
        .await
        .unwrap();
    assert!(one_to_group(&out, DAHU_GROUP).text.contains("高龄津贴"));
    let out = bot
        .handle_at(&said(DAHU_GROUP, RESIDENT, "m2", "@我爸90了"), monday(9, 1))
        .await
        .unwrap();
    let answer = one_to_group(&out, DAHU_GROUP).text;
    assert!(answer.contains("高龄津贴"), "{answer}");
}

#[tokio::test]
async fn thanks_get_a_short_reply_not_the_help_text() {
    let (bot, _dir) = bot();
    let out = bot
        .handle_at(&said(DAHU_GROUP, RESIDENT, "m1", "@谢谢你"), monday(9, 0))
        .await
        .unwrap();
    let reply = one_to_group(&out, DAHU_GROUP).text;
    assert_eq!(reply, config().replies.thanks);
    let out = bot
        .handle_at(&said(DAHU_GROUP, RESIDENT, "m2", "谢谢大家"), monday(9, 1))
        .await
        .unwrap();
    assert!(out.is_empty(), "{out:?}");
}
