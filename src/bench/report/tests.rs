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
        servers: Vec::new(),
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

fn usage(before: u64, after: u64, cpu_s: f64) -> Option<ServerUsage> {
    Some(ServerUsage {
        rss_before_kib: before,
        rss_after_kib: after,
        cpu_s,
    })
}

/// The clean run on two servers: 2 senders and 25 receivers on the first, 25 on the
/// second, both watched.
fn two_server_run() -> LoadReport {
    let server = |addr: &str, senders, p50, usage| ServerReport {
        addr: addr.to_string(),
        connections: senders + 25,
        ready: senders + 25,
        senders,
        receivers: 25,
        deliveries: 10_000,
        lost: 0,
        latency: Latency {
            count: 10_000,
            p50,
            p99: 1_500,
            ..Latency::default()
        },
        usage,
    };
    let mut run = clean_run();
    run.server = usage(3000, 7000, 1.5);
    run.servers = vec![
        server("127.0.0.1:7412", 2, 100, usage(1000, 3000, 1.0)),
        server("127.0.0.1:7413", 0, 140, usage(2000, 4000, 0.5)),
    ];
    run
}

#[test]
fn one_server_keeps_the_text_it_always_had() {
    let mut run = clean_run();
    run.server = usage(1000, 3000, 0.25);
    let before = run.to_text();
    run.servers = vec![ServerReport {
        addr: "127.0.0.1:7412".to_string(),
        receivers: 50,
        usage: run.server,
        ..ServerReport::default()
    }];
    assert_eq!(run.to_text(), before);
    assert!(
        before.contains("\ncpu         bench 0.00 s, server 0.25 s\n"),
        "{before}"
    );
    assert!(
        before.contains("\nserver rss  1000 KiB before, 3000 KiB after\n"),
        "{before}"
    );
    let json = run.to_json();
    assert!(
        json.contains(r#""server_cpu_s":0.25,"servers":1,"server1_addr":"127.0.0.1:7412","#),
        "{json}"
    );
}

#[test]
fn several_servers_are_listed_with_their_receivers_and_summed() {
    let run = two_server_run();
    let text = run.to_text();
    for line in [
        "server 1    127.0.0.1:7412: 2 senders, 25 receivers; 10000 deliveries, lost 0; \
         p50 100 µs, p99 1.50 ms; cpu 1.00 s, rss 1000 -> 3000 KiB\n",
        "server 2    127.0.0.1:7413: 25 receivers; 10000 deliveries, lost 0; \
         p50 140 µs, p99 1.50 ms; cpu 0.50 s, rss 2000 -> 4000 KiB\n",
        "cpu         bench 0.00 s, server 1.50 s (2 servers together)\n",
        "server rss  3000 KiB before, 7000 KiB after (2 servers together)\n",
    ] {
        assert!(text.contains(line), "no {line:?} in\n{text}");
    }
    let json = run.to_json();
    for field in [
        r#""server_rss_before_kib":3000,"server_rss_after_kib":7000,"server_cpu_s":1.5,"servers":2,"#,
        r#""server1_addr":"127.0.0.1:7412","server1_senders":2,"server1_receivers":25,"#,
        r#""server2_addr":"127.0.0.1:7413","server2_senders":0,"server2_receivers":25,"#,
        r#""server2_deliveries":10000,"server2_lost":0,"server2_latency_p50_us":140,"#,
        r#""server2_cpu_s":0.5,"server2_rss_before_kib":2000,"server2_rss_after_kib":4000,"ok":true}"#,
    ] {
        assert!(json.contains(field), "{field} missing from {json}");
    }
}

#[test]
fn a_report_with_servers_still_reads_back_and_compares_with_an_old_one() {
    use crate::bench::json_read::parse_flat_object;
    let new = two_server_run().to_json();
    let fields = parse_flat_object(&new).unwrap();
    let old = parse_flat_object(&clean_run().to_json()).unwrap();
    // Every field an old report had is still there, under the same name and in order.
    let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    let old_names: Vec<&str> = old.iter().map(|(k, _)| k.as_str()).collect();
    let kept: Vec<&str> = names.iter().copied().filter(|k| old_names.contains(k)).collect();
    assert_eq!(kept, old_names);
}

#[test]
fn an_idle_run_on_two_servers_lists_each_with_its_memory() {
    let server = |addr: &str, before, after| ServerReport {
        addr: addr.to_string(),
        connections: 500,
        ready: 500,
        usage: usage(before, after, 0.1),
        ..ServerReport::default()
    };
    let idle = IdleReport {
        requested: 1000,
        ready: 1000,
        server: usage(3000, 5000, 0.2),
        servers: vec![
            server("127.0.0.1:7412", 1000, 2000),
            server("127.0.0.1:7413", 2000, 3000),
        ],
        ..IdleReport::default()
    };
    assert_eq!(idle.bytes_per_connection(), Some(2048.0));
    let text = idle.to_text();
    assert!(
        text.contains(
            "server 2    127.0.0.1:7413: 500 of 500 connections ready; \
             rss 2000 -> 3000 KiB, 2048 bytes per connection; cpu 0.10 s\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("server cpu  0.20 s (2 servers together)\n"),
        "{text}"
    );
    let json = idle.to_json();
    assert!(
        json.contains(r#""server2_addr":"127.0.0.1:7413","server2_connections":500,"server2_ready":500,"#),
        "{json}"
    );
    assert!(json
        .ends_with(r#""server2_bytes_per_connection":2048,"server_bytes_per_connection":2048,"ok":true}"#));
}
