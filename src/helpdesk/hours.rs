//! Office hours, agents' duty hours and the local calendar: whether the service (or an agent) is
//! open, how much working time lies between two instants (the ladder's clock runs only then), when
//! it next opens, and dates as offices write them. China keeps one fixed UTC offset and no
//! daylight saving, so a fixed offset from `org.toml` is the whole time-zone story; the calendar
//! arithmetic is done here rather than with a date crate.
//!
//! All instants are Unix seconds; "days" are local day numbers (days since 1970-01-01 local).

use crate::config::ConfigError;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::Path;

pub const DAY: i64 = 86_400;

/// `[office_hours]` in `org.toml`, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoursSpec {
    /// Local time as an offset from UTC, e.g. `"+08:00"`.
    pub utc_offset: String,
    /// Working weekdays, 1 = Monday … 7 = Sunday.
    pub weekdays: Vec<u32>,
    /// Opening periods of a working day, e.g. `["08:30-12:00", "14:00-17:30"]`.
    pub periods: Vec<String>,
    /// Dates closed although a working weekday (public holidays), `YYYY-MM-DD`.
    #[serde(default)]
    pub holidays: Vec<String>,
    /// Dates open although a weekend (调休 make-up working days), `YYYY-MM-DD`.
    #[serde(default)]
    pub workdays: Vec<String>,
}

/// An agent's `duty` in `org.toml`, as written: their own weekdays and periods. The UTC offset,
/// the holidays and the 调休 make-up days are the organisation's (`[office_hours]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DutySpec {
    /// Weekdays on duty, 1 = Monday … 7 = Sunday.
    pub weekdays: Vec<u32>,
    /// Periods on duty on those days, e.g. `["08:00-12:00"]`.
    pub periods: Vec<String>,
}

/// When the service centres are open, or when one agent is on duty (see [`OfficeHours::duty`]).
#[derive(Debug, Clone, PartialEq)]
pub struct OfficeHours {
    /// Local time minus UTC, in seconds.
    pub offset: i64,
    /// Index 0 = Monday.
    weekdays: [bool; 7],
    /// Seconds from local midnight, sorted, not overlapping.
    periods: Vec<(i64, i64)>,
    holidays: BTreeSet<i64>,
    workdays: BTreeSet<i64>,
}

impl Default for OfficeHours {
    /// Monday to Friday, 08:30–12:00 and 14:00–17:30, UTC+8.
    fn default() -> OfficeHours {
        OfficeHours {
            offset: 8 * 3600,
            weekdays: [true, true, true, true, true, false, false],
            periods: vec![(8 * 3600 + 1800, 12 * 3600), (14 * 3600, 17 * 3600 + 1800)],
            holidays: BTreeSet::new(),
            workdays: BTreeSet::new(),
        }
    }
}

impl OfficeHours {
    /// Checks and converts the spec; every problem is pushed to `errors` naming `file` and the key.
    pub fn from_spec(spec: &HoursSpec, file: &Path, errors: &mut Vec<ConfigError>) -> OfficeHours {
        let mut err = reporter(file, errors);
        let mut hours = OfficeHours::default();
        match parse_offset(&spec.utc_offset) {
            Some(o) => hours.offset = o,
            None => err(
                "office_hours.utc_offset".into(),
                format!(
                    "\"{}\" is not an offset; expected \"+HH:MM\" such as \"+08:00\"",
                    spec.utc_offset
                ),
            ),
        }
        hours.set_week(&spec.weekdays, &spec.periods, "office_hours", &mut err);
        for (key, list, set) in [
            ("holidays", &spec.holidays, &mut hours.holidays),
            ("workdays", &spec.workdays, &mut hours.workdays),
        ] {
            for (i, d) in list.iter().enumerate() {
                match parse_date(d) {
                    Some(day) => {
                        set.insert(day);
                    }
                    None => err(
                        format!("office_hours.{key}[{i}]"),
                        format!("\"{d}\" is not a date; expected YYYY-MM-DD"),
                    ),
                }
            }
        }
        hours
    }

    /// An agent's duty hours: `spec`'s weekdays and periods on this calendar (its UTC offset,
    /// holidays and 调休 make-up days). Problems are pushed to `errors` under `key`, such as
    /// `agents.a30.duty`.
    pub fn duty(
        &self,
        spec: &DutySpec,
        key: &str,
        file: &Path,
        errors: &mut Vec<ConfigError>,
    ) -> OfficeHours {
        let mut hours = self.clone();
        hours.set_week(
            &spec.weekdays,
            &spec.periods,
            key,
            &mut reporter(file, errors),
        );
        hours
    }

