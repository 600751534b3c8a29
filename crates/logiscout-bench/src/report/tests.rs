//! The report's unit tests, from in-memory fixtures.

use super::*;

fn loaded<T>(value: T) -> Input<T> {
    Input::Present(Loaded {
        value,
        source: "target/bench-results/x.json".into(),
        modified: Some(1_764_078_000),
    })
}

fn hot_criterion() -> Criterion {
    let mut c = Criterion::default();
    for (name, m) in [
        ("logiscout", 200.0),
        ("env_logger", 1500.0),
        ("tracing_json_nonblocking", 500.0),
        ("opentelemetry_batch", 800.0),
        ("ftlog", 300.0),
        ("facade_floor", 180.0),
        ("floor_queue", 100.0),
    ] {
        c.insert(HOT_1, name, Estimate::new(m, m * 0.9, m * 1.1));
        c.insert(HOT_2, name, Estimate::new(m * 0.6, m * 0.5, m * 0.7));
        c.insert(
            DISABLED,
            name,
            Estimate::new(m / 400.0, m / 500.0, m / 300.0),
        );
    }
    c
}

/// [`hot_criterion`] without one logger's figures.
fn hot_criterion_without(function: &str) -> Criterion {
    let full = hot_criterion();
    let mut c = Criterion::default();
    for group in [HOT_1, HOT_2, DISABLED] {
        for (name, bench) in &full.groups[group] {
            if name != function {
                c.insert(group, name, bench.est);
            }
        }
    }
    c
}

fn full_inputs() -> Inputs {
    Inputs {
        criterion: hot_criterion(),
        e2e: loaded(E2e {
            server: "logiscout-sink".into(),
            runs: vec![
                E2eRun {
                    latency_ms: 0.0,
                    gzip: false,
                    logs: 100_000.0,
                    repeats: 3.0,
                    seconds: vec![0.05, 0.055, 0.06],
                    median_logs_per_s: Some(1_818_181.8),
                    wire_bytes: 19_500_000.0,
                    bytes_per_log: Some(195.0),
                },
                E2eRun {
                    latency_ms: 0.0,
                    gzip: true,
                    logs: 100_000.0,
                    repeats: 3.0,
                    seconds: vec![0.1],
                    median_logs_per_s: None,
                    wire_bytes: 1_950_000.0,
                    bytes_per_log: None,
                },
            ],
            bottleneck_note: Some("The sink parses every batch.".into()),
        }),
        http: loaded(Http {
            tool: "oha".into(),
            duration_s: 10.0,
            connections: 64.0,
            threads: 1.0,
            rounds: 3.0,
            server_cpu: StrOrNum::Str("0".into()),
            load_cpu: StrOrNum::Num(1.0),
            results: vec![
                HttpResult {
                    framework: "axum".into(),
                    variant: "no layer".into(),
                    requests_per_s: vec![100_000.0, 98_000.0, 102_000.0],
                    median_requests_per_s: Some(100_000.0),
                    p50_latency_us: Some(600.0),
                    p99_latency_us: Some(1500.0),
                    cpu_us_per_request: vec![10.2, 9.8, 10.0],
                    median_cpu_us_per_request: None,
                },
                HttpResult {
                    framework: "axum".into(),
                    variant: "CorrelationLayer".into(),
                    requests_per_s: vec![92_000.0, 95_000.0, 93_000.0],
                    median_requests_per_s: None,
                    p50_latency_us: Some(650.0),
                    p99_latency_us: None,
                    cpu_us_per_request: vec![10.8, 11.0, 10.9],
                    median_cpu_us_per_request: Some(10.9),
                },
                HttpResult {
                    framework: "actix".into(),
                    variant: "no middleware".into(),
                    requests_per_s: vec![120_000.0],
                    median_requests_per_s: Some(120_000.0),
                    ..Default::default()
                },
                HttpResult {
                    framework: "actix".into(),
                    variant: "Correlation".into(),
                    requests_per_s: vec![123_000.0],
                    median_requests_per_s: Some(123_000.0),
                    ..Default::default()
                },
            ],
        }),
        python: loaded(Python {
            client: "logiscout-logger 1.0.1".into(),
            python: "3.11.2".into(),
            calls_per_repeat: 10_000.0,
            repeats: 5.0,
            ns_per_call: vec![150_000.0, 160_000.0, 155_000.0],
            median_ns_per_call: Some(155_000.0),
            logged: 50_000.0,
            delivered: 50_000.0,
            console: "redirected to /dev/null".into(),
            url_patched_to: "http://127.0.0.1:9/ingest".into(),
        }),
        rss: loaded(Rss {
            runs: vec![RssRun {
                records: 1_000_000.0,
                max_buffer_bytes: 64.0 * 1024.0 * 1024.0,
                max_queue_logs: 100_000.0,
                constant_allowance_bytes: 16.0 * 1024.0 * 1024.0,
                baseline_rss_bytes: 8.0 * 1024.0 * 1024.0,
                peak_rss_bytes: 50.0 * 1024.0 * 1024.0,
                growth_bytes: 42.0 * 1024.0 * 1024.0,
                within_cap: Some(true),
                logs_enqueued: 1_000_000.0,
                logs_dropped: 0.0,
                seconds: 2.5,
            }],
        }),
    }
}

