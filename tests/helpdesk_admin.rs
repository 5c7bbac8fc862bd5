//! Admins' chat commands through the engine on real sled files: an example question added in
//! the agents' group and confirmed becomes a revision by that admin, audited, and residents who
//! ask it that way are answered from the item; non-admins are refused; an unconfirmed change
//! expires and changes nothing.

mod helpdesk_common;

use bangban::engine::Engine;
use bangban::guide::Guide;
use bangban::helpdesk::Desk;
use bangban::helpdesk::commands::{self, Parsed};
use bangban::store::Store;
use bangban::understand::Decision;
use bangban_contract::{Incoming, Outgoing};
use helpdesk_common::*;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The sample admin's QQ account (`bureau` in org.toml).
const ADMIN: &str = "800900";

struct Bot {
    engine: Engine,
    desk: Desk,
    guide: Arc<Guide>,
    store: Store,
    _dir: tempfile::TempDir,
}

fn bot() -> Bot {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let guide = Guide::open(config(), &store);
    Bot {
        engine: Engine::with_guide(config(), store.clone(), guide.clone()),
        desk: Desk::new(config(), store.clone(), guide.clone()),
        guide,
        store,
        _dir: dir,
    }
}

impl Bot {
    /// One message, dispatched as the engine does: an admin command to the desk's admin
    /// commands, anything else (or a `确认` that is not theirs) to the engine.
    async fn say(&self, event: &Incoming, at: SystemTime) -> Vec<Outgoing> {
        let ms = at.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        if let Some(Parsed::Admin(c)) = commands::parse(&event.text)
            && let Some(out) = self.desk.admin(event, c, ms).await.unwrap()
        {
            return out;
        }
        self.engine.handle_at(event, at).await.unwrap()
    }

    async fn reply(&self, event: &Incoming, at: SystemTime) -> String {
        let out = sent(&self.say(event, at).await);
        assert_eq!(out.len(), 1, "{out:#?}");
        out[0].text.clone()
    }

    fn rev(&self, id: &str) -> bangban::store::catalog::Revision {
        self.store.catalog_item(id).unwrap().unwrap()
    }

    /// Whether the live guide answers `text` from item `id`.
    fn answers_from(&self, text: &str, id: &str) -> bool {
        let live = self.guide.load();
        let u = live.matcher.understand(text, true);
        u.decision == Decision::Answer
            && u.item.map(|i| live.catalog.items()[i].id.as_str()) == Some(id)
    }

