//! The AI bot's passive reply over loopback HTTP: an answer ready in time is the callback's
//! own (encrypted, signed) response; one too late goes in a stream refresh; one nobody
//! collects goes through the message's `response_url`, once; a reply held for the chat's next
//! message takes that message's URL while the answer to the message goes passively; a fresh
//! answer quoting a spent message answers the message the resident just wrote.

mod common;

use std::time::Duration;

use bangban_contract::{Adapter, Chat, Outgoing, Platform, SendError};
use common::*;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const GROUP: &str = "wrkSFfCgAAxxxx";

/// The AI bot with passive replies on: `wait` for the first answer, `window` of stream.
fn passive(
    api: std::net::SocketAddr,
    wait: Duration,
    window: Duration,
) -> bangban_wecom::WeComConfig {
    bangban_wecom::WeComConfig {
        passive_wait: wait,
        stream_window: window,
        action_timeout: Duration::from_secs(10),
        ..config(Some(api))
    }
}

fn group_message(fake: &FakeWeCom, id: &str, code: &str, content: &str) -> Value {
    json!({"msgid": id, "aibotid": AIBOT_ID, "chatid": GROUP, "chattype": "group",
           "from": {"userid": "zhaoliu"},
           "response_url": format!("http://{}{AIBOT_RESPONSE}?response_code={code}", fake.addr),
           "msgtype": "text", "text": {"content": format!("@帮办助手 {content}")}})
}

fn refresh(stream_id: &str) -> Value {
    json!({"msgid": format!("refresh-{stream_id}"), "aibotid": AIBOT_ID, "chatid": GROUP,
           "chattype": "group", "from": {"userid": "zhaoliu"},
           "msgtype": "stream", "stream": {"id": stream_id}})
}

/// The bot's answer in the group, quoting `quote` (as the core's replies do).
fn answer(quote: Option<&str>, text: &str) -> Outgoing {
    Outgoing::SendText {
        platform: Platform::Wecom,
        account: BOT_ACCOUNT.into(),
        chat: Chat::Group(GROUP.into()),
        text: text.into(),
        quote: quote.map(str::to_owned),
        mention: Some("zhaoliu".into()),
    }
}

/// The response codes of the `response_url`s the fake received, in order.
fn codes(fake: &FakeWeCom) -> Vec<(String, Value)> {
    fake.calls()
        .into_iter()
        .map(|c| {
            assert_eq!(c.path, AIBOT_RESPONSE);
            (c.query["response_code"].clone(), c.body)
        })
        .collect()
}