    /// Replaces the working weekdays and periods with those written under `key`.
    fn set_week(
        &mut self,
        weekdays: &[u32],
        periods: &[String],
        key: &str,
        err: &mut impl FnMut(String, String),
    ) {
        self.weekdays = [false; 7];
        self.periods.clear();
        if weekdays.is_empty() {
            err(
                format!("{key}.weekdays"),
                "expected at least one working weekday (1 = Monday … 7 = Sunday)".into(),
            );
        }
        for (i, &d) in weekdays.iter().enumerate() {
            if (1..=7).contains(&d) {
                self.weekdays[d as usize - 1] = true;
            } else {
                err(
                    format!("{key}.weekdays[{i}]"),
                    format!("{d} is not a weekday; expected 1 (Monday) to 7 (Sunday)"),
                );
            }
        }
        if periods.is_empty() {
            err(
                format!("{key}.periods"),
                "expected at least one period such as \"08:30-12:00\"".into(),
            );
        }
        for (i, p) in periods.iter().enumerate() {
            match parse_period(p) {
                Some(period) => self.periods.push(period),
                None => err(
                    format!("{key}.periods[{i}]"),
                    format!(
                        "\"{p}\" is not a period; expected \"HH:MM-HH:MM\" with start before end"
                    ),
                ),
            }
        }
        self.periods.sort();
        if self.periods.windows(2).any(|w| w[1].0 < w[0].1) {
            err(
                format!("{key}.periods"),
                "periods overlap; expected separate periods such as [\"08:30-12:00\", \"14:00-17:30\"]"
                    .into(),
            );
        }
    }

    /// (local day number, seconds since local midnight) of a Unix instant.
    pub fn local(&self, unix: i64) -> (i64, i64) {
        let t = unix + self.offset;
        (t.div_euclid(DAY), t.rem_euclid(DAY))
    }

    /// The Unix instant of local midnight starting `day`.
    pub fn midnight(&self, day: i64) -> i64 {
        day * DAY - self.offset
    }

    pub fn is_working_day(&self, day: i64) -> bool {
        if self.workdays.contains(&day) {
            return true;
        }
        self.weekdays[weekday(day) as usize] && !self.holidays.contains(&day)
    }

    pub fn is_open(&self, unix: i64) -> bool {
        let (day, secs) = self.local(unix);
        self.is_working_day(day) && self.periods.iter().any(|&(a, b)| a <= secs && secs < b)
    }

    /// Seconds of opening time in `[from, to)`. The ladder's clock: it stands still at night, at
    /// lunch, at weekends and on holidays.
    pub fn working_secs(&self, from: i64, to: i64) -> i64 {
        open_secs(&[self], from, to)
    }

    /// The first instant at or after `unix` when the service is open (within a year).
    pub fn next_open(&self, unix: i64) -> Option<i64> {
        let (today, _) = self.local(unix);
        (today..today + 366)
            .filter(|&d| self.is_working_day(d))
            .flat_map(|d| {
                let base = self.midnight(d);
                self.periods.iter().map(move |&(a, b)| (base + a, base + b))
            })
            .find(|&(_, end)| end > unix)
            .map(|(start, _)| start.max(unix))
    }

    /// `at` as a resident reads it, relative to `now`: 今天14:00, 明天8:30, 12月7日（周一）8:30.
    pub fn describe(&self, now: i64, at: i64) -> String {
        let (today, _) = self.local(now);
        let (day, secs) = self.local(at);
        let clock = format!("{}:{:02}", secs / 3600, secs % 3600 / 60);
        match day - today {
            0 => format!("今天{clock}"),
            1 => format!("明天{clock}"),
            _ => {
                let (_, m, d) = civil(day);
                format!("{m}月{d}日（{}）{clock}", WEEKDAYS[weekday(day) as usize])
            }
        }
    }

    /// `YYYY-MM-DD HH:MM` in local time, as the ledger shows it.
    pub fn format_datetime(&self, unix: i64) -> String {
        let (day, secs) = self.local(unix);
        let (y, m, d) = civil(day);
        format!(
            "{y:04}-{m:02}-{d:02} {:02}:{:02}",
            secs / 3600,
            secs % 3600 / 60
        )
    }
}

