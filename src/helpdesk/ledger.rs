//! The ledger (帮代办服务台账): every ticket as one row with the columns offices use, as CSV (with a
//! BOM, so that Excel reads the Chinese) and as XLSX. Personal numbers are masked: the ledger is a
//! file that travels; the ticket itself keeps the full text.
//!
//! 受理 is the first acceptance: 受理时间 and 受理人 are the time and the agent of the first claim,
//! whoever holds the ticket later. In the files, a cell that a spreadsheet would take for a
//! formula (starting with `=`, `+`, `-`, `@`, a tab or a carriage return) is written with a
//! leading apostrophe, and a cell is cut to Excel's limit of 32,767 characters.

use super::hours::parse_date;
use super::{notify, privacy, secs};
use crate::config::Config;
use crate::store::Store;
use crate::store::tickets::{Change, Ticket};
use serde::{Deserialize, Serialize};

pub const COLUMNS: [&str; 11] = [
    "工单号",
    "村",
    "群",
    "居民",
    "事项",
    "问题",
    "受理时间",
    "受理人",
    "办结时间",
    "用时",
    "评价",
];

/// One ticket in the ledger (also the JSON of `GET /api/tickets`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub id: u64,
    pub village: String,
    pub group: String,
    pub resident: String,
    pub item: String,
    pub question: String,
    pub claimed_at: String,
    pub claimed_by: String,
    pub resolved_at: String,
    /// From opening to 办结.
    pub duration: String,
    pub rating: String,
    /// 待受理, 已受理… (not a ledger column; shown by `tickets list`).
    pub stage: String,
    pub created_at: String,
}

impl Row {
    /// The cells under [`COLUMNS`].
    pub fn cells(&self) -> [String; 11] {
        [
            self.id.to_string(),
            self.village.clone(),
            self.group.clone(),
            self.resident.clone(),
            self.item.clone(),
            self.question.clone(),
            self.claimed_at.clone(),
            self.claimed_by.clone(),
            self.resolved_at.clone(),
            self.duration.clone(),
            self.rating.clone(),
        ]
    }
}

/// Which tickets: opened from `from` to `to` inclusive (local dates), either end open.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Period {
    pub from: Option<i64>,
    pub to: Option<i64>,
}

impl Period {
    /// From `YYYY-MM-DD` texts; the error is for admins, in Chinese.
    pub fn parse(from: Option<&str>, to: Option<&str>) -> Result<Period, String> {
        let day = |text: Option<&str>, what: &str| -> Result<Option<i64>, String> {
            match text.map(str::trim).filter(|t| !t.is_empty()) {
                None => Ok(None),
                Some(t) => parse_date(t).map(Some).ok_or_else(|| {
                    format!("{what}日期“{t}”不对，要写成 YYYY-MM-DD，例如 2026-12-01")
                }),
            }
        };
        let period = Period {
            from: day(from, "开始")?,
            to: day(to, "结束")?,
        };
        if let (Some(a), Some(b)) = (period.from, period.to)
            && a > b
        {
            return Err("开始日期晚于结束日期".into());
        }
        Ok(period)
    }
}

/// The ledger rows of `tickets` opened within `period`, in number order.
pub fn rows(config: &Config, tickets: &[Ticket], period: Period) -> Vec<Row> {
    let org = &config.org;
    let hours = &org.hours;
    let time = |ms: Option<u64>| ms.map_or_else(String::new, |ms| hours.format_datetime(secs(ms)));
    let mut rows: Vec<Row> = tickets
        .iter()
        // The console's sandbox tickets are tests of the guide, not residents' requests.
        .filter(|t| t.platform != bangban_contract::Platform::Sandbox)
        .filter(|t| {
            let (day, _) = hours.local(secs(t.created_at));
            period.from.is_none_or(|f| day >= f) && period.to.is_none_or(|to| day <= to)
        })
        .map(|t| {
            // The first claim: 受理时间 and 受理人 together.
            let accepted = t.events.iter().find(|e| e.change == Change::Claimed);
            Row {
                id: t.id,
                village: t
                    .village
                    .as_deref()
                    .and_then(|v| org.village(v))
                    .map_or_else(String::new, |v| v.name.clone()),
                group: notify::chat_label(t.platform, &t.chat),
                resident: notify::resident_label(t, true),
                item: notify::item_label(&config.catalog, t.item.as_deref()),
                question: privacy::mask(&t.question),
                claimed_at: time(accepted.map(|e| e.at).or(t.claimed_at)),
                claimed_by: accepted.map_or_else(String::new, |e| e.by.name.clone()),
                resolved_at: time(t.resolved_at),
                duration: t
                    .resolved_at
                    .map_or_else(String::new, |r| duration(r.saturating_sub(t.created_at))),
                rating: t.rating.map_or_else(String::new, |r| r.label().to_string()),
                stage: t.stage.label().to_string(),
                created_at: time(Some(t.created_at)),
            }
        })
        .collect();
    rows.sort_by_key(|r| r.id);
    rows
}