#[test]
fn formats_numbers() {
    assert_eq!(thousands(0), "0");
    assert_eq!(thousands(999), "999");
    assert_eq!(thousands(1234), "1,234");
    assert_eq!(thousands(1_234_567), "1,234,567");
    assert_eq!(fmt_ns(1234.4), "1,234 ns");
    assert_eq!(fmt_ns(48.26), "48.3 ns");
    assert_eq!(fmt_ns(0.79), "0.79 ns");
    assert_eq!(fmt_rate(1_800_000.0), "1.80 M/s");
    assert_eq!(fmt_rate(53_600.0), "53.6 k/s");
    assert_eq!(fmt_rate(412.0), "412 /s");
    assert_eq!(fmt_ratio(0.4213), "×0.42");
    assert_eq!(fmt_ratio(12.34), "×12.3");
    assert_eq!(fmt_ratio(812.4), "×812");
    assert_eq!(fmt_ratio(1234.0), "×1,234");
    assert_eq!(fmt_duration(11_100_000.0), "11.1 ms");
    assert_eq!(fmt_duration(3284.0), "3,284 ns");
    assert_eq!(fmt_duration(155_000.0), "155 µs");
    assert_eq!(fmt_bytes(195.0), "195 B");
    assert_eq!(fmt_bytes(64.0 * 1024.0 * 1024.0), "64.0 MiB");
    assert_eq!(fmt_bytes(-2048.0), "-2.00 KiB");
    assert_eq!(fmt_pct(6.25), "6.2 %");
    assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
    assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
    assert_eq!(median(&[]), None);
}

#[test]
fn dates_are_utc_civil() {
    assert_eq!(utc_datetime(0), "1970-01-01 00:00 UTC");
    // 2024-02-29 12:34 UTC
    assert_eq!(utc_datetime(1_709_210_040), "2024-02-29 12:34 UTC");
    assert_eq!(utc_date(1_764_078_000), "2025-11-25");
}

#[test]
fn hot_path_table_is_sorted_with_ratios() {
    let t = render_hot_path(&hot_criterion());
    let rows: Vec<&str> = t.lines().filter(|l| l.starts_with("| ")).skip(1).collect();
    assert_eq!(rows.len(), 7, "{t}");
    assert!(rows[0].contains("floor: bare queue"), "{t}");
    assert!(rows[1].contains("facade floor"), "{t}");
    assert!(rows[2].contains("**logiscout**"), "{t}");
    assert!(
        rows[2].contains("| 200 ns | [180, 220] | ×1.00 | ×2.00 |"),
        "{t}"
    );
    assert!(rows[6].contains("env_logger"));
    assert!(rows[6].contains("| ×7.50 | ×15.0 |"), "{t}");
    assert!(!t.contains("Not measured"));
    assert!(t.contains("_Source: `target/criterion/hot_path_1_thread/*/new/estimates.json`._"));
}

