//! The agents' desk over real HTTP on loopback, against the whole service with real sled files:
//! the JSON API under `/api/v1/tickets` keeps the chat commands' rules (another township's agent
//! is refused, a ticket transferred away cannot be claimed back, one request id acts once), its
//! filters and the ledger export return exactly the same tickets, and a reply from the web to a
//! OneBot resident goes through the running service's outbox to their group at once, quoting
//! them.

mod onebot_common;

use bangban::console::auth;
use bangban::store::Store;
use bangban::store::users::Credentials;
use onebot_common::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;

const PASSWORD: &str = "dahu-2026-spring";
/// 大湖村's agent (v01, 庙岭镇).
const DAHU: &str = "a01";
/// 庙岭镇's centre agent, and 临江乡's.
const MIAOLING: &str = "miaoling";
const LINJIANG: &str = "linjiang";
const ADMIN: &str = "bureau";

/// Gives the users the test password; `a01` also gets an API token (returned).
fn credentials(data: &Path) -> String {
    let store = Store::open(data).unwrap();
    let hash = auth::hash_password(PASSWORD).unwrap();
    let token = auth::random_token();
    for user in [DAHU, MIAOLING, LINJIANG, ADMIN] {
        let tokens = if user == DAHU {
            vec![auth::digest(&token)]
        } else {
            Vec::new()
        };
        let c = Credentials {
            password: Some(hash.clone()),
            tokens,
        };
        store.set_credentials(user, &c).unwrap();
    }
    store.flush_blocking().unwrap();
    token
}

/// A client signed in by session (cookie and CSRF token) or by API token.
struct Client {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
    csrf: Option<String>,
    bearer: Option<String>,
}

impl Client {
    async fn sign_in(addr: SocketAddr, user: &str) -> Client {
        let http = reqwest::Client::new();
        let base = format!("http://{addr}");
        let res = http
            .post(format!("{base}/api/v1/session"))
            .json(&json!({"user": user, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200, "{user} signs in");
        let cookie = res
            .headers()
            .get("set-cookie")
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
        let body: Value = res.json().await.unwrap();
        Client {
            http,
            base,
            cookie,
            csrf: body["csrf"].as_str().map(str::to_owned),
            bearer: None,
        }
    }

    fn token(addr: SocketAddr, token: &str) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: format!("http://{addr}"),
            cookie: None,
            csrf: None,
            bearer: Some(token.to_owned()),
        }
    }

    async fn raw(&self, method: &str, path: &str, body: Option<Value>) -> reqwest::Response {
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        if let Some(t) = &self.csrf {
            req = req.header("x-csrf-token", t);
        }
        if let Some(b) = &self.bearer {
            req = req.bearer_auth(b);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap()
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let res = self.raw(method, path, body).await;
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, None).await
    }

    async fn act(&self, n: u64, action: &str, body: Value) -> (u16, Value) {
        self.call("POST", &format!("/api/v1/tickets/{n}/{action}"), Some(body))
            .await
    }
}

/// Asks in `village`'s sandbox group as the admin; the sandbox ticket opened.
async fn sandbox_ticket(admin: &Client, village: &str, text: &str) -> u64 {
    let (status, ex) = admin
        .call(
            "POST",
            "/api/v1/sandbox",
            Some(json!({"village": village, "text": text, "addressed": true})),
        )
        .await;
    assert_eq!(status, 200, "{ex}");
    ex["ticket"]
        .as_u64()
        .unwrap_or_else(|| panic!("a ticket for {text}: {ex}"))
}

fn ids(list: &Value) -> BTreeSet<u64> {
    list["tickets"]
        .as_array()
        .unwrap_or_else(|| panic!("a list: {list}"))
        .iter()
        .map(|t| t["id"].as_u64().unwrap())
        .collect()
}

