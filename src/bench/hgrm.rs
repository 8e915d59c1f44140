//! `--hgrm`: the latency histogram as HdrHistogram's percentile-distribution text, the
//! `.hgrm` layout that Java's `outputPercentileDistribution` prints and the HdrHistogram
//! plotter (and most HdrHistogram tooling) reads.
//!
//! The `hdrhistogram` crate has an iterator over the same percentile ticks but no text
//! output (its V2 serialisation is a binary, base64 log format), so the layout is written
//! here, column for column as the Java original prints it.

use hdrhistogram::Histogram;
use std::fmt::Write;

/// Reporting points per halving of the distance to 100%, as in HdrHistogram's default.
pub const TICKS_PER_HALF: u32 = 5;
/// The bench records microseconds; the file reports milliseconds (Java's
/// `-outputValueUnitRatio 1000`), the unit the plotter's axis is usually read in.
pub const MICROS_PER_MS: f64 = 1000.0;
/// Decimals for values: the histogram's 3 significant digits, as Java prints them.
const VALUE_DECIMALS: usize = 3;

/// One reporting point of the percentile distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PercentilePoint {
    /// The highest value equivalent to the one at this point, in recorded units (µs).
    pub value: u64,
    /// The quantile iterated to, 0 to 1 (the last point is exactly 1).
    pub quantile: f64,
    /// Values at or below `value`.
    pub total_count: u64,
}

/// The percentile ticks of `hist`, `ticks_per_half` per halving of the distance to 100%;
/// empty for an empty histogram.
pub fn percentile_points(hist: &Histogram<u64>, ticks_per_half: u32) -> Vec<PercentilePoint> {
    let mut total_count = 0;
    hist.iter_quantiles(ticks_per_half)
        .map(|v| {
            total_count += v.count_since_last_iteration();
            PercentilePoint {
                value: v.value_iterated_to(),
                quantile: v.quantile_iterated_to(),
                total_count,
            }
        })
        .collect()
}

/// The `.hgrm` text of `hist` (values recorded in µs, reported in ms): the header, one
/// row per percentile tick, and the mean, max and bucket footer.
pub fn percentile_distribution(hist: &Histogram<u64>) -> String {
    let mut out = format!(
        "{:>12} {:>14} {:>10} {:>14}\n\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    for point in percentile_points(hist, TICKS_PER_HALF) {
        let value = point.value as f64 / MICROS_PER_MS;
        let _ = write!(
            out,
            "{value:12.VALUE_DECIMALS$} {:2.12} {:10}",
            point.quantile, point.total_count
        );
        // The last row (100%) has no finite 1/(1-p), so Java leaves the column off.
        if point.quantile < 1.0 {
            let _ = write!(out, " {:14.2}", 1.0 / (1.0 - point.quantile));
        }
        out.push('\n');
    }
    let (mean, stdev) = (hist.mean() / MICROS_PER_MS, hist.stdev() / MICROS_PER_MS);
    let max = hist.max() as f64 / MICROS_PER_MS;
    let _ = writeln!(
        out,
        "#[Mean    = {mean:12.VALUE_DECIMALS$}, StdDeviation   = {stdev:12.VALUE_DECIMALS$}]"
    );
    let _ = writeln!(
        out,
        "#[Max     = {max:12.VALUE_DECIMALS$}, Total count    = {:12}]",
        hist.len()
    );
    let _ = writeln!(
        out,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        hist.buckets(),
        sub_bucket_count(hist.sigfig())
    );
    out
}

/// Java's `subBucketCount`: the power of two that gives unit resolution up to
/// `2 * 10^sigfig` (2048 for 3 digits). The crate keeps it private, so it is derived
/// the same way here.
fn sub_bucket_count(sigfig: u8) -> u64 {
    let largest_exact = 2 * 10u64.pow(u32::from(sigfig));
    largest_exact.next_power_of_two()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_to_a_thousand_ms() -> Histogram<u64> {
        let mut hist = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for ms in 1..=1000 {
            hist.record(ms * 1000).unwrap();
        }
        hist
    }

    #[test]
    fn the_header_is_javas_with_a_blank_line_after_it() {
        let text = percentile_distribution(&one_to_a_thousand_ms());
        assert!(text.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)\n\n"));
    }

    #[test]
    fn rows_are_scaled_to_milliseconds_in_javas_columns() {
        let text = percentile_distribution(&one_to_a_thousand_ms());
        let rows: Vec<&str> = text.lines().skip(2).take_while(|l| !l.starts_with('#')).collect();
        assert_eq!(rows[0], "       1.000 0.000000000000          1           1.00");
        assert_eq!(rows[1], "     100.031 0.100000000000        100           1.11");
        assert_eq!(
            rows.last().copied(),
            Some("    1000.447 1.000000000000       1000")
        );
    }

    #[test]
    fn the_footer_has_mean_max_count_and_buckets() {
        let text = percentile_distribution(&one_to_a_thousand_ms());
        let footer: Vec<&str> = text.lines().filter(|l| l.starts_with("#[")).collect();
        assert_eq!(
            footer,
            [
                "#[Mean    =      500.505, StdDeviation   =      288.676]",
                "#[Max     =     1000.447, Total count    =         1000]",
                "#[Buckets =           22, SubBuckets     =         2048]",
            ]
        );
    }

    #[test]
    fn an_empty_histogram_has_a_header_and_footer_only() {
        let hist = Histogram::<u64>::new_with_bounds(1, 1000, 3).unwrap();
        let text = percentile_distribution(&hist);
        assert_eq!(text.lines().count(), 5);
        assert!(text.contains("Total count    =            0]"));
    }

    #[test]
    fn points_climb_to_the_whole_count() {
        let points = percentile_points(&one_to_a_thousand_ms(), TICKS_PER_HALF);
        assert!(points
            .windows(2)
            .all(|w| w[0].value <= w[1].value && w[0].quantile <= w[1].quantile));
        assert_eq!(
            points.last().map(|p| (p.quantile, p.total_count)),
            Some((1.0, 1000))
        );
    }

    #[test]
    fn sub_buckets_match_hdrhistogram_for_each_precision() {
        assert_eq!(sub_bucket_count(1), 32);
        assert_eq!(sub_bucket_count(2), 256);
        assert_eq!(sub_bucket_count(3), 2048);
    }
}