#[test]
fn hot_path_lists_absent_loggers_and_missing_group() {
    let mut c = Criterion::default();
    c.insert(HOT_1, "logiscout", Estimate::new(200.0, 190.0, 210.0));
    let t = render_hot_path(&c);
    assert!(
        t.contains("| ×1.00 | — |"),
        "no floor, so no floor ratio: {t}"
    );
    assert!(t.contains("_Not measured in this run: `env_logger`, `tracing_json_nonblocking`"));
    let empty = Criterion::default();
    assert_eq!(
        render_hot_path(&empty),
        "_Not measured in this run: run `cargo bench -p logiscout-bench`._\n"
    );
    assert!(render_two_threads(&empty).starts_with("_Not measured"));
    assert!(render_disabled(&empty).starts_with("_Not measured"));
}

#[test]
fn two_threads_throughput_and_per_thread() {
    let t = render_two_threads(&hot_criterion());
    // logiscout: wall 120 ns → 8.33 M/s, per thread 240 ns, ×1.20 of 1 thread's 200 ns
    assert!(
        t.contains("| **logiscout** | 120 ns | [100, 140] | 8.33 M/s | 240 ns | ×1.20 |"),
        "{t}"
    );
}

#[test]
fn disabled_table() {
    let t = render_disabled(&hot_criterion());
    assert!(
        t.contains("| **logiscout** | 0.50 ns | [0.40, 0.67] |"),
        "{t}"
    );
}

#[test]
fn e2e_table_with_gzip_ratio_and_fallbacks() {
    let inputs = full_inputs();
    let t = render_e2e(&inputs.e2e, &inputs.criterion);
    assert!(t.starts_with("Server: logiscout-sink.\n"), "{t}");
    assert!(
        t.contains("| 0 ms | no | 100,000 | 1.82 M/s | 1.67 M/s – 2.00 M/s | 195.0 B | — |"),
        "{t}"
    );
    // gzip: median from seconds (100k / 0.1 s), bytes/log from wire bytes, ratio 19.5/195
    assert!(
        t.contains("| 0 ms | yes | 100,000 | 1.00 M/s | — | 19.5 B | ×0.10 |"),
        "{t}"
    );
    assert!(t.contains("The sink parses every batch."));
    assert!(!t.contains("pipeline"));
    let missing = render_e2e(&Input::Missing, &Criterion::default());
    assert_eq!(missing, not_measured(CMD_E2E));
}

#[test]
fn e2e_includes_pipeline_group() {
    let mut c = Criterion::default();
    c.insert(
        "pipeline",
        "delivered_latency_0ms",
        Estimate::new(11.1e6, 10.6e6, 11.6e6),
    );
    let t = render_e2e(&Input::Missing, &c);
    assert!(t.starts_with(
        "_Not measured in this run: run `cargo run --release -p logiscout-bench --bin e2e`._"
    ));
    assert!(
        t.contains(
            "| `delivered_latency_0ms` | 1.80 M/s [1.72 M, 1.89 M] | 11.1 ms (20,000 logs) |"
        ),
        "{t}"
    );
}

#[test]
fn unreadable_input_says_why() {
    let t = render_python(
        &Input::Unreadable("cannot parse x: bad".into()),
        &Criterion::default(),
    );
    assert!(t.contains("could not be read (cannot parse x: bad)"), "{t}");
    assert!(t.contains("scripts/bench-python.sh"));
}

