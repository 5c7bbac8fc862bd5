//! The statistics page's charts, drawn on the server as SVG with plotters: questions, answers
//! and tickets per day, and the 好差评 distribution. The page embeds the SVG as it is.

use super::Report;
use plotters::prelude::*;

const ASKED: RGBColor = RGBColor(37, 99, 235);
const ANSWERED: RGBColor = RGBColor(22, 163, 74);
const OPENED: RGBColor = RGBColor(234, 88, 12);

/// Questions asked and answered (lines) and tickets opened (bars) per day.
pub fn daily(r: &Report) -> String {
    let mut svg = String::new();
    if let Err(e) = draw_daily(r, &mut svg) {
        tracing::warn!(error = %e, "the daily chart could not be drawn");
        return String::new();
    }
    svg
}

fn draw_daily(r: &Report, svg: &mut String) -> Result<(), Box<dyn std::error::Error>> {
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
    let mut chart = ChartBuilder::on(&root)
        .margin(8)
        .x_label_area_size(24)
        .y_label_area_size(32)
        .build_cartesian_2d(0..n, 0..max + max / 5 + 1)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n.min(10))
        .x_label_formatter(&|i| labels.get(*i).cloned().unwrap_or_default())
        .y_label_formatter(&|v| v.to_string())
        .draw()?;
    chart.draw_series(r.days.iter().enumerate().map(|(i, d)| {
        let mut bar = Rectangle::new([(i, 0), (i + 1, d.opened)], OPENED.mix(0.5).filled());
        bar.set_margin(0, 0, 2, 2);
        bar
    }))?;
    for (color, pick) in [
        (ASKED, (|d: &super::Row| d.asked) as fn(&super::Row) -> i64),
        (ANSWERED, |d: &super::Row| d.answered),
    ] {
        chart.draw_series(LineSeries::new(
            r.days.iter().enumerate().map(|(i, d)| (i, pick(d))),
            color.stroke_width(2),
        ))?;
    }
    root.present()?;
    Ok(())
}

/// The five levels of 好差评 as bars.
pub fn ratings(r: &Report) -> String {
    let mut svg = String::new();
    if let Err(e) = draw_ratings(r, &mut svg) {
        tracing::warn!(error = %e, "the ratings chart could not be drawn");
        return String::new();
    }
    svg
}

fn draw_ratings(r: &Report, svg: &mut String) -> Result<(), Box<dyn std::error::Error>> {
    let levels = &r.ratings.levels;
    let max = levels.iter().map(|c| c.count).max().unwrap_or(0).max(1);
    let root = SVGBackend::with_string(svg, (640, 200)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .margin(8)
        .x_label_area_size(24)
        .y_label_area_size(32)
        .build_cartesian_2d(0..levels.len(), 0..max + max / 5 + 1)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(levels.len())
        .x_label_formatter(&|i| levels.get(*i).map_or_else(String::new, |c| c.label.clone()))
        .draw()?;
    chart.draw_series(levels.iter().enumerate().map(|(i, c)| {
        let color = if i >= 3 { OPENED } else { ANSWERED };
        let mut bar = Rectangle::new([(i, 0), (i + 1, c.count)], color.filled());
        bar.set_margin(0, 0, 12, 12);
        bar
    }))?;
    root.present()?;
    Ok(())
}
