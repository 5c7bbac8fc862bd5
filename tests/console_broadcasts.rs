//! Broadcasts (群发通知) in the console over real HTTP on loopback, against the whole service
//! with real sled files: the preview lists exactly the groups of the choice (and the villages
//! it cannot reach) with the estimate under the pacing limits; only admins may use it; a
//! broadcast confirmed now reaches each group once through a fake OneBot implementation and its
//! page shows the delivery per group; a scheduled one can be cancelled and a released one not;
//! bad input is refused in Chinese; every write is in the audit log.

mod onebot_common;

use bangban::config::Config;
use bangban::config::org::Id;
use bangban::console::auth;
use bangban::server::{Secrets, serve};
use bangban::store::Store;
use bangban::store::users::Credentials;
use onebot_common::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const PASSWORD: &str = "qunfa-2026-winter";
const ADMIN: &str = "bureau";
/// 大湖村's agent.
const AGENT: &str = "a01";
const NOTICE: &str =
    "【通知】请城乡居民养老保险待遇领取人员在6月30日前完成资格认证，可在手机上办理。";

fn credentials(data: &Path) {
    let store = Store::open(data).unwrap();
    let hash = auth::hash_password(PASSWORD).unwrap();
    for user in [ADMIN, AGENT] {
        let c = Credentials {
            password: Some(hash.clone()),
            tokens: Vec::new(),
        };
        store.set_credentials(user, &c).unwrap();
    }
    store.flush_blocking().unwrap();
}

/// A client signed in by session: cookie and CSRF token. Redirects are not followed.
struct Client {
    http: reqwest::Client,
    base: String,
    cookie: String,
    csrf: Option<String>,
}

