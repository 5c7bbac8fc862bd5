//! The monthly report as XLSX: the same figures as the statistics page, one sheet each —
//! 概况 (label, number), 每日, 各村, 事项 and 方面 (问题方面).

use super::{Count, Report, Row};
use crate::helpdesk::ledger::cell;
use rust_xlsxwriter::{Format, Workbook, Worksheet};

/// The figures of the summary sheet, in order: label and number (durations in minutes).
pub fn summary(r: &Report) -> Vec<(String, String)> {
    let q = &r.questions;
    let t = &r.tickets;
    let n = |label: &str, v: i64| (label.to_owned(), v.to_string());
    let minutes =
        |ms: Option<u64>| ms.map_or_else(String::new, |ms| format!("{:.1}", ms as f64 / 60_000.0));
    let mut rows = vec![
        ("时间".to_owned(), format!("{} 至 {}", r.from, r.to)),
        ("范围".to_owned(), r.scope_label.clone()),
        n("提问", q.asked),
        n("已回答", q.answered),
        n("反问", q.asked_back),
        n("转专员", q.escalated),
        n("转专员：本人的事", q.escalated_case),
        n("转专员：意见投诉", q.escalated_complaint),
        n("转专员：指南答不了", q.escalated_uncovered),
        n("转专员：含个人信息", q.escalated_privacy),
        n("未回应的闲聊", q.ignored),
        n("新建工单", t.opened),
    ];
    for c in &t.by_reason {
        rows.push(n(&format!("工单原因：{}", c.label), c.count));
    }
    for c in &t.by_stage {
        rows.push(n(&format!("工单环节：{}", c.label), c.count));
    }
    rows.extend([
        n("首次响应", t.responded),
        n("办结", t.resolved),
        n("转办", t.transferred),
        n("升级到镇中心", t.to_township),
        n("升级到区中心", t.to_district),
        (
            "首次响应用时中位数（分钟）".into(),
            minutes(r.first_response.median_ms),
        ),
        (
            "首次响应用时90分位（分钟）".into(),
            minutes(r.first_response.p90_ms),
        ),
        (
            "办结用时中位数（分钟）".into(),
            minutes(r.resolution.median_ms),
        ),
        (
            "办结用时90分位（分钟）".into(),
            minutes(r.resolution.p90_ms),
        ),
        n("评价", r.ratings.rated),
    ]);
    for c in &r.ratings.levels {
        rows.push(n(&format!("评价：{}", c.label), c.count));
    }
    rows.extend([
        n("好评", r.ratings.good),
        n("差评", r.ratings.bad),
        n("差评回访工单", r.ratings.follow_ups),
        n("差评回访已办结", r.ratings.follow_ups_resolved),
    ]);
    rows
}

pub const ROW_COLUMNS: [&str; 7] = ["", "提问", "已回答", "反问", "转专员", "新建工单", "办结"];

/// The workbook.
pub fn xlsx(r: &Report) -> anyhow::Result<Vec<u8>> {
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    {
        let sheet = book.add_worksheet();
        sheet.set_name("概况")?;
        sheet.write_string_with_format(0, 0, "指标", &bold)?;
        sheet.write_string_with_format(0, 1, "数值", &bold)?;
        sheet.set_column_width(0, 30.0)?;
        sheet.set_column_width(1, 28.0)?;
        for (i, (label, value)) in summary(r).iter().enumerate() {
            let row = i as u32 + 1;
            sheet.write_string(row, 0, label)?;
            match value.parse::<f64>() {
                Ok(v) => sheet.write_number(row, 1, v)?,
                Err(_) => sheet.write_string(row, 1, cell(value))?,
            };
        }
    }
    for (name, first, rows) in [
        ("每日", "日期", &r.days),
        ("各村", "村", &r.villages),
        ("事项", "事项", &r.items),
    ] {
        let sheet = book.add_worksheet();
        sheet.set_name(name)?;
        rows_sheet(sheet, first, rows, &bold)?;
    }
    let sheet = book.add_worksheet();
    sheet.set_name("方面")?;
    counts_sheet(sheet, "问题方面", &r.aspects, &bold)?;
    book.save_to_buffer().map_err(anyhow::Error::from)
}

fn rows_sheet(
    sheet: &mut Worksheet,
    first: &str,
    rows: &[Row],
    bold: &Format,
) -> anyhow::Result<()> {
    for (c, title) in ROW_COLUMNS.iter().enumerate() {
        let title = if c == 0 { first } else { title };
        sheet.write_string_with_format(0, c as u16, title, bold)?;
    }
    sheet.set_column_width(0, 24.0)?;
    for (i, row) in rows.iter().enumerate() {
        let r = i as u32 + 1;
        sheet.write_string(r, 0, cell(&row.label))?;
        for (c, v) in [
            row.asked,
            row.answered,
            row.asked_back,
            row.escalated,
            row.opened,
            row.resolved,
        ]
        .into_iter()
        .enumerate()
        {
            sheet.write_number(r, c as u16 + 1, v as f64)?;
        }
    }
    sheet.set_freeze_panes(1, 0)?;
    Ok(())
}

fn counts_sheet(
    sheet: &mut Worksheet,
    first: &str,
    rows: &[Count],
    bold: &Format,
) -> anyhow::Result<()> {
    sheet.write_string_with_format(0, 0, first, bold)?;
    sheet.write_string_with_format(0, 1, "次数", bold)?;
    sheet.set_column_width(0, 20.0)?;
    for (i, c) in rows.iter().enumerate() {
        let r = i as u32 + 1;
        sheet.write_string(r, 0, cell(&c.label))?;
        sheet.write_number(r, 1, c.count as f64)?;
    }
    Ok(())
}