fn stream(reply: &Value) -> (String, bool, String) {
    assert_eq!(reply["msgtype"], "stream", "{reply}");
    (
        reply["stream"]["id"].as_str().unwrap().to_owned(),
        reply["stream"]["finish"].as_bool().unwrap(),
        reply["stream"]["content"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn an_answer_ready_in_time_is_the_callbacks_response_and_keeps_the_url() {
    let fake = FakeWeCom::start().await;
    let mut bot = Bot::start(
        passive(fake.addr, Duration::from_secs(3), Duration::ZERO),
        TestClock::at(NOW),
    )
    .await;
    let poster = bot.poster();
    let message = group_message(&fake, "M1", "RC1", "医保怎么报销");
    let callback = tokio::spawn(async move { poster.post_aibot(&message).await });

    // The core hears of the message while WeCom's request waits, and answers it.
    let incoming = bot.next_message().await;
    assert_eq!(incoming.message_id, "M1");
    within(bot.wecom.send(&answer(Some("M1"), "带上**医保卡**和发票")))
        .await
        .expect("delivered once the response carries it");
    let (status, body) = within(callback).await.unwrap();
    assert_eq!(status, 200);
    let reply = passive_reply(&body).expect("a passive reply");
    let (id, finish, content) = stream(&reply);
    assert!(!id.is_empty());
    assert_eq!((finish, content.as_str()), (true, "带上**医保卡**和发票"));
    assert!(fake.calls().is_empty(), "no response_url used");

    // WeCom asking again (a refresh of that stream) gets the same answer, nothing new.
    let (_, again) = bot.post_aibot(&refresh(&id)).await;
    assert_eq!(stream(&passive_reply(&again).unwrap()), (id, true, content));

    // The message's response_url is still unused: an agent's later reply takes it.
    within(bot.wecom.send(&answer(Some("M1"), "专员：已帮您查到")))
        .await
        .unwrap();
    assert_eq!(
        codes(&fake),
        [(
            "RC1".to_owned(),
            json!({"msgtype": "markdown", "markdown": {"content": "专员：已帮您查到"}})
        )]
    );
    // Spent: the next reply waits for the chat's next message.
    assert!(matches!(
        within(bot.wecom.send(&answer(Some("M1"), "再说一句"))).await,
        Err(SendError::AwaitingMessage { .. })
    ));
}

#[tokio::test]
async fn an_answer_too_late_for_the_callback_goes_in_the_next_stream_refresh() {
    let fake = FakeWeCom::start().await;
    let mut bot = Bot::start(
        passive(
            fake.addr,
            Duration::from_millis(200),
            Duration::from_secs(30),
        ),
        TestClock::at(NOW),
    )
    .await;
    // Nobody answers within the wait: an unfinished stream, without content.
    let (status, body) = bot
        .post_aibot(&group_message(&fake, "M1", "RC1", "老年卡要带什么"))
        .await;
    assert_eq!(status, 200);
    let (id, finish, content) = stream(&passive_reply(&body).unwrap());
    assert_eq!((finish, content.as_str()), (false, ""));
    bot.next_message().await;

    // The answer comes now; WeCom's next refresh carries it, finished.
    let send = {
        let wecom = bot.wecom.clone();
        tokio::spawn(async move { wecom.send(&answer(Some("M1"), "带身份证和户口本")).await })
    };
    let (_, body) = bot.post_aibot(&refresh(&id)).await;
    assert_eq!(
        stream(&passive_reply(&body).unwrap()),
        (id, true, "带身份证和户口本".to_owned())
    );
    within(send)
        .await
        .unwrap()
        .expect("delivered by the refresh");
    assert!(fake.calls().is_empty(), "no response_url used");
}

#[tokio::test]
async fn an_answer_no_callback_collects_goes_through_the_response_url_once() {
    let fake = FakeWeCom::start().await;
    let mut bot = Bot::start(
        passive(fake.addr, Duration::from_millis(200), Duration::ZERO),
        TestClock::at(NOW),
    )
    .await;
    // No stream: without an answer in time the callback is answered empty.
    assert_eq!(
        bot.post_aibot(&group_message(&fake, "M1", "RC1", "社保卡怎么激活"))
            .await,
        (200, String::new())
    );
    bot.next_message().await;
    within(bot.wecom.send(&answer(Some("M1"), "带身份证去银行激活")))
        .await
        .unwrap();
    assert_eq!(
        codes(&fake),
        [(
            "RC1".to_owned(),
            json!({"msgtype": "markdown", "markdown": {"content": "带身份证去银行激活"}})
        )]
    );

    // A stream WeCom stopped refreshing: the answer waits for a refresh, none comes, and it
    // goes through the URL instead — once.
    let mut streaming = Bot::start(
        passive(
            fake.addr,
            Duration::from_millis(200),
            Duration::from_secs(30),
        ),
        TestClock::at(NOW),
    )
    .await;
    let (_, body) = streaming
        .post_aibot(&group_message(&fake, "M2", "RC2", "低保怎么申请"))
        .await;
    let (id, finish, _) = stream(&passive_reply(&body).unwrap());
    assert!(!finish);
    streaming.next_message().await;
    within(
        streaming
            .wecom
            .send(&answer(Some("M2"), "到村便民服务站申请")),
    )
    .await
    .unwrap();
    let calls = codes(&fake);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0, "RC2");
    // A refresh after that does not carry the answer a second time; the stream is closed.
    let (_, body) = streaming.post_aibot(&refresh(&id)).await;
    assert_eq!(
        stream(&passive_reply(&body).unwrap()),
        (id, true, String::new())
    );
    assert!(fake.calls().is_empty());
}

#[tokio::test]
async fn a_callback_wecom_hung_up_on_does_not_take_the_answer() {
    let fake = FakeWeCom::start().await;
    let mut bot = Bot::start(
        passive(fake.addr, Duration::from_secs(3), Duration::ZERO),
        TestClock::at(NOW),
    )
    .await;
    // WeCom sends the callback and closes the connection before any answer.
    let (path, body) =
        bot.poster()
            .aibot_request(&group_message(&fake, "M1", "RC1", "医保怎么报销"));
    let mut socket = tokio::net::TcpStream::connect(bot.addr).await.unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        bot.addr,
        body.len()
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    bot.next_message().await;
    socket.shutdown().await.unwrap();
    // The server ends the connection without a byte of response: the callback is gone.
    let mut rest = Vec::new();
    within(socket.read_to_end(&mut rest)).await.unwrap();
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    // The answer does not wait for it, nor vanish: it goes by the URL, at once.
    let started = std::time::Instant::now();
    within(bot.wecom.send(&answer(Some("M1"), "带上医保卡")))
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(codes(&fake).len(), 1, "through RC1, once");
}

#[tokio::test]
async fn a_held_reply_takes_the_new_messages_url_while_its_answer_goes_passively() {
    let fake = FakeWeCom::start().await;
    let mut bot = Bot::start(
        passive(fake.addr, Duration::from_secs(3), Duration::from_secs(30)),
        TestClock::at(NOW),
    )
    .await;
    // M1 answered passively; an agent's reply then takes M1's URL; a second one has none
    // left and is held for the chat's next message.
    let poster = bot.poster();
    let m1 = group_message(&fake, "M1", "RC1", "路灯坏了找谁");
    let callback = tokio::spawn(async move { poster.post_aibot(&m1).await });
    bot.next_message().await;
    within(bot.wecom.send(&answer(Some("M1"), "已转给专员，工单号：1")))
        .await
        .unwrap();
    within(callback).await.unwrap();
    within(bot.wecom.send(&answer(Some("M1"), "专员：路灯已报修")))
        .await
        .unwrap();
    let held = answer(Some("M1"), "专员：修好了，请您评价");
    assert!(matches!(
        within(bot.wecom.send(&held)).await,
        Err(SendError::AwaitingMessage { .. })
    ));
    assert_eq!(codes(&fake).len(), 1);

    // The resident writes again. The core sends the held reply first (its chat's order): it
    // takes M2's URL, since M2's own answer can still go passively — and then does.
    let poster = bot.poster();
    let m2 = group_message(&fake, "M2", "RC2", "社保卡怎么激活");
    let callback = tokio::spawn(async move { poster.post_aibot(&m2).await });
    bot.next_message().await;
    within(bot.wecom.send(&held)).await.unwrap();
    within(bot.wecom.send(&answer(Some("M2"), "带身份证去银行激活")))
        .await
        .unwrap();
    let (_, body) = within(callback).await.unwrap();
    let (_, finish, content) = stream(&passive_reply(&body).unwrap());
    assert_eq!((finish, content.as_str()), (true, "带身份证去银行激活"));
    let calls = codes(&fake);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0, "RC2");
    assert_eq!(calls[0].1["markdown"]["content"], "专员：修好了，请您评价");
}

#[tokio::test]
async fn an_answer_quoting_a_spent_message_finishes_the_stream_of_what_the_resident_just_wrote() {
    let fake = FakeWeCom::start().await;
    let mut bot = Bot::start(
        passive(fake.addr, Duration::from_secs(3), Duration::from_secs(30)),
        TestClock::at(NOW),
    )
    .await;
    // M1 (the ticket's message) answered passively; its URL then spent by the agent's reply.
    let poster = bot.poster();
    let m1 = group_message(&fake, "M1", "RC1", "路灯坏了找谁");
    let callback = tokio::spawn(async move { poster.post_aibot(&m1).await });
    bot.next_message().await;
    within(bot.wecom.send(&answer(Some("M1"), "工单号：1")))
        .await
        .unwrap();
    within(callback).await.unwrap();
    within(bot.wecom.send(&answer(Some("M1"), "您的事已办结，请打分")))
        .await
        .unwrap();
    assert_eq!(codes(&fake).len(), 1);
    // The resident rates (M2); the help desk's thanks quotes the ticket's message, M1. It is
    // the answer to M2: it goes in M2's response, and M2's URL stays unused.
    let poster = bot.poster();
    let m2 = group_message(&fake, "M2", "RC2", "1");
    let callback = tokio::spawn(async move { poster.post_aibot(&m2).await });
    bot.next_message().await;
    within(bot.wecom.send(&answer(Some("M1"), "谢谢您的评价！")))
        .await
        .unwrap();
    let (_, body) = within(callback).await.unwrap();
    let (_, finish, content) = stream(&passive_reply(&body).unwrap());
    assert_eq!((finish, content.as_str()), (true, "谢谢您的评价！"));
    assert!(fake.calls().is_empty());
    within(bot.wecom.send(&answer(Some("M2"), "专员回访")))
        .await
        .unwrap();
    assert_eq!(codes(&fake)[0].0, "RC2");
}

#[tokio::test]
async fn too_long_answers_are_refused_before_anything_is_sent() {
    let fake = FakeWeCom::start().await;
    let mut bot = Bot::start(
        passive(fake.addr, Duration::from_millis(200), Duration::ZERO),
        TestClock::at(NOW),
    )
    .await;
    let poster = bot.poster();
    let m1 = group_message(&fake, "M1", "RC1", "问");
    let callback = tokio::spawn(async move { poster.post_aibot(&m1).await });
    bot.next_message().await;
    let long = "字".repeat(7000); // 21,000 bytes
    let error = within(bot.wecom.send(&answer(Some("M1"), &long)))
        .await
        .unwrap_err();
    assert!(matches!(error, SendError::Permanent { .. }), "{error}");
    assert_eq!(within(callback).await.unwrap(), (200, String::new()));
    assert!(fake.calls().is_empty());
}