/// Seconds in `[from, to)` when at least one of `schedules` is open (their union): the ladder's
/// clock for a rung with several agents. The schedules share one UTC offset, as agents' duty hours
/// take the office's.
pub fn open_secs(schedules: &[&OfficeHours], from: i64, to: i64) -> i64 {
    let Some(first) = schedules.first() else {
        return 0;
    };
    if to <= from {
        return 0;
    }
    let (start, _) = first.local(from);
    let (last, _) = first.local(to);
    // A ticket left unclaimed for years still costs one pass over ten years at most.
    let last = last.min(start + 3660);
    let mut total = 0;
    let mut open = Vec::new();
    for day in start..=last {
        open.clear();
        for h in schedules.iter().filter(|h| h.is_working_day(day)) {
            let base = h.midnight(day);
            open.extend(
                h.periods
                    .iter()
                    .map(|&(a, b)| ((base + a).max(from), (base + b).min(to))),
            );
        }
        open.sort_unstable();
        // Count each second once where periods of several schedules overlap.
        let mut counted = i64::MIN;
        for &(a, b) in &open {
            let a = a.max(counted);
            if b > a {
                total += b - a;
                counted = b;
            }
        }
    }
    total
}

/// Pushes a configuration error about `file`.
fn reporter<'e>(
    file: &'e Path,
    errors: &'e mut Vec<ConfigError>,
) -> impl FnMut(String, String) + 'e {
    move |key, message| {
        errors.push(ConfigError {
            file: file.to_path_buf(),
            key,
            message,
        })
    }
}

pub const WEEKDAYS: [&str; 7] = ["周一", "周二", "周三", "周四", "周五", "周六", "周日"];

/// 0 = Monday … 6 = Sunday (1970-01-01 was a Thursday).
pub fn weekday(day: i64) -> i64 {
    (day + 3).rem_euclid(7)
}

