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

// ---------------------------------------------------------------------------------------------
// The statistics page, over real HTTP against the whole service with a real OneBot resident.

const PASSWORD: &str = "dahu-2026-spring";

/// Gives `users` the test password.
fn passwords(data: &std::path::Path, users: &[&str]) {
    use bangban::console::auth;
    use bangban::store::users::Credentials;
    let store = Store::open(data).unwrap();
    let hash = auth::hash_password(PASSWORD).unwrap();
    for user in users {
        let c = Credentials {
            password: Some(hash.clone()),
            ..store.credentials(user).unwrap_or_default()
        };
        store.set_credentials(user, &c).unwrap();
    }
    store.flush_blocking().unwrap();
}

/// Signs `user` in; the session cookie.
async fn sign_in(addr: std::net::SocketAddr, user: &str) -> String {
    let res = reqwest::Client::new()
        .post(format!("http://{addr}/api/v1/session"))
        .json(&serde_json::json!({"user": user, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200, "{user} signs in");
    res.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

/// A client that shows redirects instead of following them.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// GETs a page with the session cookie: status and body.
async fn page(addr: std::net::SocketAddr, cookie: &str, path: &str) -> (u16, String) {
    let res = no_redirects()
        .get(format!("http://{addr}{path}"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// The text of the element with `id` on a page.
fn figure(html: &str, id: &str) -> String {
    let re = regex::Regex::new(&format!(r#"id="{id}"[^>]*>([^<]*)<"#)).unwrap();
    re.captures(html)
        .unwrap_or_else(|| panic!("no element {id} on the page:\n{html}"))[1]
        .trim()
        .to_owned()
}

/// An attribute's value as a browser reads it.
fn unescape(text: &str) -> String {
    text.replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The scope options a page offers.
fn scope_options(html: &str) -> Vec<String> {
    let select = &html[html
        .find(r#"<select id="scope""#)
        .expect("the scope picker")..];
    let select = &select[..select.find("</select>").unwrap()];
    regex::Regex::new(r#"<option value="([^"]*)""#)
        .unwrap()
        .captures_iter(select)
        .map(|c| c[1].to_owned())
        .collect()
}

/// A resident's (or agent's) plain group message, not addressed to the bot, as NapCat sends it.
fn plain(message_id: u64, group: u64, user: u64, text: &str) -> serde_json::Value {
    let mut event = onebot_common::question(message_id, group, user, text);
    event["message"] = serde_json::json!([{"type": "text", "data": {"text": text}}]);
    event["raw_message"] = serde_json::json!(text);
    event
}

/// Confirms every message the bot sends over `fake`, as NapCat does, until aborted.
fn confirm_sends(mut fake: onebot_common::Fake) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            fake.reply().await;
        }
    })
}

/// Waits until the JSON API, read with `token`, satisfies `done` (the service's own report of
/// its state, read until it says so); the last report.
async fn stats_until(
    addr: std::net::SocketAddr,
    token: &str,
    query: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    onebot_common::within(async {
        loop {
            let r: serde_json::Value = reqwest::Client::new()
                .get(format!("http://{addr}/api/v1/stats?{query}"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if done(&r) {
                return r;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
}

/// Today's local date, and a period of yesterday to tomorrow around it (so a test running at
/// midnight still finds its figures).
fn around_today() -> String {
    let config = config();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let today = config.org.hours.local(now).0;
    format!(
        "from={}&to={}",
        stats::date(today - 1),
        stats::date(today + 1)
    )
}

const OWN_CASE: &str = "我家的低保怎么停了，帮我查一下";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_what_the_api_and_the_ledger_say_about_a_onebot_ticket() {
    let (_dir, data) = onebot_common::data_dir();
    let token = admin_token(&data);
    passwords(&data, &["bureau", "a01"]);
    let service = onebot_common::Service::start(onebot_common::config(), &data).await;
    let addr = service.addr;
    let sends = confirm_sends(service.connect().await);
    let mut events = onebot_common::connect_events_only(addr).await;
    let period = around_today();
    let q = format!("{period}&scope=village:v01");

    // A resident of 大湖村 asks about their own case: a ticket. 大湖村's agent claims it and
    // resolves it in the agents' group, and the resident rates it 1 (非常满意).
    events
        .send(&onebot_common::question(5001, 900001, 700001, OWN_CASE))
        .await;
    let r = stats_until(addr, &token, &q, |r| r["tickets"]["opened"] == 1).await;
    let n = 1;
    assert_eq!(r["questions"]["asked"], 1, "{r}");
    events
        .send(&plain(5002, 900100, 800001, &format!("接单 {n}")))
        .await;
    stats_until(addr, &token, &q, |r| r["tickets"]["responded"] == 1).await;
    events
        .send(&plain(5003, 900100, 800001, &format!("办结 {n}")))
        .await;
    stats_until(addr, &token, &q, |r| r["tickets"]["resolved"] == 1).await;
    events.send(&plain(5004, 900001, 700001, "1")).await;
    let api = stats_until(addr, &token, &q, |r| r["ratings"]["rated"] == 1).await;

    // The admin's page shows the API's figures.
    let admin = sign_in(addr, "bureau").await;
    let (status, html) = page(addr, &admin, &format!("/admin/stats?{q}")).await;
    assert_eq!(status, 200, "{html}");
    for (id, value) in [
        ("questions", &api["questions"]["asked"]),
        ("answered", &api["questions"]["answered"]),
        ("escalated-case", &api["questions"]["escalated_case"]),
        ("tickets", &api["tickets"]["opened"]),
        ("responded", &api["tickets"]["responded"]),
        ("resolved", &api["tickets"]["resolved"]),
        ("rating-good", &api["ratings"]["good"]),
        ("rating-bad", &api["ratings"]["bad"]),
        ("rating-1", &api["ratings"]["levels"][0]["count"]),
        ("stage-rated", &api["tickets"]["by_stage"][5]["count"]),
    ] {
        assert_eq!(figure(&html, id), value.to_string(), "{id}");
    }
    assert_eq!(
        (figure(&html, "questions"), figure(&html, "tickets")),
        ("1".into(), "1".into())
    );
    assert_eq!(figure(&html, "escalated-case"), "1");
    assert_eq!(figure(&html, "rating-good"), "1");
    assert_eq!(
        figure(&html, "first-response-median"),
        api["first_response"]["median"].as_str().unwrap()
    );
    // The charts are inline SVG, not escaped text; the page has no script.
    assert!(
        html.contains(r#"<div class="chart" id="chart-daily"><svg"#),
        "{html}"
    );
    assert!(html.contains(r#"id="chart-ratings"><svg"#));
    assert!(!html.contains("&lt;svg") && !html.contains("<script"));
    // The export link asks for the same figures.
    let export = regex::Regex::new(r#"id="export" href="([^"]+)""#).unwrap();
    let href = unescape(&export.captures(&html).unwrap()[1]);
    assert!(href.starts_with("/api/v1/stats.xlsx?"), "{href}");
    let bytes = reqwest::Client::new()
        .get(format!("http://{addr}{href}"))
        .header("cookie", &admin)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let cells = helpdesk_common::xlsx::cells(&bytes);
    let row = |label: &str| {
        cells
            .iter()
            .find(|r| r.first().map(String::as_str) == Some(label))
            .unwrap_or_else(|| panic!("no row {label}: {cells:?}"))[1]
            .clone()
    };
    assert_eq!(row("提问"), figure(&html, "questions"));
    assert_eq!(row("新建工单"), figure(&html, "tickets"));
    assert_eq!(row("好评"), figure(&html, "rating-good"));

    // The ledger has the same ticket, rated.
    let ledger: serde_json::Value = reqwest::Client::new()
        .get(format!("http://{addr}/api/tickets?{period}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rows = ledger.as_array().unwrap_or_else(|| panic!("{ledger}"));
    assert_eq!(rows.len().to_string(), figure(&html, "tickets"), "{ledger}");
    assert_eq!(rows[0]["village"], "大湖村");
    assert_eq!(rows[0]["rating"], "非常满意", "{ledger}");

    // 大湖村's agent sees the same figures for their village.
    let agent = sign_in(addr, "a01").await;
    let (status, mine) = page(addr, &agent, &format!("/admin/stats?{period}")).await;
    assert_eq!(status, 200, "{mine}");
    assert_eq!(figure(&mine, "questions"), "1");
    assert_eq!(figure(&mine, "rating-1"), "1");

    sends.abort();
    drop(events);
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_see_only_their_scopes_and_signed_out_goes_to_the_sign_in_page() {
    let (_dir, data) = onebot_common::data_dir();
    passwords(&data, &["bureau", "a01", "miaoling"]);
    let service = onebot_common::Service::start(onebot_common::config(), &data).await;
    let addr = service.addr;

    // Signed out: to the sign-in page.
    let res = no_redirects()
        .get(format!("http://{addr}/admin/stats"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(res.headers()["location"], "/login");

    // 大湖村's agent: their village only.
    let a01 = sign_in(addr, "a01").await;
    let (status, html) = page(addr, &a01, "/admin/stats").await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(scope_options(&html), ["village:v01"]);
    assert!(html.contains("<h1>统计</h1>"));
    for outside in ["all", "township:miaoling", "village:v02"] {
        let (status, html) = page(addr, &a01, &format!("/admin/stats?scope={outside}")).await;
        assert_eq!(status, 403, "{outside}: {html}");
        assert!(html.contains("没有查看这个范围统计的权限"), "{html}");
        assert!(!html.contains(r#"id="questions""#), "no figures: {html}");
    }
    // The API refuses the same.
    let res = reqwest::Client::new()
        .get(format!("http://{addr}/api/v1/stats?scope=all"))
        .header("cookie", &a01)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);

    // 庙岭镇's centre: the township and its villages, not another township nor the district.
    let miaoling = sign_in(addr, "miaoling").await;
    let (status, html) = page(addr, &miaoling, "/admin/stats?scope=township:miaoling").await;
    assert_eq!(status, 200, "{html}");
    let scopes = scope_options(&html);
    assert_eq!(scopes[0], "township:miaoling");
    assert!(scopes.contains(&"village:v01".to_owned()));
    assert!(
        !scopes.contains(&"all".to_owned()) && !scopes.contains(&"township:linjiang".to_owned())
    );
    assert_eq!(figure(&html, "questions"), "0");
    let (status, _) = page(addr, &miaoling, "/admin/stats?scope=township:linjiang").await;
    assert_eq!(status, 403);

    // The admin: everything; a bad date is said in Chinese.
    let admin = sign_in(addr, "bureau").await;
    let (status, html) = page(addr, &admin, "/admin/stats?scope=all").await;
    assert_eq!(status, 200);
    assert_eq!(scope_options(&html)[0], "all");
    assert!(html.contains(r#"id="this-week""#) && html.contains(r#"id="last-month""#));
    let (status, html) = page(addr, &admin, "/admin/stats?from=2026-13-01").await;
    assert_eq!(status, 400);
    assert!(html.contains("开始日期“2026-13-01”不对"), "{html}");
    service.stop().await;
}