#[test]
fn middleware_costs_vs_first_variant() {
    let inputs = full_inputs();
    let t = render_middleware(&inputs.http, &inputs.criterion);
    assert!(
        t.contains(
            "| axum | no layer | 10.00 µs | baseline | 100 k | 100 k, 98.0 k, 102 k | baseline |"
        ),
        "{t}"
    );
    assert!(
        t.contains("| axum | CorrelationLayer | 10.90 µs | 8.3 % | 93.0 k | 92.0 k, 95.0 k, 93.0 k | 7.0 % |"),
        "{t}"
    );
    assert!(
        t.contains("| actix | Correlation | — | — | 123 k | 123 k | -2.5 % |"),
        "{t}"
    );
    assert!(
        t.contains("server pinned to CPU 0, load generator to CPU 1"),
        "{t}"
    );
    assert_eq!(
        render_middleware(&Input::Missing, &Criterion::default()),
        not_measured(CMD_HTTP)
    );
}

#[test]
fn middleware_latency_units() {
    // p50 600 µs = 600,000 ns → "600 µs"; p99 1,500 µs → "1.50 ms"
    let inputs = full_inputs();
    let t = render_middleware(&inputs.http, &Criterion::default());
    assert!(t.contains("| baseline | 600 µs | 1.50 ms |"), "{t}");
    assert!(t.contains("| 650 µs | — |"), "{t}");
}

#[test]
fn middleware_in_process_groups() {
    let mut c = Criterion::default();
    c.insert("new_id", "no_layer", Estimate::new(761.0, 700.0, 800.0));
    c.insert(
        "new_id",
        "correlation_layer",
        Estimate::new(3284.0, 3000.0, 3500.0),
    );
    let t = render_middleware(&Input::Missing, &c);
    assert!(
        t.contains("| `new_id` | `no_layer` | 761 ns [700, 800] | — |"),
        "{t}"
    );
    assert!(
        t.contains("|  | `correlation_layer` | 3,284 ns [3,000, 3,500] | +2,523 ns (+331.5 %) |"),
        "{t}"
    );
}

#[test]
fn python_ratio() {
    let inputs = full_inputs();
    let t = render_python(&inputs.python, &inputs.criterion);
    assert!(
        t.contains(
            "| Python `logiscout-logger 1.0.1` (Python 3.11.2) | 155 µs | 150 µs, 160 µs, 155 µs |"
        ),
        "{t}"
    );
    assert!(
        t.contains("| Rust **logiscout** (`hot_path_1_thread`) | 200 ns [180, 220] | — |"),
        "{t}"
    );
    assert!(t.contains("**×775**"), "{t}");
    assert!(
        t.contains("Delivered 50,000 of 50,000 logged (100.0 %)."),
        "{t}"
    );
    let no_rust = render_python(&inputs.python, &Criterion::default());
    assert!(no_rust.contains("not measured: run `cargo bench -p logiscout-bench`"));
    assert!(!no_rust.contains("**×"));
}

#[test]
fn memory_table_and_disagreement() {
    let mut inputs = full_inputs();
    let t = render_memory(&inputs.rss);
    assert!(t.contains("| 1,000,000 | 64.0 MiB | 100,000 | 64.0 MiB + 16.0 MiB = 80.0 MiB | 8.00 MiB | 50.0 MiB | 42.0 MiB | yes | 1,000,000 | 0 | 2.5 s |"), "{t}");
    if let Input::Present(l) = &mut inputs.rss {
        l.value.runs[0].growth_bytes = 90.0 * 1024.0 * 1024.0;
    }
    let t = render_memory(&inputs.rss);
    assert!(t.contains("| **no** |"), "{t}");
    assert!(t.contains("disagrees"), "{t}");
    assert_eq!(render_memory(&Input::Missing), not_measured(CMD_RSS));
}