const CASE: &str = "我家的低保怎么停了，帮我查一下";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chat_commands_rules_hold_on_the_web() {
    let (_dir, data) = data_dir();
    let token = credentials(&data);
    let service = Service::start(config(), &data).await;
    let addr = service.addr;
    let admin = Client::sign_in(addr, ADMIN).await;
    let n = sandbox_ticket(&admin, "v01", CASE).await;

    // 临江乡's agent: not theirs to read, claim or see listed.
    let linjiang = Client::sign_in(addr, LINJIANG).await;
    let (status, body) = linjiang.get(&format!("/api/v1/tickets/{n}")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("not_yours")),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("不归您负责")
    );
    let (status, body) = linjiang.act(n, "claim", json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("not_yours")),
        "{body}"
    );
    let (_, list) = linjiang.get("/api/v1/tickets?view=all").await;
    assert!(!ids(&list).contains(&n), "{list}");

    // Signed out, or a session without its CSRF token: refused, nothing done.
    let (status, _) = Client::token(addr, "wrong")
        .act(n, "claim", json!({}))
        .await;
    assert_eq!(status, 401);
    let mut forged = Client::sign_in(addr, DAHU).await;
    forged.csrf = None;
    let (status, body) = forged.act(n, "claim", json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("bad_csrf"))
    );

    // 大湖村's agent, by API token: waits for them, claims it (once per request id).
    let dahu = Client::token(addr, &token);
    let (_, mine) = dahu.get("/api/v1/tickets").await;
    assert!(ids(&mine).contains(&n), "{mine}");
    for _ in 0..2 {
        let (status, body) = dahu.act(n, "claim", json!({"request_id": "c-1"})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["message"], format!("已接单：工单{n}。"));
        assert_eq!(body["ticket"]["stage"], "claimed");
    }
    let (_, t) = dahu.get(&format!("/api/v1/tickets/{n}")).await;
    let claims = t["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["change"] == "claimed")
        .count();
    assert_eq!(claims, 1, "the same request id twice claims once: {t}");

    // A reply with an ID number is refused for a group, as in chat.
    let (status, body) = dahu
        .act(
            n,
            "reply",
            json!({"text": "请把身份证号 420102198001011234 发我"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("personal_numbers")),
        "{body}"
    );

    // Transferred to the township centre: 大湖村's agent may not claim it back.
    let (status, body) = dahu.act(n, "transfer", json!({"to": "庙岭镇"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ticket"]["stage"], "transferred");
    let (status, body) = dahu.act(n, "claim", json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("transferred_away")),
        "{body}"
    );
    let (status, body) = dahu.act(n, "resolve", json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("transferred_away"))
    );
    let (status, body) = dahu.act(n, "transfer", json!({"to": "火星"})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("unknown_target"))
    );
    let (_, t) = dahu.get(&format!("/api/v1/tickets/{n}")).await;
    assert_eq!(t["stage"], "transferred", "nothing changed: {t}");
    let before = t["events"].as_array().unwrap().len();

    // The township centre claims and resolves it; then it is closed for everyone.
    let miaoling = Client::sign_in(addr, MIAOLING).await;
    let (_, mine) = miaoling.get("/api/v1/tickets").await;
    assert!(
        ids(&mine).contains(&n),
        "it waits for the township centre: {mine}"
    );
    let (status, body) = miaoling.act(n, "claim", json!({})).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = miaoling.act(n, "resolve", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], format!("工单{n}已办结，已请居民评价。"));
    let (status, body) = miaoling.act(n, "reply", json!({"text": "还有事吗"})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("closed"))
    );
    let (_, t) = miaoling.get(&format!("/api/v1/tickets/{n}")).await;
    let events = t["events"].as_array().unwrap();
    assert_eq!(events.len(), before + 2, "{t}");
    assert_eq!(
        events.last().unwrap()["by"],
        "庙岭镇便民服务中心帮办专员（示例）"
    );

    // Every web action is audited.
    let (_, audit) = admin.get("/api/v1/audit").await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .filter(|a| a.starts_with("ticket."))
        .collect();
    assert_eq!(
        actions,
        [
            "ticket.resolved",
            "ticket.claimed",
            "ticket.transferred",
            "ticket.claimed"
        ]
    );
    service.stop().await;
}

/// The ids in a ledger CSV's first column.
fn csv_ids(bytes: &[u8]) -> BTreeSet<u64> {
    let text = std::str::from_utf8(bytes)
        .unwrap()
        .trim_start_matches('\u{feff}');
    let mut r = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(&r.headers().unwrap()[0], "工单号");
    r.records()
        .map(|rec| rec.unwrap()[0].parse().unwrap())
        .collect()
}

