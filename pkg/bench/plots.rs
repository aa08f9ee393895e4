//! The bench's figures as SVG (`--plots <dir>`): send→deliver latency by percentile, one line per
//! scenario, and the CPU each message costs, one stacked bar per scenario split by process.

use std::path::Path;

use anyhow::Context;
use plotters::{
    coord::ranged1d::SegmentValue,
    prelude::{
        ChartBuilder, Color, IntoDrawingArea, IntoLogRange, IntoSegmentedCoord, LineSeries,
        Palette, Palette99, PathElement, RGBColor, Rectangle, SVGBackend, SeriesLabelPosition,
        BLACK, WHITE,
    },
};

use super::{report::Report, stats::PERCENTILES};

/// The latency plot's file name in the plots' folder.
pub const LATENCY_SVG: &str = "latency-percentiles.svg";
/// The CPU plot's file name in the plots' folder.
pub const CPU_SVG: &str = "cpu-per-message.svg";

/// Colours of the processes in the CPU bars: servers, Postgres, Redis, generator.
const ROLE_COLOURS: [RGBColor; 4] = [
    RGBColor(0xd6, 0x5f, 0x00),
    RGBColor(0x33, 0x67, 0x91),
    RGBColor(0xc4, 0x1e, 0x3a),
    RGBColor(0x88, 0x88, 0x88),
];

/// Writes both plots into `dir` (created if missing), from the reports that have the figures.
pub fn write(reports: &[Report], dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let with_curve: Vec<&Report> = reports
        .iter()
        .filter(|report| report.deliver_curve.len() == PERCENTILES.len())
        .collect();
    if !with_curve.is_empty() {
        latency_plot(&with_curve, &dir.join(LATENCY_SVG))?;
    }
    let with_cpu: Vec<&Report> = reports.iter().filter(|r| r.cpu.is_some()).collect();
    if !with_cpu.is_empty() {
        cpu_plot(&with_cpu, &dir.join(CPU_SVG))?;
    }
    Ok(())
}

/// The label under a category of a segmented axis.
fn category_label(value: &SegmentValue<usize>, labels: &[String]) -> String {
    match value {
        SegmentValue::CenterOf(index) | SegmentValue::Exact(index) => {
            labels.get(*index).cloned().unwrap_or_default()
        }
        SegmentValue::Last => String::new(),
    }
}

/// One line per scenario: x the percentiles p50…p99.9, y send→deliver in ms on a log scale (flat
/// out and paced runs differ by an order of magnitude).
fn latency_plot(reports: &[&Report], path: &Path) -> anyhow::Result<()> {
    let all = reports
        .iter()
        .flat_map(|report| report.deliver_curve.iter());
    let (low, high) = all.fold((f64::MAX, 0f64), |(low, high), ms| {
        (low.min(*ms), high.max(*ms))
    });
    let labels: Vec<String> = PERCENTILES.iter().map(|(l, _)| (*l).to_owned()).collect();
    let root = SVGBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("send→deliver latency by percentile", ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(
            (0..PERCENTILES.len() - 1).into_segmented(),
            ((low.max(0.01) * 0.8)..(high * 1.25)).log_scale(),
        )?;
    chart
        .configure_mesh()
        .x_labels(PERCENTILES.len())
        .x_label_formatter(&|value| category_label(value, &labels))
        .y_labels(8)
        .y_label_formatter(&|ms| format!("{ms:.0}"))
        .light_line_style(WHITE)
        .y_desc("ms (log scale)")
        .draw()?;
    for (index, report) in reports.iter().enumerate() {
        let colour = Palette99::pick(index).to_rgba();
        let points = report.deliver_curve.iter().enumerate();
        chart
            .draw_series(LineSeries::new(
                points.map(|(at, ms)| (SegmentValue::CenterOf(at), *ms)),
                colour.stroke_width(2),
            ))?
            .label(report.scenario.clone())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(2)));
    }
    // Tails rise to the right and flat-out runs sit high: the lower right is where lines are not.
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()
        .with_context(|| format!("writing {}", path.display()))
}

/// One stacked bar per scenario: the CPU µs each acked message cost, by process.
fn cpu_plot(reports: &[&Report], path: &Path) -> anyhow::Result<()> {
    let totals = reports
        .iter()
        .filter_map(|report| report.cpu)
        .map(|cpu| cpu.by_role().iter().map(|(_, micros)| micros).sum::<f64>());
    let highest = totals.fold(1.0, f64::max);
    let labels: Vec<String> = reports.iter().map(|r| r.scenario.clone()).collect();
    let root = SVGBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("CPU per message, by process", ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d((0..reports.len() - 1).into_segmented(), 0.0..highest * 1.15)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(reports.len())
        .x_label_formatter(&|value| category_label(value, &labels))
        .y_desc("CPU µs per acked message")
        .draw()?;
    let mut bases = vec![0.0; reports.len()];
    for (role, colour) in ROLE_COLOURS.iter().enumerate() {
        let mut bars = Vec::new();
        let mut name = "";
        for (index, report) in reports.iter().enumerate() {
            let Some(cpu) = report.cpu else { continue };
            let (role_name, micros) = cpu.by_role()[role];
            name = role_name;
            let (from, to) = (bases[index], bases[index] + micros);
            bases[index] = to;
            let corners = [
                (SegmentValue::Exact(index), from),
                (SegmentValue::Exact(index + 1), to),
            ];
            let mut bar = Rectangle::new(corners, colour.filled());
            bar.set_margin(0, 0, 14, 14);
            bars.push(bar);
        }
        let colour = *colour;
        chart
            .draw_series(bars)?
            .label(name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 12, y + 6)], colour.filled()));
    }
    // The first bar is `private`, a cheap one: its top left is free.
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkg::bench::cost::CpuPerMessage;

    #[test]
    fn both_plots_are_written_as_svg() {
        let report = |name: &str, scale: f64| Report {
            scenario: name.into(),
            deliver_curve: (1..=PERCENTILES.len()).map(|n| n as f64 * scale).collect(),
            cpu: Some(CpuPerMessage {
                servers: 80.0 * scale,
                postgres: 60.0,
                redis: 8.0,
                generator: 30.0,
            }),
            ..Report::default()
        };
        let reports = [report("private", 10.0), report("latency 1", 1.0)];
        let dir = std::env::temp_dir().join(format!("bench-plots-{}", std::process::id()));
        write(&reports, &dir).expect("plots are written");
        for (file, must_name) in [(LATENCY_SVG, "latency 1"), (CPU_SVG, "Postgres")] {
            let svg = std::fs::read_to_string(dir.join(file)).expect("the plot exists");
            assert!(svg.starts_with("<svg"), "{file} is an SVG");
            assert!(svg.contains(must_name), "{file} names {must_name}");
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