#[test]
fn targets_all_met_and_missed() {
    let inputs = full_inputs();
    let ts = targets(&inputs);
    assert_eq!(ts.len(), 9);
    let st: Vec<Status> = ts.iter().map(|t| t.status).collect();
    // 200 ≤ 250; 200/500 = 0.4 ≤ 0.5; 200/800 ≤ 1; 200/100 = 2 ≤ 2; 155000/200 = 775 ≥ 500;
    // axum 8.3 % ≤ 10 % (from CPU per request); 42 MiB ≤ 80 MiB; then issue 18's 200/100 = 2 > 1, and
    // the facade floor's 180/100 > 1.
    assert_eq!(st[..7], vec![Status::Met; 7], "{ts:?}");
    assert_eq!(st[7..], [Status::Missed, Status::Missed], "{ts:?}");
    assert_eq!(ts[8].measured, "×1.80 (180 ns vs 100 ns)");
    let mut no_facade = full_inputs();
    no_facade.criterion = hot_criterion_without("facade_floor");
    assert_eq!(targets(&no_facade)[8].status, Status::NotMeasured);
    assert_eq!(ts[3].measured, "×2.00 (200 ns vs 100 ns)");
    assert_eq!(
        ts[5].measured,
        "8.3 % (server CPU per request 10.90 µs vs 10.00 µs)"
    );

    let mut slow = full_inputs();
    slow.criterion
        .insert(HOT_1, "logiscout", Estimate::new(450.0, 400.0, 500.0));
    let ts = targets(&slow);
    let st: Vec<Status> = ts.iter().map(|t| t.status).collect();
    // 450 > 250; 450/500 = 0.9 > 0.5; 450/800 ≤ 1; 450/100 = 4.5 > 2; 155000/450 = 344 < 500.
    assert_eq!(
        st[..7],
        vec![
            Status::Missed,
            Status::Missed,
            Status::Met,
            Status::Missed,
            Status::Missed,
            Status::Met,
            Status::Met
        ]
    );
    let table = render_targets(&ts);
    assert!(
        table.contains("| logiscout hot path (1 thread) median ≤ 250 ns | 450 ns | **missed** |"),
        "{table}"
    );
}

#[test]
fn targets_not_measured() {
    let ts = targets(&Inputs::default());
    assert!(ts.iter().all(|t| t.status == Status::NotMeasured));
    let table = render_targets(&ts);
    assert_eq!(table.matches("| — | not measured |").count(), 9, "{table}");
    // Python present but no Rust figure: still not measured.
    let mut i = full_inputs();
    i.criterion = Criterion::default();
    assert_eq!(targets(&i)[4].status, Status::NotMeasured);
    // axum without a correlation variant: not measured.
    let mut i = full_inputs();
    if let Input::Present(l) = &mut i.http {
        l.value.results.retain(|r| r.variant != "CorrelationLayer");
    }
    assert_eq!(targets(&i)[5].status, Status::NotMeasured);
}

#[test]
fn replaces_between_markers_only() {
    let doc = "# T\n\nprose\n<!-- generated:a -->\nold a\n<!-- /generated:a -->\nmiddle\n<!-- generated:b --><!-- /generated:b -->\nend\n";
    let out = replace_sections(doc, &[("b", "B!\n".into()), ("a", "A!".into())])
        .expect("markers present");
    assert_eq!(
        out,
        "# T\n\nprose\n<!-- generated:a -->\n\nA!\n\n<!-- /generated:a -->\nmiddle\n<!-- generated:b -->\n\nB!\n\n<!-- /generated:b -->\nend\n"
    );
    // Idempotent: replacing again with the same content gives the same document.
    let again =
        replace_sections(&out, &[("a", "A!".into()), ("b", "B!".into())]).expect("markers present");
    assert_eq!(again, out);
}

#[test]
fn missing_markers_are_listed() {
    let doc =
        "<!-- generated:a -->x<!-- /generated:a -->\n<!-- generated:c -->\n<!-- /generated:d -->";
    let err = replace_sections(
        doc,
        &[
            ("a", String::new()),
            ("b", String::new()),
            ("c", String::new()),
            ("d", String::new()),
        ],
    )
    .expect_err("b, c and d are incomplete");
    assert!(
        err.contains("<!-- generated:b --> … <!-- /generated:b --> (both missing)"),
        "{err}"
    );
    assert!(err.contains("<!-- /generated:c --> (missing)"), "{err}");
    assert!(err.contains("<!-- generated:d --> (missing)"), "{err}");
    assert!(!err.contains("generated:a"), "{err}");
    let reversed = "<!-- /generated:a --> <!-- generated:a -->";
    assert!(replace_sections(reversed, &[("a", String::new())]).is_err());
    let twice =
        "<!-- generated:a --><!-- /generated:a --><!-- generated:a --><!-- /generated:a -->";
    assert!(replace_sections(twice, &[("a", String::new())]).is_err());
}

