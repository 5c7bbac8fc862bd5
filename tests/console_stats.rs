//! Statistics counters: kept as events happen, in the same transactions as the tickets, they
//! agree with a recount from the tickets and questions and survive a reopened store.

mod helpdesk_common;

use bangban::stats::{self, Filter, Period, Scope};
use bangban::store::Store;
use helpdesk_common::*;

const UNCOVERED: &str = "@村口的路灯坏了好几天了找谁修";

fn report(store: &Store) -> stats::Report {
    let config = config();
    let day = bangban::helpdesk::hours::parse_date("2026-12-07").unwrap();
    let filter = Filter {
        period: Period::of(stats::Span::Month, day),
        scope: Scope::Village("v01".into()),
        item: None,
        sandbox: false,
    };
    stats::report(store, &config.org, &config.catalog, &filter).unwrap()
}

#[tokio::test]
async fn counters_agree_with_a_recount_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let bot = bangban::engine::Engine::new(config(), Store::open(dir.path()).unwrap());
        let script = [
            (DAHU_GROUP, RESIDENT, "m1", UNCOVERED, monday(9, 0)),
            (
                DAHU_GROUP,
                "700002",
                "m2",
                "@低保需要什么材料",
                monday(9, 1),
            ),
            // The same message again: counted once.
            (
                DAHU_GROUP,
                "700002",
                "m2",
                "@低保需要什么材料",
                monday(9, 1),
            ),
            (AGENTS_GROUP, DAHU_AGENT, "a1", "接单 1", monday(9, 10)),
            (AGENTS_GROUP, DAHU_AGENT, "a2", "办结 1", monday(10, 0)),
            (DAHU_GROUP, RESIDENT, "m3", "4", monday(10, 5)),
        ];
        for (chat, sender, id, text, at) in script {
            bot.handle_at(&said(chat, sender, id, text), at)
                .await
                .unwrap();
        }
        bot.store().flush().await.unwrap();
        let r = report(bot.store());
        assert_eq!(r.questions.asked, 2, "{:?}", r.questions);
        assert_eq!(r.questions.escalated_uncovered, 1);
        assert_eq!(r.tickets.resolved, 1);
        // The bad rating opened a follow-up ticket.
        assert_eq!(r.ratings.levels[3].count, 1);
        assert_eq!(r.ratings.follow_ups, 1);
        assert_eq!(r.tickets.opened, 2);
        assert_eq!(r.first_response.median_ms, Some(10 * 60_000));
        assert_eq!(r.resolution.median_ms, Some(60 * 60_000));
        let recount = bot.store().stats().unwrap().recount().unwrap();
        assert!(recount.mismatches.is_empty(), "{:?}", recount.mismatches);
        assert_eq!(recount.tickets, 2);
    }
    // Reopened: the same figures, still equal to a recount.
    let store = Store::open(dir.path()).unwrap();
    let r = report(&store);
    assert_eq!(
        (r.questions.asked, r.tickets.opened, r.ratings.bad),
        (2, 2, 1)
    );
    let recount = store.stats().unwrap().recount().unwrap();
    assert!(recount.mismatches.is_empty(), "{:?}", recount.mismatches);
    assert!(recount.counters > 0);
}

#[tokio::test]
async fn a_changed_offset_rebuilds_the_days_from_the_tickets() {
    let (bot, _dir) = bot();
    bot.handle_at(&said(DAHU_GROUP, RESIDENT, "m1", UNCOVERED), monday(9, 0))
        .await
        .unwrap();
    let s = bot.store().stats().unwrap();
    // 09:00 at UTC+8 is 01:00 UTC, the same day; at UTC-10 it is the day before.
    assert!(s.ensure_offset(-10 * 3600).unwrap());
    assert!(s.recount().unwrap().mismatches.is_empty());
    let day = bangban::helpdesk::hours::parse_date("2026-12-06").unwrap();
    let counts = s.counts(day, day).unwrap();
    assert!(
        counts
            .iter()
            .any(|(b, n)| b.metric == "t.opened" && *n == 1),
        "{counts:?}"
    );
}

mod onebot_common;

/// Gives the admin `bureau` an API token.
fn admin_token(data: &std::path::Path) -> String {
    use bangban::console::auth;
    use bangban::store::users::Credentials;
    let store = Store::open(data).unwrap();
    let token = auth::random_token();
    store
        .set_credentials(
            "bureau",
            &Credentials {
                password: None,
                tokens: vec![auth::digest(&token)],
            },
        )
        .unwrap();
    store.flush_blocking().unwrap();
    token
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_shows_a_sandbox_question_and_its_workbook_matches() {
    let (_dir, data) = onebot_common::data_dir();
    let token = admin_token(&data);
    let service = onebot_common::Service::start(onebot_common::config(), &data).await;
    let addr = service.addr;
    let http = reqwest::Client::new();
    let res = http
        .post(format!("http://{addr}/api/v1/sandbox"))
        .bearer_auth(&token)
        .json(
            &serde_json::json!({"village": "v01", "text": "村里的路灯坏了找谁", "addressed": true}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let said: serde_json::Value = res.json().await.unwrap();
    assert!(said["ticket"].is_u64(), "{said}");
    let get = |path: &str| {
        http.get(format!("http://{addr}{path}"))
            .bearer_auth(&token)
            .send()
    };
    let r: serde_json::Value = get("/api/v1/stats?scope=village:v01&sandbox=1")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["questions"]["asked"], 1, "{r}");
    assert_eq!(r["tickets"]["opened"], 1, "{r}");
    // Without the sandbox, as the ledger: nothing.
    let real: serde_json::Value = get("/api/v1/stats?scope=village:v01")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(real["questions"]["asked"], 0, "{real}");
    let bad = get("/api/v1/stats?scope=village:nowhere").await.unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    let signed_out = http
        .get(format!("http://{addr}/api/v1/stats"))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status().as_u16(), 401);

    let bytes = get("/api/v1/stats.xlsx?scope=village:v01&sandbox=1")
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut strings = String::new();
    std::io::Read::read_to_string(
        &mut zip.by_name("xl/sharedStrings.xml").unwrap(),
        &mut strings,
    )
    .unwrap();
    assert!(
        strings.contains("提问") && strings.contains("新建工单"),
        "{strings}"
    );
    let mut sheet = String::new();
    std::io::Read::read_to_string(
        &mut zip.by_name("xl/worksheets/sheet1.xml").unwrap(),
        &mut sheet,
    )
    .unwrap();
    // Row 4 is 提问: the page's 1.
    assert!(sheet.contains(r#"<c r="B4"><v>1</v></c>"#), "{sheet}");
    service.stop().await;
}
