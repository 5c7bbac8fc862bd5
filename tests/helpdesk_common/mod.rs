//! What the help-desk tests share: the shipped config, an engine on a fresh sled directory, a
//! local clock (UTC+8, as in `org.toml`) and chat events of the sample organisation.
#![allow(dead_code)]

use bangban::config::Config;
use bangban::engine::Engine;
use bangban::helpdesk::hours::days_from_civil;
use bangban::store::Store;
use bangban_contract::{Chat, Incoming, Outgoing, Platform};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The bot's own QQ account in the sample.
pub const BOT: &str = "10000";
/// 大湖村 (v01, 庙岭镇) and its sample agent; the township centre's and the district's agents.
pub const DAHU_GROUP: &str = "900001";
pub const DAHU_AGENT: &str = "800001";
pub const OTHER_VILLAGE_AGENT: &str = "800002";
pub const MIAOLING_AGENT: &str = "800101";
pub const DISTRICT_AGENT: &str = "800201";
pub const AGENTS_GROUP: &str = "900100";
pub const RESIDENT: &str = "700001";

pub fn config() -> Arc<Config> {
    static CONFIG: OnceLock<Arc<Config>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("bot-config");
            Arc::new(Config::load(&dir).unwrap_or_else(|e| panic!("{e}")))
        })
        .clone()
}

/// An engine on a fresh data directory (kept alive by the returned guard).
pub fn bot() -> (Engine, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (Engine::new(config(), store), dir)
}

/// A local (UTC+8) time.
pub fn at(y: i64, m: u32, d: u32, h: u64, min: u64) -> SystemTime {
    let secs = days_from_civil(y, m, d) as u64 * 86_400 + h * 3600 + min * 60 - 8 * 3600;
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// Monday 2026-12-07, `h:min` local: office hours are 08:30–12:00 and 14:00–17:30.
pub fn monday(h: u64, min: u64) -> SystemTime {
    at(2026, 12, 7, h, min)
}

/// A message in group `chat` from `sender`; `@` first means the bot is @-mentioned.
pub fn said(chat: &str, sender: &str, id: &str, text: &str) -> Incoming {
    let mentions_bot = text.starts_with('@');
    Incoming {
        platform: Platform::Onebot,
        account: BOT.into(),
        chat: Chat::Group(chat.into()),
        sender: sender.into(),
        sender_name: Some(format!("用户{sender}")),
        message_id: id.into(),
        text: text.trim_start_matches('@').into(),
        mentions_bot,
        reply_to: None,
    }
}

/// A private message to the bot.
pub fn private(sender: &str, id: &str, text: &str) -> Incoming {
    Incoming {
        chat: Chat::Private(sender.into()),
        mentions_bot: true,
        ..said("-", sender, id, text)
    }
}

/// One sent text, flattened for assertions.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    pub chat: Chat,
    pub text: String,
    pub quote: Option<String>,
    pub mention: Option<String>,
}

pub fn sent(out: &[Outgoing]) -> Vec<Sent> {
    out.iter()
        .map(|o| match o {
            Outgoing::SendText {
                chat,
                text,
                quote,
                mention,
                ..
            } => Sent {
                chat: chat.clone(),
                text: text.clone(),
                quote: quote.clone(),
                mention: mention.clone(),
            },
        })
        .collect()
}

/// The texts sent to group `id`.
pub fn to_group(out: &[Outgoing], id: &str) -> Vec<Sent> {
    sent(out)
        .into_iter()
        .filter(|s| s.chat == Chat::Group(id.into()))
        .collect()
}

/// The one text sent to group `id`.
pub fn one_to_group(out: &[Outgoing], id: &str) -> Sent {
    let mut all = to_group(out, id);
    assert_eq!(all.len(), 1, "expected one message to group {id}: {out:#?}");
    all.remove(0)
}

pub mod xlsx {
    //! Reads back the cells of the first sheet of an XLSX file (shared strings and numbers).
    use std::io::Read;

    pub fn cells(bytes: &[u8]) -> Vec<Vec<String>> {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut read = |name: &str| {
            let mut s = String::new();
            if let Ok(mut f) = zip.by_name(name) {
                f.read_to_string(&mut s).unwrap();
            }
            s
        };
        let shared_xml = read("xl/sharedStrings.xml");
        let sheet_xml = read("xl/worksheets/sheet1.xml");
        let si = regex::Regex::new(r"(?s)<si>(.*?)</si>").unwrap();
        let t = regex::Regex::new(r"(?s)<t[^>]*>(.*?)</t>").unwrap();
        let shared: Vec<String> = si
            .captures_iter(&shared_xml)
            .map(|c| t.captures_iter(&c[1]).map(|x| unescape(&x[1])).collect())
            .collect();
        let cell = regex::Regex::new(
            r#"(?s)<c r="([A-Z]+)(\d+)"([^>]*?)(?:/>|>(?:<f>.*?</f>)?(?:<v>(.*?)</v>)?(?:<is><t[^>]*>(.*?)</t></is>)?</c>)"#,
        )
        .unwrap();
        let mut rows: Vec<Vec<String>> = Vec::new();
        for c in cell.captures_iter(&sheet_xml) {
            let col = c[1]
                .bytes()
                .fold(0usize, |n, b| n * 26 + (b - b'A' + 1) as usize)
                - 1;
            let row: usize = c[2].parse::<usize>().unwrap() - 1;
            let attrs = &c[3];
            let value = if attrs.contains(r#"t="s""#) {
                shared[c[4].parse::<usize>().unwrap()].clone()
            } else if let Some(inline) = c.get(5) {
                unescape(inline.as_str())
            } else {
                c.get(4).map_or(String::new(), |v| unescape(v.as_str()))
            };
            if rows.len() <= row {
                rows.resize(row + 1, Vec::new());
            }
            if rows[row].len() <= col {
                rows[row].resize(col + 1, String::new());
            }
            rows[row][col] = value;
        }
        for r in &mut rows {
            r.resize(11, String::new());
        }
        rows
    }

    fn unescape(s: &str) -> String {
        s.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&")
    }
}