#[test]
fn render_all_covers_every_marker_name() {
    let (sections, _) = render_all(&Machine::default(), &full_inputs());
    let names: Vec<&str> = sections.iter().map(|s| s.0).collect();
    assert_eq!(names, SECTION_NAMES);
    let (sections, _) = render_all(&Machine::default(), &Inputs::default());
    assert!(sections[0].1.contains("no input files found"));
    for (name, body) in &sections[1..8] {
        assert!(
            body.starts_with("_Not measured in this run: run `"),
            "{name}: {body}"
        );
    }
}

#[test]
fn machine_section() {
    let m = Machine {
        cpu: Some("AMD EPYC".into()),
        cores: Some(2),
        mem_bytes: Some(24 * 1024 * 1024 * 1024),
        kernel: Some("6.1.0".into()),
        rustc: Some("rustc 1.95.0 (59807616e 2026-04-14)".into()),
        measured_at: Some(0),
    };
    let t = render_machine(&m);
    assert!(t.contains("| CPU | AMD EPYC, 2 logical CPUs |"), "{t}");
    assert!(t.contains("| memory | 24.0 GiB |"));
    assert!(t.contains("| compiler | `rustc 1.95.0 (59807616e 2026-04-14)`, release profile |"));
    assert!(t.contains("1970-01-01 00:00 UTC (newest input file)"));
    assert_eq!(
        m.one_line(),
        "AMD EPYC · 2 CPUs · 24.0 GiB RAM · Linux 6.1.0 · rustc 1.95.0 · 1970-01-01"
    );
}

#[test]
fn nice_steps() {
    assert_eq!(nice_step(1500.0), 500.0);
    assert_eq!(nice_step(1000.0), 200.0);
    assert_eq!(nice_step(120.0), 25.0);
    assert_eq!(nice_step(0.0), 1.0);
}

/// A `<text>` element's content as plotters' SVG backend writes it.
fn svg_text(s: &str) -> String {
    format!(">\n{s}\n</text>")
}

/// `#RRGGBB`, as plotters writes colours.
fn svg_color(c: plotters::style::RGBColor) -> String {
    format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
}

