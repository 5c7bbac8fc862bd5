//! The statistics page's charts, drawn on the server as SVG with plotters: questions, answers
//! and tickets per day, and the 好差评 distribution. The page (`console::stats`) embeds the SVG
//! inline, unescaped, only when [`embeddable`] finds it plain: plotters escapes the text it
//! draws, and our labels are dates and fixed Chinese words.

use super::Report;
use plotters::coord::ranged1d::SegmentedCoord;
use plotters::coord::types::RangedCoordusize;
use plotters::prelude::*;

const ASKED: RGBColor = RGBColor(37, 99, 235);
const ANSWERED: RGBColor = RGBColor(22, 163, 74);
const OPENED: RGBColor = RGBColor(234, 88, 12);

/// Questions asked and answered (lines) and tickets opened (bars) per day.
pub fn daily(r: &Report) -> String {
    drawn("daily", |svg| draw_daily(r, svg))
}

type Drawn = Result<(), Box<dyn std::error::Error>>;

/// `n` segments on the x axis, one per bar (plotters' segmented range holds its end too).
fn segments(n: usize) -> SegmentedCoord<RangedCoordusize> {
    (0..n.max(2) - 1).into_segmented()
}

/// The SVG `draw` makes, or nothing when it fails — also when plotters panics on some input: a
/// chart never takes the page down with it.
fn drawn(name: &str, draw: impl FnOnce(&mut String) -> Drawn) -> String {
    let mut svg = String::new();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        draw(&mut svg).map_err(|e| e.to_string())
    }));
    match result {
        Ok(Ok(())) => svg,
        Ok(Err(e)) => {
            tracing::warn!(chart = name, error = %e, "a statistics chart could not be drawn");
            String::new()
        }
        Err(_) => {
            tracing::error!(chart = name, "plotters panicked drawing a statistics chart");
            String::new()
        }
    }
}

fn draw_daily(r: &Report, svg: &mut String) -> Drawn {
    let n = r.days.len().max(1);
    let max = r
        .days
        .iter()
        .map(|d| d.asked.max(d.opened).max(d.answered))
        .max()
        .unwrap_or(0)
        .max(1);
    let root = SVGBackend::with_string(svg, (640, 260)).into_drawing_area();
    root.fill(&WHITE)?;
    let labels: Vec<String> = r.days.iter().map(|d| d.key[5..].to_owned()).collect();
    // Day i is the segment i: its bar fills it, its points and label sit in its middle.
    let mut chart = ChartBuilder::on(&root)
        .margin(8)
        .x_label_area_size(24)
        .y_label_area_size(32)
        .build_cartesian_2d(segments(n), 0..max + max / 5 + 1)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(TRANSPARENT)
        .label_style(("sans-serif", 15))
        .x_labels(n.min(10))
        .x_label_formatter(&|x| match x {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                labels.get(*i).cloned().unwrap_or_default()
            }
            SegmentValue::Last => String::new(),
        })
        .y_label_formatter(&|v| v.to_string())
        .draw()?;
    chart.draw_series(r.days.iter().enumerate().map(|(i, d)| {
        let mut bar = Rectangle::new(
            [
                (SegmentValue::Exact(i), 0),
                (SegmentValue::Exact(i + 1), d.opened),
            ],
            OPENED.mix(0.5).filled(),
        );
        bar.set_margin(0, 0, 2, 2);
        bar
    }))?;
    for (color, pick) in [
        (ASKED, (|d: &super::Row| d.asked) as fn(&super::Row) -> i64),
        (ANSWERED, |d: &super::Row| d.answered),
    ] {
        chart.draw_series(LineSeries::new(
            r.days
                .iter()
                .enumerate()
                .map(|(i, d)| (SegmentValue::CenterOf(i), pick(d))),
            color.stroke_width(2),
        ))?;
    }
    root.present()?;
    Ok(())
}

/// The five levels of 好差评 as bars.
pub fn ratings(r: &Report) -> String {
    drawn("ratings", |svg| draw_ratings(r, svg))
}

