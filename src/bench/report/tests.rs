use super::*;

fn clean_run() -> LoadReport {
    LoadReport {
        framing: "frames".to_string(),
        receivers: 50,
        senders: 2,
        size: 64,
        messages_sent: 400,
        expected: 20_000,
        tally: Tally {
            deliveries: 20_000,
            in_order: 20_000,
            ..Tally::default()
        },
        duration_s: 0.5,
        latency: Latency {
            count: 20_000,
            p50: 120,
            p90: 900,
            p99: 1_500,
            p999: 2_345_678,
            max: 3_000_000,
        },
        ..LoadReport::default()
    }
}

#[test]
fn latencies_are_shown_in_a_fitting_unit() {
    assert_eq!(format_micros(0), "0 µs");
    assert_eq!(format_micros(999), "999 µs");
    assert_eq!(format_micros(1_000), "1.00 ms");
    assert_eq!(format_micros(1_234_567), "1.23 s");
}

#[test]
fn percentiles_come_from_the_histogram() {
    let mut hist = Histogram::<u64>::new_with_bounds(1, 1_000_000, 3).unwrap();
    for us in 1..=1000 {
        hist.record(us).unwrap();
    }
    let l = Latency::from_histogram(&hist);
    assert_eq!(
        (l.count, l.p50, l.p90, l.p99, l.p999, l.max),
        (1000, 500, 900, 990, 999, 1000)
    );
}

#[test]
fn the_text_report_lists_counts_percentiles_and_the_verdict() {
    let text = clean_run().to_text();
    assert!(text.contains("deliveries  expected 20000, received 20000 (20000 unique), 40000/s over 0.50 s"));
    assert!(text.contains("latency     p50 120 µs, p90 900 µs, p99 1.50 ms, p99.9 2.35 s, max 3.00 s"));
    assert!(text.contains("lost 0, duplicated 0, reordered 0"));
    assert!(text.ends_with("result      OK: nothing lost, duplicated or reordered\n"));
}

#[test]
fn a_loss_fails_the_report() {
    let mut run = clean_run();
    run.lost = 3;
    run.drain_timed_out = true;
    assert!(!run.is_clean());
    assert!(run
        .to_text()
        .contains("result      FAILED (deliveries stopped before all arrived)"));
    assert!(run.to_json().ends_with(r#""ok":false}"#));
}

#[test]
fn the_json_report_is_one_flat_object() {
    let mut run = clean_run();
    run.server = Some(ServerUsage {
        rss_before_kib: 1000,
        rss_after_kib: 3000,
        cpu_s: 0.25,
    });
    let json = run.to_json();
    assert!(json.starts_with(r#"{"mode":"load","framing":"frames","tls":false,"receivers":50,"senders":2,"#));
    for field in [
        r#""rate":null"#,
        r#""expected":20000,"deliveries":20000,"unique":20000,"lost":0"#,
        r#""deliveries_per_s":40000,"#,
        r#""latency_p50_us":120,"latency_p90_us":900,"latency_p99_us":1500"#,
        r#""server_rss_before_kib":1000,"server_rss_after_kib":3000,"server_cpu_s":0.25"#,
    ] {
        assert!(json.contains(field), "{field} missing from {json}");
    }
    assert!(!json.contains('\n'));
}

#[test]
fn the_idle_report_divides_growth_by_connections() {
    let idle = IdleReport {
        requested: 1000,
        tls: false,
        ready: 1000,
        connect_s: 1.0,
        held_s: 2.0,
        server: Some(ServerUsage {
            rss_before_kib: 1000,
            rss_after_kib: 3000,
            cpu_s: 0.5,
        }),
    };
    assert_eq!(idle.bytes_per_connection(), Some(2048.0));
    assert!(idle.to_text().contains("2048 bytes per connection"));
    assert!(idle
        .to_json()
        .contains(r#""server_bytes_per_connection":2048,"ok":true}"#));
}

#[test]
fn a_tls_run_says_so_in_text_and_json() {
    let mut run = clean_run();
    run.tls = true;
    assert!(run
        .to_text()
        .starts_with("mio-chat bench: 50 receivers, 2 senders, 64-byte payloads, frames over TLS, "));
    assert!(run.to_json().contains(r#""framing":"frames","tls":true,"#));
    let idle = IdleReport {
        requested: 3,
        ready: 3,
        tls: true,
        ..IdleReport::default()
    };
    assert!(idle
        .to_text()
        .starts_with("mio-chat bench --idle: 3 of 3 TLS connections ready"));
    assert!(idle.to_json().starts_with(r#"{"mode":"idle","tls":true,"#));
}
