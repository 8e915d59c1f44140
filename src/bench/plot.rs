//! `--plot FILE.svg`: one picture of a load run. The top panel is the latency percentile
//! curve on HdrHistogram's usual "1/(1-p)" axis, so the tail from p90 to p99.99 gets as
//! much room as the median; the bottom panel is deliveries per second over the run, so
//! a stall or a slow start shows instead of vanishing into an average.
//!
//! plotters' SVG backend writes `<text>` elements itself and estimates text sizes
//! without a font file, so drawing needs no system fonts or C libraries.

use super::hgrm::MICROS_PER_MS;
use super::report::{format_micros, LoadReport};
use super::timeline::RatePoint;
use hdrhistogram::Histogram;
use plotters::coord::Shift;
use plotters::prelude::*;

/// The picture's size in pixels.
const SIZE: (u32, u32) = (1000, 800);
/// The axis ends at p99.99: `log10(1/(1-0.9999))`. Beyond it a run of a few thousand
/// deliveries has no points, only its maximum.
const NINES: f64 = 4.0;
/// Points along the percentile axis: one per 0.01 of a nine.
const CURVE_STEPS: u32 = 400;
/// The shortest time axis, so a run with no deliveries still has one to draw.
const MIN_SPAN_S: f64 = 0.001;
/// Room above the highest point, as a fraction of it.
const HEADROOM: f64 = 1.1;
const FONT: &str = "sans-serif";
/// Room right of a panel for the last x label (`99.99%`) to sit centred on the edge.
const RIGHT_MARGIN: u32 = 40;

/// What can go wrong while drawing; plotters' error types differ per area.
type Drawn = Result<(), String>;

/// The SVG text of `report`'s latency curve and throughput, titled `title`.
///
/// # Errors
/// A one-line reason if plotters could not lay the picture out.
pub fn render_svg(report: &LoadReport, title: &str) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let body = root.titled(title, (FONT, 22)).map_err(|e| e.to_string())?;
        let (top, bottom) = body.split_vertically(SIZE.1 / 2 - 20);
        draw_latency(&top, report)?;
        draw_throughput(&bottom, report)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// The top panel: latency in ms against percentile, from p0 to p99.99.