impl Client {
    async fn sign_in(addr: SocketAddr, user: &str) -> Client {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let base = format!("http://{addr}");
        let res = http
            .post(format!("{base}/api/v1/session"))
            .json(&json!({"user": user, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200, "{user} signs in");
        let cookie = res.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let body: Value = res.json().await.unwrap();
        Client {
            http,
            base,
            cookie,
            csrf: body["csrf"].as_str().map(str::to_owned),
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .header("cookie", &self.cookie);
        if let Some(t) = &self.csrf {
            req = req.header("x-csrf-token", t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
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

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call("POST", path, Some(body)).await
    }

    /// A page: status, `Location` and the HTML.
    async fn page(&self, path: &str, form: Option<&[(&str, &str)]>) -> (u16, String, String) {
        let url = format!("{}{path}", self.base);
        let req = match form {
            None => self.http.get(url),
            Some(f) => {
                let mut f: Vec<(&str, &str)> = f.to_vec();
                if let Some(csrf) = &self.csrf {
                    f.push(("csrf", csrf));
                }
                let body: Vec<String> = f
                    .iter()
                    .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                    .collect();
                self.http
                    .post(url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body.join("&"))
            }
        };
        let res = req.header("cookie", &self.cookie).send().await.unwrap();
        let status = res.status().as_u16();
        let location = res
            .headers()
            .get("location")
            .map_or(String::new(), |v| v.to_str().unwrap().to_owned());
        (status, location, res.text().await.unwrap())
    }
}

/// Percent-encodes a form value.
fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The service on a loopback port, with the QQ official bot switched on (never reached).
struct Running {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    async fn start(config: Config, data: &Path) -> Running {
        let store = Store::open(data).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut secrets: Secrets = onebot_common::secrets();
        if config.service.qqbot.enabled {
            secrets
                .platforms
                .insert("BANGBAN_QQBOT_SECRET".into(), "test-secret-qq".into());
        }
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(Arc::new(config), store, secrets, listener, async {
            let _ = stopped.await;
        }));
        Running { addr, stop, task }
    }

    async fn stop(mut self) {
        let _ = self.stop.send(());
        within(&mut self.task).await.unwrap().unwrap();
    }
}

/// The shipped organisation with a few villages changed: 庙岭镇示例村02 only in a WeCom group
/// (WeCom is off), 示例村03 in no group, 示例村04 also on the QQ official bot.
fn varied(mut config: Config) -> Config {
    for v in &mut config.org.villages {
        match v.id.as_str() {
            "v02" => {
                v.groups.onebot.clear();
                v.groups.wecom = vec![Id("wx-v02".into())];
            }
            "v03" => v.groups.onebot.clear(),
            "v04" => v.groups.qqbot = vec![Id("qq-v04".into())],
            _ => {}
        }
    }
    let q = &mut config.service.qqbot;
    q.enabled = true;
    q.app_id = "102000001".into();
    q.api_base = Some("http://127.0.0.1:9".into());
    q.token_url = Some("http://127.0.0.1:9/token".into());
    config.service.pacing.enabled = true;
    config
}

fn groups(preview: &Value) -> BTreeSet<(String, String)> {
    preview["targets"]
        .as_array()
        .unwrap_or_else(|| panic!("targets: {preview}"))
        .iter()
        .map(|t| {
            (
                t["platform"].as_str().unwrap().to_owned(),
                t["chat"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn unreachable(preview: &Value) -> Vec<(String, String)> {
    preview["unreachable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["village"].as_str().unwrap().to_owned(),
                u["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Seconds the account's bucket (burst 5, one token kept, 40 a minute) takes for `n` sends.
fn account_secs(n: u64) -> u64 {
    (n.saturating_sub(4) * 3).div_ceil(2)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_preview_lists_the_chosen_groups_with_the_estimate_and_only_admins_may_broadcast() {
    let (_dir, data) = data_dir();
    credentials(&data);
    let config = varied(config());
    let org = config.org.clone();
    let service = Running::start(config, &data).await;
    let admin = Client::sign_in(service.addr, ADMIN).await;

    // 庙岭镇 on QQ: its villages' OneBot groups; 02 and 03 have none.
    let (status, body) = admin
        .post(
            "/api/v1/broadcasts",
            json!({"text": NOTICE, "township": "miaoling", "platform": "onebot"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let preview = &body["preview"];
    let expected: BTreeSet<(String, String)> = org
        .villages
        .iter()
        .filter(|v| v.township == "miaoling")
        .flat_map(|v| v.groups.onebot.iter())
        .map(|g| ("onebot".to_owned(), g.0.clone()))
        .collect();
    assert!(expected.len() > 5 && !expected.contains(&("onebot".into(), "900002".into())));
    assert_eq!(groups(preview), expected);
    assert_eq!(preview["scope"], "庙岭镇 · QQ");
    assert_eq!(
        unreachable(preview),
        [
            ("v02".to_owned(), "没有QQ群".to_owned()),
            ("v03".to_owned(), "没有QQ群".to_owned())
        ]
    );
    let n = expected.len() as u64;
    assert_eq!(preview["estimate"]["secs"], account_secs(n), "{preview}");
    assert_eq!(preview["estimate"]["parts"], 1);
    let draft = &body["broadcast"];
    assert_eq!(draft["state"], "draft");
    assert_eq!(draft["groups"], n);
    assert_eq!(draft["counts"]["not_released"], n);

    // Every platform: 04's QQ bot group too, with the notice that it waits for a message; 02's
    // WeCom group is named as switched off.
    let (status, body) = admin
        .post(
            "/api/v1/broadcasts",
            json!({"text": NOTICE, "township": "miaoling"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let preview = &body["preview"];
    let mut with_qq = expected.clone();
    with_qq.insert(("qqbot".into(), "qq-v04".into()));
    assert_eq!(groups(preview), with_qq);
    assert_eq!(preview["scope"], "庙岭镇 · 全部平台");
    assert_eq!(
        unreachable(preview),
        [
            ("v02".to_owned(), "企业微信没有启用".to_owned()),
            ("v03".to_owned(), "没有登记群".to_owned())
        ]
    );
    let notes = preview["notes"].to_string();
    assert!(notes.contains("QQ官方机器人不能主动发群消息"), "{notes}");
    let platforms = preview["estimate"]["platforms"].as_array().unwrap();
    assert_eq!(platforms.len(), 2);
    assert_eq!(platforms[1]["platform"], "qqbot");
    assert_eq!(platforms[1]["on_next_message"], true);

    // All 76 villages on QQ: 74 groups, about 2 minutes at the default pace.
    let long = format!("{NOTICE}\n{}", "请带好身份证和社保卡。".repeat(90));
    let (status, body) = admin
        .post(
            "/api/v1/broadcasts",
            json!({"text": long, "platform": "onebot"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let preview = &body["preview"];
    assert_eq!(preview["targets"].as_array().unwrap().len(), 74);
    assert_eq!(preview["scope"], "全部村 · QQ");
    assert_eq!(preview["estimate"]["parts"], 2, "over 800 characters");
    assert_eq!(preview["estimate"]["messages"], 148);
    assert_eq!(preview["estimate"]["secs"], account_secs(148));
    assert_eq!(preview["estimate"]["label"], "约4分钟");

    // The pages: the preview step shows the groups and stores nothing; saving makes a draft.
    let (_, list) = admin.get("/api/v1/broadcasts").await;
    let before = list["broadcasts"].as_array().unwrap().len();
    assert_eq!(before, 3);
    let form = [
        ("text", NOTICE),
        ("area", "villages"),
        ("villages", "v01"),
        ("villages", "v05"),
        ("platform", ""),
    ];
    let mut preview_form = form.to_vec();
    preview_form.push(("step", "preview"));
    let (status, _, html) = admin.page("/admin/broadcasts", Some(&preview_form)).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("大湖村、庙岭镇示例村05（待填） · 全部平台"),
        "{html}"
    );
    assert!(html.contains("QQ群900001") && html.contains("QQ群900005"));
    assert!(html.contains("不到1分钟"));
    let (_, list) = admin.get("/api/v1/broadcasts").await;
    assert_eq!(list["broadcasts"].as_array().unwrap().len(), before);
    let mut save_form = form.to_vec();
    save_form.push(("step", "save"));
    let (status, location, _) = admin.page("/admin/broadcasts", Some(&save_form)).await;
    assert_eq!(status, 303);
    let id: u64 = location
        .strip_prefix("/admin/broadcasts/")
        .unwrap()
        .parse()
        .unwrap();
    let (status, _, html) = admin.page(&location, None).await;
    assert_eq!(status, 200);
    assert!(html.contains("草稿") && html.contains("确认，立即发送") && html.contains(NOTICE));
    let (_, list) = admin.get("/api/v1/broadcasts").await;
    assert_eq!(list["broadcasts"][0]["id"], id, "newest first");
    let (status, _, html) = admin.page("/admin/broadcasts", None).await;
    assert_eq!(status, 200);
    assert!(html.contains(&format!("/admin/broadcasts/{id}")));

    // An agent: refused on every page and call, in Chinese.
    let agent = Client::sign_in(service.addr, AGENT).await;
    let (status, body) = agent.get("/api/v1/broadcasts").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    let (status, body) = agent
        .post("/api/v1/broadcasts", json!({"text": NOTICE}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    let (status, _) = agent
        .post(&format!("/api/v1/broadcasts/{id}/confirm"), json!({}))
        .await;
    assert_eq!(status, 403);
    let (status, _, html) = agent.page("/admin/broadcasts", None).await;
    assert_eq!(status, 403);
    assert!(html.contains("只对管理员开放"), "{html}");
    let (status, _, _) = agent.page(&format!("/admin/broadcasts/{id}"), None).await;
    assert_eq!(status, 403);
    let (status, _, _) = agent
        .page(&format!("/admin/broadcasts/{id}/cancel"), Some(&[]))
        .await;
    assert_eq!(status, 403);
    let (_, one) = admin.get(&format!("/api/v1/broadcasts/{id}")).await;
    assert_eq!(
        one["broadcast"]["state"], "draft",
        "the agent changed nothing"
    );
    // Signed out: to the sign-in page.
    let (status, location, _) = Client {
        cookie: "bangban_session=none".into(),
        ..agent
    }
    .page("/admin/broadcasts", None)
    .await;
    assert_eq!((status, location.as_str()), (303, "/login"));

    // Every draft is in the audit log, without the whole text.
    let (_, audit) = admin.get("/api/v1/audit").await;
    let creates: Vec<&Value> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "broadcast.create")
        .collect();
    assert_eq!(creates.len(), 4);
    assert_eq!(creates[0]["target"], id.to_string());
    assert_eq!(creates[0]["who"], ADMIN);
    let detail = creates[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("2个群") && detail.contains("【通知】请城乡居民"),
        "{detail}"
    );
    assert!(
        !detail.contains("可在手机上办理"),
        "only the start of the text: {detail}"
    );
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_in_chinese_and_nothing_is_stored() {
    let (_dir, data) = data_dir();
    credentials(&data);
    let service = Running::start(config(), &data).await;
    let admin = Client::sign_in(service.addr, ADMIN).await;
    let cases = [
        (json!({"text": "  "}), "empty_text", "请写通知内容"),
        (
            json!({"text": "字".repeat(2001)}),
            "text_too_long",
            "最多 2000 个字",
        ),
        (
            json!({"text": NOTICE, "villages": []}),
            "no_groups",
            "没有选中任何村",
        ),
        (
            json!({"text": NOTICE, "villages": ["v99"]}),
            "unknown_village",
            "没有“v99”这个村",
        ),
        (
            json!({"text": NOTICE, "township": "mars"}),
            "unknown_township",
            "没有“mars”这个乡镇",
        ),
        (
            json!({"text": NOTICE, "platform": "sandbox"}),
            "bad_platform",
            "体验群不能群发",
        ),
        (
            json!({"text": NOTICE, "platform": "wecom"}),
            "no_groups",
            "都没有可以发送的群",
        ),
        (
            json!({"text": NOTICE, "township": "miaoling", "villages": ["v01"]}),
            "bad_scope",
            "只能写一个",
        ),
    ];
    for (body, code, message) in cases {
        let (status, res) = admin.post("/api/v1/broadcasts", body.clone()).await;
        assert_eq!(
            (status, res["error"]["code"].as_str()),
            (422, Some(code)),
            "{body}: {res}"
        );
        let m = res["error"]["message"].as_str().unwrap();
        assert!(m.contains(message), "{body}: {m}");
    }
    // A page with the same mistake says it on the form, keeping what was written.
    let (status, _, html) = admin
        .page(
            "/admin/broadcasts",
            Some(&[("text", NOTICE), ("area", "villages"), ("step", "preview")]),
        )
        .await;
    assert_eq!(status, 422);
    assert!(html.contains("没有选中任何村") && html.contains(NOTICE));
    let (status, _, html) = admin
        .page(
            "/admin/broadcasts",
            Some(&[("text", ""), ("area", "all"), ("step", "save")]),
        )
        .await;
    assert_eq!(status, 422);
    assert!(html.contains("请写通知内容"));
    // Without the CSRF token: refused.
    let forged = Client {
        csrf: None,
        ..Client::sign_in(service.addr, ADMIN).await
    };
    let (status, res) = forged
        .post("/api/v1/broadcasts", json!({"text": NOTICE}))
        .await;
    assert_eq!(
        (status, res["error"]["code"].as_str()),
        (403, Some("bad_csrf"))
    );
    let (status, _, _) = forged
        .page(
            "/admin/broadcasts",
            Some(&[("text", NOTICE), ("step", "save")]),
        )
        .await;
    assert_eq!(status, 403);
    let (_, list) = admin.get("/api/v1/broadcasts").await;
    assert_eq!(list["broadcasts"], json!([]), "nothing was stored");

    // Confirming: a time in the past, or one that is not a time, is refused; nothing changes.
    let (status, body) = admin
        .post(
            "/api/v1/broadcasts",
            json!({"text": NOTICE, "villages": ["v01"]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["broadcast"]["id"].as_u64().unwrap();
    for (at, code, message) in [
        (
            "2020-01-01 09:00",
            "past_time",
            "2020-01-01 09:00 已经过去了",
        ),
        ("明天早上", "bad_time", "2026-06-01 09:00 这样"),
        ("2026-02-30 09:00", "bad_time", "看不懂时间"),
    ] {
        let (status, res) = admin
            .post(
                &format!("/api/v1/broadcasts/{id}/confirm"),
                json!({ "at": at }),
            )
            .await;
        assert_eq!(
            (status, res["error"]["code"].as_str()),
            (422, Some(code)),
            "{at}: {res}"
        );
        assert!(
            res["error"]["message"].as_str().unwrap().contains(message),
            "{res}"
        );
    }
    let (status, res) = admin
        .post("/api/v1/broadcasts/999999/confirm", json!({}))
        .await;
    assert_eq!(
        (status, res["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (_, one) = admin.get(&format!("/api/v1/broadcasts/{id}")).await;
    assert_eq!(one["broadcast"]["state"], "draft");
    let (status, _, html) = admin
        .page(
            &format!("/admin/broadcasts/{id}/confirm"),
            Some(&[("when", "at"), ("at", "2020-01-01 09:00")]),
        )
        .await;
    assert_eq!(status, 422);
    assert!(html.contains("已经过去了"), "{html}");
    let (_, audit) = admin.get("/api/v1/audit").await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .filter(|a| a.starts_with("broadcast."))
        .collect();
    assert_eq!(actions, ["broadcast.create"], "refusals write nothing");
    service.stop().await;
}

/// Reads the broadcast until `done` says it is as expected (the service's own report).
async fn wait_for(admin: &Client, id: u64, done: impl Fn(&Value) -> bool) -> Value {
    within(async {
        loop {
            let (_, body) = admin.get(&format!("/api/v1/broadcasts/{id}")).await;
            if done(&body["broadcast"]) {
                return body["broadcast"].clone();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmed_now_it_reaches_each_group_once_and_its_page_shows_each_group() {
    let (_dir, data) = data_dir();
    credentials(&data);
    let service = Service::start(config(), &data).await;
    let mut fake = service.connect().await;
    service.wait_metric(&connection_up(), 1).await;
    let admin = Client::sign_in(service.addr, ADMIN).await;
    let (status, body) = admin
        .post(
            "/api/v1/broadcasts",
            json!({"text": NOTICE, "villages": ["v01", "v02", "v03"], "platform": "onebot"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["broadcast"]["id"].as_u64().unwrap();
    let (status, body) = admin
        .post(&format!("/api/v1/broadcasts/{id}/confirm"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], format!("已确认，群发{id}开始发送。"));
    assert_eq!(
        body["broadcast"]["confirmed_by"],
        "区行政审批局管理员（示例）"
    );

    // The first group's send is asked for and not yet answered: the page shows it queued and
    // reloads itself.
    let first = fake.request().await;
    assert_eq!(first.action, "send_group_msg");
    let b = wait_for(&admin, id, |b| b["state"] == "released").await;
    assert!(b["counts"]["queued"].as_u64().unwrap() >= 1, "{b}");
    let (status, _, html) = admin.page(&format!("/admin/broadcasts/{id}"), None).await;
    assert_eq!(status, 200);
    assert!(html.contains("http-equiv=\"refresh\""), "{html}");
    assert!(html.contains("排队中") && html.contains("发送中"));
    assert!(!html.contains("取消这条群发"), "released: no cancel button");

    // Each group gets the notice exactly once.
    let mut ok = fixture("send_group_msg_response_napcat");
    ok["data"]["message_id"] = json!(7001);
    fake.answer(&first, ok).await;
    let mut sent = vec![parse_reply(&first.params)];
    sent.push(fake.reply().await);
    sent.push(fake.reply().await);
    let chats: BTreeSet<&str> = sent.iter().map(|r| r.group.as_str()).collect();
    assert_eq!(chats, BTreeSet::from(["900001", "900002", "900003"]));
    assert!(sent.iter().all(|r| r.text == NOTICE && r.quote.is_none()));
    let b = wait_for(&admin, id, |b| b["counts"]["sent"] == 3).await;
    let statuses: Vec<&str> = b["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["sent", "sent", "sent"]);
    assert_eq!(b["in_progress"], false);
    let (_, _, html) = admin.page(&format!("/admin/broadcasts/{id}"), None).await;
    assert!(
        !html.contains("http-equiv=\"refresh\""),
        "all done: no reload"
    );
    assert_eq!(html.matches("已发送</td>").count(), 3, "{html}");
    assert!(html.contains("已发完"));

    // Released: it cannot be cancelled or confirmed again.
    let (status, res) = admin
        .post(&format!("/api/v1/broadcasts/{id}/cancel"), json!({}))
        .await;
    assert_eq!(
        (status, res["error"]["code"].as_str()),
        (409, Some("wrong_state")),
        "{res}"
    );
    assert_eq!(res["error"]["message"], "这条群发已经发出，不能再改");
    let (status, _) = admin
        .post(&format!("/api/v1/broadcasts/{id}/confirm"), json!({}))
        .await;
    assert_eq!(status, 409);

    let (_, audit) = admin.get("/api/v1/audit").await;
    let ours: Vec<(&str, &str)> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().unwrap().starts_with("broadcast."))
        .map(|e| (e["action"].as_str().unwrap(), e["target"].as_str().unwrap()))
        .collect();
    let id = id.to_string();
    assert_eq!(
        ours,
        [
            ("broadcast.confirm", id.as_str()),
            ("broadcast.create", id.as_str())
        ]
    );
    drop(fake);
    service.stop().await;

    // The delivery page survives a restart, and nothing is sent again.
    let service = Service::start(config(), &data).await;
    let mut fake = service.connect().await;
    service.wait_metric(&connection_up(), 1).await;
    let admin = Client::sign_in(service.addr, ADMIN).await;
    let (_, one) = admin.get(&format!("/api/v1/broadcasts/{id}")).await;
    assert_eq!(one["broadcast"]["counts"]["sent"], 3, "{one}");
    assert_eq!(one["broadcast"]["state_label"], "已发完");
    // A resident's question now is the first thing the bot sends.
    fake.send(&question(4343, 900001, 700001, "社保卡丢了怎么补办"))
        .await;
    let replies = fake.replies_until("4343").await;
    assert!(
        replies.iter().all(|r| r.text != NOTICE),
        "the broadcast is not sent again: {replies:?}"
    );
    drop(fake);
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_broadcast_can_be_cancelled_on_its_page() {
    let (_dir, data) = data_dir();
    credentials(&data);
    let config = config();
    let hours = config.org.hours.clone();
    let service = Running::start(config, &data).await;
    let admin = Client::sign_in(service.addr, ADMIN).await;
    let (status, body) = admin
        .post(
            "/api/v1/broadcasts",
            json!({"text": NOTICE, "township": "linjiang"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["broadcast"]["id"].as_u64().unwrap();
    // Tomorrow at this time, on the district's clock.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let at = hours.format_datetime(now + 24 * 3600);
    let (status, _, html) = admin
        .page(
            &format!("/admin/broadcasts/{id}/confirm"),
            Some(&[("when", "at"), ("at", &at)]),
        )
        .await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains(&format!("已确认，群发{id}将在 {at} 发送。")),
        "{html}"
    );
    let (_, one) = admin.get(&format!("/api/v1/broadcasts/{id}")).await;
    let b = &one["broadcast"];
    assert_eq!(b["state"], "scheduled");
    assert_eq!(b["due_at"], at);
    assert_eq!(b["cancellable"], true);

    let (status, _, html) = admin
        .page(&format!("/admin/broadcasts/{id}/cancel"), Some(&[]))
        .await;
    assert_eq!(status, 200);
    assert!(html.contains(&format!("群发{id}已取消")), "{html}");
    assert!(html.contains("已取消") && !html.contains("取消这条群发"));
    let (_, one) = admin.get(&format!("/api/v1/broadcasts/{id}")).await;
    assert_eq!(one["broadcast"]["state"], "cancelled");
    assert_eq!(one["broadcast"]["counts"]["sent"], 0);
    let (status, res) = admin
        .post(&format!("/api/v1/broadcasts/{id}/confirm"), json!({}))
        .await;
    assert_eq!(
        (status, res["error"]["code"].as_str()),
        (409, Some("wrong_state"))
    );

    let (_, audit) = admin.get("/api/v1/audit").await;
    let ours: Vec<(&str, &str)> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().unwrap().starts_with("broadcast."))
        .map(|e| (e["action"].as_str().unwrap(), e["detail"].as_str().unwrap()))
        .collect();
    assert_eq!(ours.len(), 3, "{ours:?}");
    assert_eq!(ours[0], ("broadcast.cancel", "临江乡 · 全部平台"));
    assert_eq!(ours[1].0, "broadcast.confirm");
    assert!(ours[1].1.contains(&format!("定时 {at} 发送")), "{ours:?}");
    assert_eq!(ours[2].0, "broadcast.create");
    service.stop().await;
}