/// The ids in a ledger XLSX's first column.
fn xlsx_ids(bytes: Vec<u8>) -> BTreeSet<u64> {
    use calamine::{Data, Reader, Xlsx};
    let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
    let range = book.worksheet_range("帮代办服务台账").unwrap();
    range
        .rows()
        .skip(1)
        .map(|row| match &row[0] {
            Data::Float(f) => *f as u64,
            other => panic!("a number: {other:?}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_and_the_export_show_exactly_the_same_tickets() {
    let (_dir, data) = data_dir();
    credentials(&data);
    let service = Service::start(config(), &data).await;
    let addr = service.addr;
    let admin = Client::sign_in(addr, ADMIN).await;
    let a = sandbox_ticket(&admin, "v01", CASE).await;
    let b = sandbox_ticket(&admin, "v01", "村里的路灯坏了找谁修").await;
    let c = sandbox_ticket(&admin, "v02", CASE).await;
    let d = sandbox_ticket(&admin, "v17", CASE).await;
    let dahu = Client::sign_in(addr, DAHU).await;
    let (status, body) = dahu.act(b, "resolve", json!({})).await;
    assert_eq!(status, 200, "{body}");

    let miaoling = Client::sign_in(addr, MIAOLING).await;
    let list = |q: &'static str| {
        let m = &miaoling;
        async move {
            let (status, body) = m.get(&format!("/api/v1/tickets?{q}")).await;
            assert_eq!(status, 200, "{q}: {body}");
            ids(&body)
        }
    };
    let set = |v: &[u64]| v.iter().copied().collect::<BTreeSet<u64>>();
    // The township's open tickets; 临江乡's (v17) is not theirs.
    assert_eq!(list("view=all").await, set(&[a, c]));
    assert_eq!(list("view=all&stage=all").await, set(&[a, b, c]));
    assert_eq!(list("view=all&stage=resolved").await, set(&[b]));
    assert_eq!(list("view=all&stage=all&village=v01").await, set(&[a, b]));
    assert_eq!(list("view=all&village=v02").await, set(&[c]));
    // By item: the tickets the understanding put on the same item as `a`.
    let (_, ta) = miaoling.get(&format!("/api/v1/tickets/{a}")).await;
    let (_, tc) = miaoling.get(&format!("/api/v1/tickets/{c}")).await;
    let (_, tb) = miaoling.get(&format!("/api/v1/tickets/{b}")).await;
    let (_, all) = admin.get("/api/v1/tickets?view=all&stage=all").await;
    assert_eq!(ids(&all), set(&[a, b, c, d]), "admins see everything");
    // Dates: opened today (local date of the office), nothing before.
    let today = ta["created_at"].as_str().unwrap()[..10].to_owned();
    let (_, on) = miaoling
        .get(&format!(
            "/api/v1/tickets?view=all&stage=all&from={today}&to={today}"
        ))
        .await;
    assert_eq!(ids(&on), set(&[a, b, c]));
    let (_, before) = miaoling
        .get("/api/v1/tickets?view=all&stage=all&to=2020-01-01")
        .await;
    assert!(ids(&before).is_empty(), "{before}");
    // Bad filters are named, in Chinese.
    let (status, body) = miaoling.get("/api/v1/tickets?from=2026-13-01").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("invalid_filter"))
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("YYYY-MM-DD"),
        "{body}"
    );
    let (status, _) = miaoling.get("/api/v1/tickets?stage=done").await;
    assert_eq!(status, 422);

    // The export is exactly what the same filter lists, in both formats.
    let item = ta["item_id"].as_str().map(str::to_owned);
    for q in [
        "view=all".to_owned(),
        "view=all&stage=all&village=v01".to_owned(),
        "view=all&stage=resolved".to_owned(),
        format!("view=all&stage=all&from={today}"),
    ] {
        let (_, listed) = miaoling.get(&format!("/api/v1/tickets?{q}")).await;
        let res = miaoling
            .raw(
                "GET",
                &format!("/api/v1/tickets/export?{q}&format=csv"),
                None,
            )
            .await;
        assert_eq!(res.status().as_u16(), 200);
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv")
        );
        let csv = res.bytes().await.unwrap();
        assert_eq!(csv_ids(&csv), ids(&listed), "{q}");
        let res = miaoling
            .raw(
                "GET",
                &format!("/api/v1/tickets/export?{q}&format=xlsx"),
                None,
            )
            .await;
        assert_eq!(res.status().as_u16(), 200);
        assert_eq!(
            xlsx_ids(res.bytes().await.unwrap().to_vec()),
            ids(&listed),
            "{q}"
        );
    }
    if let Some(item) = item {
        let (_, by_item) = miaoling
            .get(&format!("/api/v1/tickets?view=all&stage=all&item={item}"))
            .await;
        let expected: BTreeSet<u64> = [(&ta, a), (&tb, b), (&tc, c)]
            .into_iter()
            .filter(|(t, _)| t["item_id"].as_str() == Some(&item))
            .map(|(_, n)| n)
            .collect();
        assert_eq!(ids(&by_item), expected);
        assert!(expected.contains(&a));
    }
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_reply_to_a_onebot_resident_reaches_their_group_at_once_quoting_them() {
    let (_dir, data) = data_dir();
    let token = credentials(&data);
    let service = Service::start(config(), &data).await;
    let mut fake = service.connect().await;
    fake.send(&question(4242, 900001, 700001, CASE)).await;
    // The resident is told a ticket was opened (quoting their message).
    fake.replies_until("4242").await;
    let dahu = Client::token(service.addr, &token);
    let (_, mine) = dahu.get("/api/v1/tickets").await;
    let n = *ids(&mine).iter().next().expect("the resident's ticket");
    let (status, body) = dahu
        .act(n, "reply", json!({"text": "低保的事我下午去您家里看看"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], format!("已转达给居民（工单{n}）。"));
    // It is in the outbox by then, and the running worker sends it to the resident's group.
    let replies = fake.replies_until("4242").await;
    let reply = replies.last().unwrap();
    assert_eq!(reply.group, "900001");
    assert_eq!(reply.at.as_deref(), Some("700001"));
    assert!(
        reply.text.contains("低保的事我下午去您家里看看"),
        "{reply:?}"
    );
    service.stop().await;
}