#[test]
fn svg_chart() {
    let m = Machine {
        cpu: Some("AMD EPYC & co".into()),
        ..Default::default()
    };
    let svg = render_svg(&m, &hot_criterion()).expect("hot path measured");
    assert!(svg.starts_with("<svg "));
    assert!(svg.contains("xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("AMD EPYC &amp; co"), "subtitle is escaped");
    assert!(svg.contains(&svg_text("ns per call (median, lower is better)")));
    assert!(
        svg.contains(&svg_text("200 ns")),
        "value label on the logiscout bar"
    );
    assert!(svg.contains(&svg_text("1,500 ns")));
    assert!(svg.contains(&svg_color(HIGHLIGHT)));
    assert!(svg.contains("2 threads logging at once"));
    assert!(svg.contains(&svg_text("120 ns (8.33 M/s)")));
    let bars = [HIGHLIGHT, OTHER, FLOOR]
        .iter()
        .map(|c| {
            svg.matches(&format!("fill=\"{}\" stroke=\"none\"", svg_color(*c)))
                .count()
        })
        .sum::<usize>();
    assert_eq!(bars, 14, "7 bars per panel");
    // Bars scale linearly: env_logger (1,500 ns) is 7.5 × logiscout (200 ns). Each name label is drawn
    // just before its bar.
    let width = |label: &str| -> f64 {
        let i = svg.find(&svg_text(label)).expect("label");
        let rest = &svg[i..];
        let w = rest.find("width=\"").expect("bar") + 7;
        rest[w..rest[w..].find('"').expect("quote") + w]
            .parse()
            .expect("number")
    };
    let ratio = width("env_logger") / width("logiscout");
    // Whole pixels: 375 / 50 here.
    assert!((ratio - 7.5).abs() < 0.05, "{ratio}");
    assert!(render_svg(&m, &Criterion::default()).is_none());
    // One panel only when 2 threads is absent.
    let mut c = Criterion::default();
    c.insert(HOT_1, "logiscout", Estimate::new(200.0, 190.0, 210.0));
    let one = render_svg(&m, &c).expect("one bar");
    assert!(!one.contains("2 threads"));
}

#[test]
fn loads_criterion_and_json_from_disk() {
    let dir = std::env::temp_dir().join(format!("bench_report_test_{}", std::process::id()));
    let est = dir.join("criterion/hot_path_1_thread/logiscout/new");
    std::fs::create_dir_all(&est).expect("temp dir");
    std::fs::write(
        est.join("estimates.json"),
        r#"{"median":{"confidence_interval":{"confidence_level":0.95,"lower_bound":190.0,"upper_bound":210.0},"point_estimate":200.0,"standard_error":1.0},"mean":{}}"#,
    )
    .expect("write");
    std::fs::write(
        est.join("benchmark.json"),
        r#"{"throughput":{"Elements":7}}"#,
    )
    .expect("write");
    let bad = dir.join("criterion/hot_path_1_thread/ftlog/new");
    std::fs::create_dir_all(&bad).expect("temp dir");
    std::fs::write(bad.join("estimates.json"), "{").expect("write");
    std::fs::create_dir_all(dir.join("bench-results")).expect("temp dir");
    std::fs::write(
        dir.join("bench-results/python.json"),
        r#"{"client":"c","ns_per_call":[3,1,2],"extra_field":true}"#,
    )
    .expect("write");
    std::fs::write(dir.join("bench-results/rss.json"), r#"{"runs": 5}"#).expect("write");
    let inputs = load_inputs(&dir);
    let b = inputs.criterion.bench(HOT_1, "logiscout").expect("loaded");
    assert_eq!(b.est, Estimate::new(200.0, 190.0, 210.0));
    assert_eq!(b.elements, Some(7.0));
    assert!(b.modified.is_some());
    assert_eq!(inputs.criterion.errors.len(), 1);
    let py = inputs.python.get().expect("python parsed");
    assert_eq!(py.value.ns(), Some(2.0), "median computed from the list");
    assert!(matches!(inputs.e2e, Input::Missing));
    assert!(matches!(inputs.rss, Input::Unreadable(_)));
    assert_eq!(inputs.problems().len(), 2);
    assert!(inputs.newest().is_some());
    std::fs::remove_dir_all(&dir).expect("clean temp dir");
}

#[test]
fn the_axum_target_uses_cpu_per_request_and_falls_back_to_req_per_s() {
    let inputs = full_inputs();
    let axum = targets(&inputs)
        .into_iter()
        .find(|t| t.name.contains("CorrelationLayer"))
        .expect("axum target");
    // 1 - 10.0 / 10.9 = 8.3 %.
    assert!(axum.measured.starts_with("8.3 %"), "{}", axum.measured);
    assert!(
        axum.measured.contains("10.90 µs vs 10.00 µs"),
        "{}",
        axum.measured
    );
    assert_eq!(axum.status, Status::Met);
    let table = render_middleware(&inputs.http, &inputs.criterion);
    assert!(table.contains("| 10.90 µs | 8.3 % |"), "{table}");
    // Without CPU figures: the req/s medians (100 k vs 93 k = 7 %).
    let mut no_cpu = full_inputs();
    if let Input::Present(l) = &mut no_cpu.http {
        for r in &mut l.value.results {
            r.cpu_us_per_request.clear();
            r.median_cpu_us_per_request = None;
        }
    }
    let axum = targets(&no_cpu)
        .into_iter()
        .find(|t| t.name.contains("CorrelationLayer"))
        .expect("axum target");
    assert!(axum.measured.contains("req/s"), "{}", axum.measured);
}