fn draw_ratings(r: &Report, svg: &mut String) -> Drawn {
    let levels = &r.ratings.levels;
    let max = levels.iter().map(|c| c.count).max().unwrap_or(0).max(1);
    let root = SVGBackend::with_string(svg, (640, 200)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .margin(8)
        .x_label_area_size(24)
        .y_label_area_size(32)
        .build_cartesian_2d(segments(levels.len()), 0..max + max / 5 + 1)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(TRANSPARENT)
        .label_style(("sans-serif", 15))
        .x_labels(levels.len())
        .x_label_formatter(&|x| match x {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                levels.get(*i).map_or_else(String::new, |c| c.label.clone())
            }
            SegmentValue::Last => String::new(),
        })
        .y_label_formatter(&|v| v.to_string())
        .draw()?;
    chart.draw_series(levels.iter().enumerate().map(|(i, c)| {
        let color = if i >= 3 { OPENED } else { ANSWERED };
        let mut bar = Rectangle::new(
            [
                (SegmentValue::Exact(i), 0),
                (SegmentValue::Exact(i + 1), c.count),
            ],
            color.filled(),
        );
        bar.set_margin(0, 0, 12, 12);
        bar
    }))?;
    root.present()?;
    Ok(())
}

/// Whether `svg` may be embedded in a page as it is: one `<svg>` element as plotters draws it
/// (text and attributes escaped by plotters), with nothing active in it — no script, no foreign
/// content, no event handler, no link. Anything else is left off the page.
pub fn embeddable(svg: &str) -> bool {
    let lower = svg.to_ascii_lowercase();
    let start = lower.trim_start();
    start.starts_with("<svg ")
        && lower.trim_end().ends_with("</svg>")
        && lower.matches("<svg").count() == 1
        && ![
            "<script",
            "<foreignobject",
            "<iframe",
            "<a ",
            "href",
            "javascript:",
            "<style",
        ]
        .iter()
        .any(|bad| lower.contains(bad))
        && !lower
            .split(|c: char| c.is_ascii_whitespace())
            .any(|word| word.starts_with("on") && word.contains('='))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{Count, Durations, Questions, Ratings, Report, Row, Tickets};

    fn report(label: &str) -> Report {
        let level = |i: i64| Count {
            key: i.to_string(),
            label: label.to_owned(),
            count: i,
        };
        Report {
            from: "2026-12-01".into(),
            to: "2026-12-02".into(),
            scope: "all".into(),
            scope_label: label.into(),
            item: None,
            sandbox: false,
            questions: Questions::default(),
            tickets: Tickets::default(),
            first_response: Durations::default(),
            resolution: Durations::default(),
            ratings: Ratings {
                levels: (1..=5).map(level).collect(),
                ..Ratings::default()
            },
            days: ["2026-12-01", "2026-12-02"]
                .iter()
                .map(|d| Row {
                    key: (*d).into(),
                    label: (*d).into(),
                    asked: 3,
                    answered: 2,
                    opened: 1,
                    ..Row::default()
                })
                .collect(),
            villages: Vec::new(),
            items: Vec::new(),
            aspects: Vec::new(),
        }
    }

    #[test]
    fn the_charts_are_svg_with_their_labels_escaped() {
        let r = report("<script>alert(1)</script>满意");
        let svg = ratings(&r);
        assert!(svg.contains("&lt;script&gt;"), "{svg}");
        assert!(!svg.contains("<script"), "{svg}");
        assert!(embeddable(&svg), "{svg}");
        let svg = daily(&r);
        assert!(svg.contains("12-01"), "{svg}");
        assert!(embeddable(&svg), "{svg}");
    }

    #[test]
    fn charts_draw_for_any_period_and_any_counts() {
        let mut r = report("满意");
        for days in [1usize, 2, 7, 28, 31, 62, 366, 1000] {
            for count in [0i64, 1, 7, 1_000_000] {
                r.days = (0..days)
                    .map(|i| Row {
                        key: crate::stats::date(20_000 + i as i64),
                        asked: count,
                        answered: count / 2,
                        opened: count / 3,
                        ..Row::default()
                    })
                    .collect();
                for l in &mut r.ratings.levels {
                    l.count = count;
                }
                let svg = daily(&r);
                assert!(embeddable(&svg), "{days} days of {count}");
                assert!(embeddable(&ratings(&r)), "ratings of {count}");
            }
        }
    }

    #[test]
    fn anything_active_is_not_embedded() {
        for bad in [
            "<svg width=\"1\"><script>alert(1)</script></svg>",
            "<svg width=\"1\" onload=\"alert(1)\"></svg>",
            "<svg width=\"1\"><a href=\"javascript:alert(1)\">x</a></svg>",
            "<div>not svg</div>",
            "",
        ] {
            assert!(!embeddable(bad), "{bad}");
        }
        assert!(embeddable("<svg width=\"1\" height=\"1\"><rect/></svg>"));
    }
}