/// Day number of a civil date (proleptic Gregorian), after Howard Hinnant's `days_from_civil`.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Civil date of a day number (inverse of [`days_from_civil`]).
pub fn civil(day: i64) -> (i64, u32, u32) {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A `YYYY-MM-DD` date as a day number; `None` unless it is a real date.
pub fn parse_date(text: &str) -> Option<i64> {
    let mut parts = text.trim().split('-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let d: u32 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let day = days_from_civil(y, m, d);
    (civil(day) == (y, m, d)).then_some(day)
}

fn parse_offset(text: &str) -> Option<i64> {
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 14 && m < 60).then_some(sign * (h * 3600 + m * 60))
}

pub fn parse_clock(text: &str) -> Option<i64> {
    let (h, m) = text.trim().split_once(':')?;
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    ((0..=24).contains(&h) && (0..60).contains(&m) && h * 60 + m <= 24 * 60)
        .then_some(h * 3600 + m * 60)
}

fn parse_period(text: &str) -> Option<(i64, i64)> {
    let (a, b) = text.split_once('-')?;
    let (a, b) = (parse_clock(a)?, parse_clock(b)?);
    (a < b).then_some((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unix seconds of a local (UTC+8) date and time.
    fn at(y: i64, m: u32, d: u32, h: i64, min: i64) -> i64 {
        days_from_civil(y, m, d) * DAY + h * 3600 + min * 60 - 8 * 3600
    }

    #[test]
    fn calendar_round_trips() {
        for day in -1000..30_000 {
            let (y, m, d) = civil(day);
            assert_eq!(days_from_civil(y, m, d), day);
        }
        assert_eq!(parse_date("2026-12-07"), Some(days_from_civil(2026, 12, 7)));
        assert_eq!(parse_date("2026-02-30"), None);
        assert_eq!(parse_date("2026/12/07"), None);
        // 2026-12-07 is a Monday.
        assert_eq!(weekday(days_from_civil(2026, 12, 7)), 0);
    }

    #[test]
    fn clock_pauses_outside_office_hours() {
        let h = OfficeHours::default();
        // Friday 17:00 to Monday 09:00: 30 minutes on Friday, 30 on Monday.
        let fri = at(2026, 12, 4, 17, 0);
        let mon = at(2026, 12, 7, 9, 0);
        assert_eq!(h.working_secs(fri, mon), 3600);
        // Lunch does not count.
        assert_eq!(
            h.working_secs(at(2026, 12, 7, 11, 30), at(2026, 12, 7, 14, 30)),
            3600
        );
        assert!(!h.is_open(at(2026, 12, 5, 10, 0)));
        assert!(h.is_open(at(2026, 12, 7, 10, 0)));
    }

    #[test]
    fn next_opening_and_how_a_resident_reads_it() {
        let h = OfficeHours::default();
        let fri_evening = at(2026, 12, 4, 20, 0);
        let next = h.next_open(fri_evening).unwrap();
        assert_eq!(next, at(2026, 12, 7, 8, 30));
        assert_eq!(h.describe(fri_evening, next), "12月7日（周一）8:30");
        let lunch = at(2026, 12, 7, 12, 30);
        assert_eq!(h.describe(lunch, h.next_open(lunch).unwrap()), "今天14:00");
        let sun = at(2026, 12, 6, 21, 0);
        assert_eq!(h.describe(sun, h.next_open(sun).unwrap()), "明天8:30");
        assert_eq!(h.format_datetime(lunch), "2026-12-07 12:30");
    }

    #[test]
    fn holidays_close_and_workdays_open() {
        let spec = HoursSpec {
            utc_offset: "+08:00".into(),
            weekdays: vec![1, 2, 3, 4, 5],
            periods: vec!["08:30-12:00".into()],
            holidays: vec!["2026-12-07".into()],
            workdays: vec!["2026-12-05".into()],
        };
        let mut errors = Vec::new();
        let h = OfficeHours::from_spec(&spec, Path::new("org.toml"), &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        assert!(!h.is_open(at(2026, 12, 7, 9, 0)));
        assert!(h.is_open(at(2026, 12, 5, 9, 0)));
    }

    #[test]
    fn duty_hours_keep_the_office_calendar_and_add_up_as_a_union() {
        let spec = HoursSpec {
            utc_offset: "+08:00".into(),
            weekdays: vec![1, 2, 3, 4, 5],
            periods: vec!["08:30-12:00".into(), "14:00-17:30".into()],
            holidays: vec!["2026-12-08".into()],
            workdays: vec![],
        };
        let mut errors = Vec::new();
        let office = OfficeHours::from_spec(&spec, Path::new("org.toml"), &mut errors);
        let mornings = DutySpec {
            weekdays: vec![1, 2, 3, 4, 5, 6],
            periods: vec!["08:00-12:00".into()],
        };
        let duty = office.duty(
            &mornings,
            "agents.a30.duty",
            Path::new("org.toml"),
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert!(duty.is_open(at(2026, 12, 5, 9, 0)), "Saturday morning");
        assert!(!duty.is_open(at(2026, 12, 7, 14, 30)), "Monday afternoon");
        assert!(!duty.is_open(at(2026, 12, 8, 9, 0)), "the office's holiday");
        // Saturday: the agent's 4 hours; together with the office nothing more.
        let (sat, sun) = (at(2026, 12, 5, 0, 0), at(2026, 12, 6, 0, 0));
        assert_eq!(open_secs(&[&duty, &office], sat, sun), 4 * 3600);
        // Monday: 08:00–12:00 and 14:00–17:30, the overlap of the mornings counted once.
        let (mon, tue) = (at(2026, 12, 7, 0, 0), at(2026, 12, 8, 0, 0));
        assert_eq!(open_secs(&[&duty, &office], mon, tue), 7 * 3600 + 1800);
        assert_eq!(
            open_secs(&[&office], mon, tue),
            office.working_secs(mon, tue)
        );
        assert_eq!(open_secs(&[], mon, tue), 0);
    }

    #[test]
    fn bad_duty_is_named_under_the_agent() {
        let bad = DutySpec {
            weekdays: vec![6, 8],
            periods: vec!["8点-12点".into()],
        };
        let mut errors = Vec::new();
        OfficeHours::default().duty(&bad, "agents.a30.duty", Path::new("org.toml"), &mut errors);
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            ["agents.a30.duty.weekdays[1]", "agents.a30.duty.periods[0]"]
        );
    }

    #[test]
    fn bad_hours_are_named() {
        let spec = HoursSpec {
            utc_offset: "8".into(),
            weekdays: vec![0],
            periods: vec!["12:00-08:30".into()],
            holidays: vec!["tomorrow".into()],
            workdays: vec![],
        };
        let mut errors = Vec::new();
        OfficeHours::from_spec(&spec, Path::new("org.toml"), &mut errors);
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "office_hours.utc_offset",
                "office_hours.weekdays[0]",
                "office_hours.periods[0]",
                "office_hours.holidays[0]"
            ]
        );
    }
}