    /// Waits (on the guide's swaps, with a deadline) until `text` is answered from `id`.
    async fn until_answered_from(&self, text: &str, id: &str) {
        let mut swaps = self.guide.watch();
        tokio::time::timeout(Duration::from_secs(60), async {
            while !self.answers_from(text, id) {
                swaps.changed().await.unwrap();
            }
        })
        .await
        .unwrap_or_else(|_| panic!("“{text}” was never answered from {id}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_adds_an_example_question_confirms_and_residents_are_answered_from_that_item() {
    let bot = bot();
    let question = "村头张爹爹说的那个敬老本本咋弄到手";
    assert!(
        !bot.answers_from(question, "elder-card"),
        "the question must be new to the item for this test to mean anything"
    );
    let before = bot.rev("elder-card");

    // The change is shown first, and nothing is saved until it is confirmed.
    let shown = bot
        .reply(
            &said(
                AGENTS_GROUP,
                ADMIN,
                "a1",
                &format!("加问法 elder-card {question}"),
            ),
            monday(9, 0),
        )
        .await;
    assert!(
        shown.contains(question) && shown.contains("回复“确认”生效"),
        "{shown}"
    );
    assert_eq!(bot.rev("elder-card").rev, before.rev);

    let done = bot
        .reply(&said(AGENTS_GROUP, ADMIN, "a2", "确认"), monday(9, 1))
        .await;
    assert!(done.contains("已生效") && done.contains(question), "{done}");
    let after = bot.rev("elder-card");
    assert_eq!(after.rev, before.rev + 1);
    assert_eq!(after.who, "bureau");
    assert!(
        after.item.examples["overview"]
            .iter()
            .any(|q| q == question)
    );
    let audit = bot.store.audit_latest(10).unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "chat.example" && e.who == "bureau" && e.target == "elder-card"),
        "{audit:?}"
    );

    // A replayed confirmation is answered the same and saves nothing more.
    let again = bot
        .reply(&said(AGENTS_GROUP, ADMIN, "a2", "确认"), monday(9, 1))
        .await;
    assert_eq!(again, done);
    assert_eq!(bot.rev("elder-card").rev, after.rev);

    // Once the model has retrained off the hot path, a resident asking that way is answered
    // from the item, in the village group.
    bot.until_answered_from(question, "elder-card").await;
    let out = bot
        .say(
            &said(DAHU_GROUP, RESIDENT, "r1", &format!("@{question}")),
            monday(9, 2),
        )
        .await;
    let answer = one_to_group(&out, DAHU_GROUP);
    assert!(answer.text.contains("老年"), "{answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_admins_are_refused_and_an_unconfirmed_change_expires() {
    let bot = bot();
    let before = bot.rev("elder-card");
    let add = "加别名 elder-card 敬老本本";

    // An agent, a resident: refused in Chinese. A resident's own “确认” is an ordinary message.
    for (chat, who) in [(AGENTS_GROUP, DAHU_AGENT), (DAHU_GROUP, RESIDENT)] {
        let text = bot.reply(&said(chat, who, "n1", add), monday(9, 0)).await;
        assert!(text.contains("只有管理员"), "{who}: {text}");
    }
    let ms = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    let resident_yes = said(DAHU_GROUP, RESIDENT, "n2", "确认");
    let Some(Parsed::Admin(c)) = commands::parse(&resident_yes.text) else {
        panic!("确认 parses as an admin command");
    };
    assert!(
        bot.desk
            .admin(&resident_yes, c, ms(monday(9, 0)))
            .await
            .unwrap()
            .is_none()
    );
    // An admin in a village group is sent to the agents' group or a private chat.
    let text = bot
        .reply(&said(DAHU_GROUP, ADMIN, "n3", add), monday(9, 0))
        .await;
    assert!(text.contains("专员群"), "{text}");

    // In a private chat: shown, then confirmed too late — nothing changes.
    let shown = bot.reply(&private(ADMIN, "p1", add), monday(9, 0)).await;
    assert!(
        shown.contains("敬老本本") && shown.contains("确认"),
        "{shown}"
    );
    let late = bot.reply(&private(ADMIN, "p2", "确认"), monday(9, 6)).await;
    assert!(late.contains("已作废"), "{late}");
    let now = bot.rev("elder-card");
    assert_eq!(now.rev, before.rev);
    assert!(!now.item.aliases.iter().any(|a| a == "敬老本本"));
    let none = bot.reply(&private(ADMIN, "p3", "确认"), monday(9, 7)).await;
    assert!(none.contains("没有待确认"), "{none}");

    // Cancelled: nothing to confirm afterwards.
    bot.reply(&private(ADMIN, "p4", add), monday(9, 8)).await;
    let cancelled = bot.reply(&private(ADMIN, "p5", "取消"), monday(9, 8)).await;
    assert!(cancelled.contains("已取消"), "{cancelled}");
    let none = bot.reply(&private(ADMIN, "p6", "确认"), monday(9, 9)).await;
    assert!(none.contains("没有待确认"), "{none}");
    assert_eq!(bot.rev("elder-card").rev, before.rev);

    // An alias another item has is refused before anything waits; an unknown item is named.
    let taken = bot
        .reply(
            &private(ADMIN, "p7", "加别名 elder-card 社保卡申领"),
            monday(9, 10),
        )
        .await;
    assert!(taken.contains("改不了"), "{taken}");
    let unknown = bot
        .reply(
            &private(ADMIN, "p8", "加问法 no-such-item 随便问问"),
            monday(9, 10),
        )
        .await;
    assert!(unknown.contains("找不到事项“no-such-item”"), "{unknown}");

    // Looking at an item, by one of its names; the usage; an incomplete command gets a hint
    // from the engine.
    let shown = bot
        .reply(&private(ADMIN, "p9", "看事项 老年卡"), monday(9, 11))
        .await;
    assert!(
        shown.contains("elder-card") && shown.contains(&format!("第 {} 版", before.rev)),
        "{shown}"
    );
    let usage = bot
        .reply(&private(ADMIN, "p10", "管理命令"), monday(9, 11))
        .await;
    assert!(
        usage.contains("加问法") && usage.contains("看事项"),
        "{usage}"
    );
    let hint = bot
        .reply(
            &said(AGENTS_GROUP, ADMIN, "p11", "加问法 elder-card"),
            monday(9, 11),
        )
        .await;
    assert!(hint.contains("例如：加问法"), "{hint}");
}