fn draw_latency<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, report: &LoadReport) -> Drawn {
    let curve = report
        .histogram
        .as_ref()
        .map(percentile_curve)
        .unwrap_or_default();
    let top = curve.iter().map(|&(_, ms)| ms).fold(0.0, f64::max);
    let caption = match report.latency.count {
        0 => "latency by percentile: no deliveries".to_string(),
        n => format!(
            "latency by percentile over {n} deliveries (p50 {}, p99 {}, p99.9 {}, max {})",
            format_micros(report.latency.p50),
            format_micros(report.latency.p99),
            format_micros(report.latency.p999),
            format_micros(report.latency.max)
        ),
    };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 16))
        .margin(15)
        .margin_right(RIGHT_MARGIN)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..NINES, 0.0..y_top(top))
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_labels(NINES as usize + 1)
        .x_label_formatter(&|nines| percentile_label(*nines))
        .y_label_formatter(&|ms| format!("{ms} ms"))
        .x_desc("percentile")
        .y_desc("latency (ms)")
        .draw()
        .map_err(|e| e.to_string())?;
    if !curve.is_empty() {
        let line = LineSeries::new(curve, BLUE.stroke_width(2));
        chart.draw_series(line).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The bottom panel: deliveries per second, one step per second of the run.
fn draw_throughput<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, report: &LoadReport) -> Drawn {
    let points = &report.timeline;
    let top = points.iter().map(|p| p.per_s).fold(0.0, f64::max);
    let end_s = points.iter().map(|p| p.to_s).fold(report.duration_s, f64::max);
    let mean = match report.duration_s {
        0.0 => String::new(),
        s => format!(
            ": {} on average over {s:.2} s",
            short_number(report.deliveries_per_s())
        ),
    };
    let mut chart = ChartBuilder::on(area)
        .caption(format!("deliveries per second{mean}"), (FONT, 16))
        .margin(15)
        .margin_right(RIGHT_MARGIN)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..end_s.max(MIN_SPAN_S), 0.0..y_top(top))
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .y_label_formatter(&|n| short_number(*n))
        .x_desc("seconds since sending started")
        .y_desc("deliveries/s")
        .draw()
        .map_err(|e| e.to_string())?;
    if !points.is_empty() {
        let line = LineSeries::new(steps(points), RED.stroke_width(2));
        chart.draw_series(line).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// `(nines, ms)` along the percentile axis: `nines` is `log10(1/(1-p))`, so 1 is p90,
/// 2 is p99 and 4 is p99.99. Sampled evenly along the axis rather than at the
/// histogram's own ticks, so the tail is as finely drawn as the median.
pub fn percentile_curve(hist: &Histogram<u64>) -> Vec<(f64, f64)> {
    if hist.is_empty() {
        return Vec::new();
    }
    (0..=CURVE_STEPS)
        .map(|step| {
            let nines = NINES * f64::from(step) / f64::from(CURVE_STEPS);
            let quantile = 1.0 - 10f64.powf(-nines);
            let micros = hist.value_at_quantile(quantile);
            (nines, micros as f64 / MICROS_PER_MS)
        })
        .collect()
}

/// The label for `nines` on the percentile axis: `0%`, `90%`, `99%`, `99.9%`, `99.99%`.
pub fn percentile_label(nines: f64) -> String {
    let percent = 100.0 * (1.0 - 10f64.powf(-nines));
    // Two digits before the point, so 99.9 keeps one decimal and 99.99 two.
    let decimals = (nines.round() as usize).saturating_sub(2);
    format!("{percent:.decimals$}%")
}

/// Each rate held flat over its interval: `(from, r), (to, r)`, one interval after
/// another, so the line shows what was measured and no slope between seconds.
fn steps(points: &[RatePoint]) -> Vec<(f64, f64)> {
    points
        .iter()
        .flat_map(|p| [(p.from_s, p.per_s), (p.to_s, p.per_s)])
        .collect()
}

/// `1.25M`, `808k`, `12.5`: three significant digits, so labels fit their column.
fn short_number(n: f64) -> String {
    let (value, suffix) = match n.abs() {
        m if m >= 1e6 => (n / 1e6, "M"),
        k if k >= 1e3 => (n / 1e3, "k"),
        _ => (n, ""),
    };
    let decimals = match value.abs() {
        v if v >= 100.0 => 0,
        v if v >= 10.0 => 1,
        _ => 2,
    };
    let text = format!("{value:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        &text
    };
    format!("{text}{suffix}")
}

/// The top of a value axis: room above the highest point, and a unit when there is
/// nothing to draw.
fn y_top(highest: f64) -> f64 {
    if highest > 0.0 {
        highest * HEADROOM
    } else {
        1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_percentile_axis_is_labelled_in_nines() {
        let labels: Vec<String> = (0..=4).map(|n| percentile_label(f64::from(n))).collect();
        assert_eq!(labels, ["0%", "90%", "99%", "99.9%", "99.99%"]);
    }

    #[test]
    fn the_curve_runs_from_the_minimum_to_p9999_in_ms() {
        let mut hist = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for us in 1..=100_000 {
            hist.record(us).unwrap();
        }
        let curve = percentile_curve(&hist);
        assert_eq!(curve.len(), CURVE_STEPS as usize + 1);
        assert_eq!(curve[0], (0.0, 0.001));
        let (nines, ms) = curve[curve.len() - 1];
        assert_eq!(nines, 4.0);
        assert!((ms - 99.99).abs() < 0.1, "{ms}");
        assert!(curve.windows(2).all(|w| w[0].1 <= w[1].1));
        assert!(percentile_curve(&Histogram::new(3).unwrap()).is_empty());
    }

    #[test]
    fn rates_are_drawn_as_steps() {
        let points = [
            RatePoint {
                from_s: 0.0,
                to_s: 1.0,
                per_s: 10.0,
            },
            RatePoint {
                from_s: 1.0,
                to_s: 1.5,
                per_s: 4.0,
            },
        ];
        assert_eq!(steps(&points), [(0.0, 10.0), (1.0, 10.0), (1.0, 4.0), (1.5, 4.0)]);
    }

    #[test]
    fn axis_numbers_are_short() {
        assert_eq!(short_number(1_250_000.0), "1.25M");
        assert_eq!(short_number(800_000.0), "800k");
        assert_eq!(short_number(808_011.27), "808k");
        assert_eq!(short_number(12_500.0), "12.5k");
        assert_eq!(short_number(12.0), "12");
        assert_eq!(short_number(0.5), "0.5");
    }

    #[test]
    fn an_empty_report_still_draws_both_panels() {
        let svg = render_svg(&LoadReport::default(), "mio-chat bench --clients 1").unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("mio-chat bench --clients 1"));
        assert!(svg.contains("no deliveries"));
    }
}
