//! The daily digest: each agents' chat gets yesterday's figures once a day, at the configured
//! local time, also across a restart; a township's chat gets its own township's.

mod helpdesk_common;
mod shipped_config;

use bangban::config::Config;
use bangban::engine::Engine;
use bangban::store::Store;
use bangban_contract::Outgoing;
use helpdesk_common::*;
use std::path::Path;
use std::sync::Arc;

const UNCOVERED: &str = "@村里的路灯坏了找谁";
/// The township centre's own chat added for the test, and a 临江乡 village group.
const MIAOLING_CHAT: &str = "900200";
const LINJIANG_GROUP: &str = "900016";

/// The shipped configuration with `org.toml` edited.
fn config_with(edit: impl Fn(String) -> String) -> Arc<Config> {
    let (tmp, dir) = shipped_config::shipped_copy();
    let org = dir.join("org.toml");
    std::fs::write(&org, edit(std::fs::read_to_string(&org).unwrap())).unwrap();
    let config = Config::load(&dir).unwrap_or_else(|e| panic!("{e}"));
    drop(tmp);
    Arc::new(config)
}

fn township_chat_config() -> Arc<Config> {
    config_with(|org| {
        org + &format!(
            "\n[[agents_chats]]\nplatform = \"onebot\"\nchat = \"{MIAOLING_CHAT}\"\naccount = \"{BOT}\"\ntownship = \"miaoling\"\n"
        )
    })
}

fn engine(config: &Arc<Config>, dir: &Path) -> Engine {
    Engine::new(config.clone(), Store::open(dir).unwrap())
}

fn text_to(out: &[Outgoing], chat: &str) -> String {
    one_to_group(out, chat).text
}

#[tokio::test]
async fn each_agents_chat_gets_yesterdays_figures_once_a_day_even_across_a_restart() {
    let config = township_chat_config();
    let dir = tempfile::tempdir().unwrap();
    let bot = engine(&config, dir.path());
    // Monday: 大湖村 (庙岭镇) asks, the agent resolves, the resident rates it 不满意, which
    // opens follow-up 2 for the township centre; a 临江乡 village asks and nobody claims it.
    bot.handle_at(&said(DAHU_GROUP, RESIDENT, "m1", UNCOVERED), monday(9, 0))
        .await
        .unwrap();
    bot.handle_at(
        &said(AGENTS_GROUP, DAHU_AGENT, "a1", "办结 1"),
        monday(9, 30),
    )
    .await
    .unwrap();
    bot.handle_at(&said(DAHU_GROUP, RESIDENT, "m2", "4"), monday(9, 40))
        .await
        .unwrap();
    bot.handle_at(
        &said(DAHU_GROUP, "700099", "m4", "@老年卡办理要带什么材料"),
        monday(9, 50),
    )
    .await
    .unwrap();
    bot.handle_at(
        &said(LINJIANG_GROUP, "700016", "m3", UNCOVERED),
        monday(10, 0),
    )
    .await
    .unwrap();

    let tuesday = |h, m| at(2026, 12, 8, h, m);
    assert!(bot.digests(tuesday(8, 29)).await.unwrap().is_empty());
    let out = bot.digests(tuesday(8, 30)).await.unwrap();
    // The shipped agents' group and the sandbox's get the district's, 900200 庙岭镇's.
    assert_eq!(out.len(), 3, "{out:#?}");
    let miaoling = text_to(&out, MIAOLING_CHAT);
    assert!(miaoling.contains("庙岭镇 12月7日（周一）"), "{miaoling}");
    // Questions from the statistics: one answered, one escalated;
    // the rating "4" is not a question.
    assert!(
        miaoling.contains("群众提问 2 条，机器人答复 1 条。"),
        "{miaoling}"
    );
    assert!(miaoling.contains("新工单 2 件，办结 1 件"), "{miaoling}");
    assert!(miaoling.contains("差评 1 件：工单 1。"), "{miaoling}");
    assert!(miaoling.contains("超时未办结：无"), "{miaoling}");
    assert!(!miaoling.contains("临江乡"), "{miaoling}");
    let district = text_to(&out, AGENTS_GROUP);
    assert!(district.contains("全区"), "{district}");
    assert!(
        district.contains("群众提问 3 条，机器人答复 1 条。"),
        "{district}"
    );
    assert!(district.contains("新工单 3 件，办结 1 件"), "{district}");
    assert!(
        district.contains("庙岭镇：问2 新2 办结1 超时0 差评1"),
        "{district}"
    );
    assert!(
        district.contains("临江乡：问1 新1 办结0 超时0 差评0"),
        "{district}"
    );
    assert_eq!(text_to(&out, "sandbox-agents"), district);
    // One short message each, with no resident's words or numbers in it.
    assert!(district.lines().count() <= 10 && !district.contains("路灯"));

    assert!(bot.digests(tuesday(8, 31)).await.unwrap().is_empty());
    drop(bot);
    let bot = engine(&config, dir.path());
    assert!(bot.digests(tuesday(17, 0)).await.unwrap().is_empty());

    // Wednesday: nothing new, but tickets 2 and 3 have been open for more than 7 office hours.
    let out = bot.digests(at(2026, 12, 9, 9, 0)).await.unwrap();
    let miaoling = text_to(&out, MIAOLING_CHAT);
    assert!(miaoling.contains("群众提问 0 条"), "{miaoling}");
    assert!(miaoling.contains("新工单 0 件，办结 0 件"), "{miaoling}");
    assert!(miaoling.contains("超时未办结 1 件：工单 2。"), "{miaoling}");
    assert!(miaoling.contains("差评：无"), "{miaoling}");
    let district = text_to(&out, AGENTS_GROUP);
    assert!(
        district.contains("超时未办结 2 件：工单 2、3。"),
        "{district}"
    );
}

#[tokio::test]
async fn a_bot_down_at_the_hour_sends_the_days_digest_when_it_is_back_and_none_when_off() {
    let dir = tempfile::tempdir().unwrap();
    let bot = engine(&config(), dir.path());
    bot.handle_at(&said(DAHU_GROUP, RESIDENT, "m1", UNCOVERED), monday(9, 0))
        .await
        .unwrap();
    // Back at 15:00 on Tuesday: Monday's digest still goes out, once.
    let out = bot.digests(at(2026, 12, 8, 15, 0)).await.unwrap();
    assert!(text_to(&out, AGENTS_GROUP).contains("新工单 1 件"));
    assert!(
        bot.digests(at(2026, 12, 8, 15, 1))
            .await
            .unwrap()
            .is_empty()
    );

    let off = config_with(|org| {
        assert!(org.contains("at = \"08:30\""));
        org.replacen("at = \"08:30\"", "at = \"\"", 1)
    });
    let dir = tempfile::tempdir().unwrap();
    let bot = engine(&off, dir.path());
    bot.handle_at(&said(DAHU_GROUP, RESIDENT, "m1", UNCOVERED), monday(9, 0))
        .await
        .unwrap();
    assert!(bot.digests(at(2026, 12, 8, 9, 0)).await.unwrap().is_empty());
}