/// The ledger rows of the tickets in `store` opened within `period`.
pub fn load(config: &Config, store: &Store, period: Period) -> anyhow::Result<Vec<Row>> {
    Ok(rows(config, &store.tickets()?.all()?, period))
}

/// `45分钟`, `2小时5分钟`, `3天4小时`.
pub fn duration(ms: u64) -> String {
    let minutes = ms / 60_000;
    match minutes {
        m if m < 60 => format!("{m}分钟"),
        m if m < 24 * 60 => format!("{}小时{}分钟", m / 60, m % 60),
        m => format!("{}天{}小时", m / (24 * 60), m % (24 * 60) / 60),
    }
}

/// The longest text Excel keeps in a cell, in UTF-16 code units.
pub const CELL_MAX: usize = 32_767;

/// `text` as a spreadsheet cell: a leading apostrophe when a spreadsheet would read it as a
/// formula, and cut (ending with `…`) to [`CELL_MAX`].
pub fn cell(text: &str) -> String {
    let risky = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let mut out = String::with_capacity(text.len() + 1);
    if risky {
        out.push('\'');
    }
    let mut room = CELL_MAX - usize::from(risky);
    if text.encode_utf16().count() <= room {
        out.push_str(text);
        return out;
    }
    room -= 1; // for the `…`
    for c in text.chars() {
        if c.len_utf16() > room {
            break;
        }
        room -= c.len_utf16();
        out.push(c);
    }
    out.push('…');
    out
}

/// The ledger as CSV, UTF-8 with a BOM.
pub fn csv(rows: &[Row]) -> anyhow::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
    w.write_record(COLUMNS)?;
    for row in rows {
        w.write_record(row.cells().iter().map(|c| cell(c)))?;
    }
    w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))
}

/// The ledger as an XLSX workbook with one sheet, 帮代办服务台账.
pub fn xlsx(rows: &[Row]) -> anyhow::Result<Vec<u8>> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("帮代办服务台账")?;
    let bold = Format::new().set_bold();
    const WIDTHS: [f64; 11] = [
        8.0, 12.0, 14.0, 18.0, 18.0, 40.0, 17.0, 20.0, 17.0, 12.0, 10.0,
    ];
    for (c, (title, width)) in COLUMNS.iter().zip(WIDTHS).enumerate() {
        sheet.write_string_with_format(0, c as u16, *title, &bold)?;
        sheet.set_column_width(c as u16, width)?;
    }
    for (r, row) in rows.iter().enumerate() {
        let r = r as u32 + 1;
        sheet.write_number(r, 0, row.id as f64)?;
        for (c, text) in row.cells().iter().enumerate().skip(1) {
            sheet.write_string(r, c as u16, self::cell(text))?;
        }
    }
    sheet.set_freeze_panes(1, 0)?;
    book.save_to_buffer().map_err(anyhow::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_plainly() {
        assert_eq!(duration(45 * 60_000), "45分钟");
        assert_eq!(duration(125 * 60_000), "2小时5分钟");
        assert_eq!(duration((3 * 24 * 60 + 4 * 60 + 10) * 60_000), "3天4小时");
    }

    #[test]
    fn cells_are_never_formulas_and_fit_excel() {
        for risky in ["=1+1", "+86", "-5", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(cell(risky), format!("'{risky}"));
        }
        assert_eq!(cell("大湖村"), "大湖村");
        assert_eq!(cell(""), "");
        let long = "好".repeat(40_000);
        let cut = cell(&long);
        assert_eq!(cut.encode_utf16().count(), CELL_MAX);
        assert!(cut.ends_with('…'));
        let emoji = format!("={}", "😀".repeat(20_000));
        assert!(cell(&emoji).encode_utf16().count() <= CELL_MAX);
        assert!(cell(&emoji).starts_with("'="));
    }

    #[test]
    fn periods_are_checked() {
        assert_eq!(Period::parse(None, None), Ok(Period::default()));
        assert!(Period::parse(Some("2026-12-01"), Some("2026-12-31")).is_ok());
        assert!(
            Period::parse(Some("2026-13-01"), None)
                .unwrap_err()
                .contains("YYYY-MM-DD")
        );
        assert!(Period::parse(Some("2026-12-31"), Some("2026-12-01")).is_err());
    }
}
