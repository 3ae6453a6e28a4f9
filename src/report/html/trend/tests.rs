use super::layout::C;
use super::*;

fn run(id: i64, verdict: RunVerdict) -> TrendRun {
    TrendRun {
        id,
        label: format!("{:07x}", (id as u64).wrapping_mul(0x9e37_79b9) & 0xfff_ffff),
        started_at: format!(
            "2025-05-{:02}T{:02}:{:02}:00Z",
            1 + id % 28,
            id % 24,
            id % 60
        ),
        verdict,
        regressed: if verdict == RunVerdict::Regressed {
            vec!["create project p95".into()]
        } else {
            Vec::new()
        },
    }
}

fn pct(p50: f64) -> Option<Percentiles> {
    Some(Percentiles {
        p50_ms: p50,
        p95_ms: p50 * 2.5,
        p99_ms: p50 * 4.0,
    })
}

fn page(runs: Vec<TrendRun>, requests: Vec<RequestTrend>) -> TrendPage {
    TrendPage {
        title: "postdeploy trend: staging".into(),
        generated_at: "2025-06-01T00:00:00Z".into(),
        groups: vec![LoadGroup {
            fingerprint: "https://api.example.com · closed 16 users · 60 s".into(),
            runs,
            requests,
        }],
        verify: None,
    }
}

fn request(name: &str, points: Vec<Option<Percentiles>>) -> RequestTrend {
    RequestTrend {
        name: name.into(),
        points,
        slo_lines: vec![SloLine {
            label: "p95 < 500 ms".into(),
            threshold_ms: 500.0,
        }],
        regressed_runs: Vec::new(),
    }
}

/// The `<svg>…</svg>` fragments of a page.
fn svgs(html: &str) -> Vec<&str> {
    html.match_indices("<svg ")
        .map(|(start, _)| {
            let end = html[start..].find("</svg>").expect("closed svg") + start + 6;
            &html[start..end]
        })
        .collect()
}

/// A small XML well-formedness check: tags nest and close, attribute
/// values are quoted, `<` and `&` appear only as markup or entities.
fn assert_well_formed(xml: &str) {
    let mut stack: Vec<&str> = Vec::new();
    let mut rest = xml;
    while let Some(lt) = rest.find(['<', '&']) {
        check_text(&rest[..lt]);
        rest = &rest[lt..];
        if rest.starts_with('&') {
            let semi = rest.find(';').expect("entity ends");
            let ent = &rest[1..semi];
            assert!(
                matches!(ent, "amp" | "lt" | "gt" | "quot" | "#39")
                    || ent
                        .strip_prefix('#')
                        .is_some_and(|d| d.parse::<u32>().is_ok()),
                "bad entity &{ent};"
            );
            rest = &rest[semi + 1..];
            continue;
        }
        let gt = tag_end(rest);
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop(), Some(name.trim()), "mismatched </{name}>");
            continue;
        }
        let self_closing = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let name = tag.split_whitespace().next().expect("tag name");
        check_attrs(&tag[name.len()..]);
        if !self_closing {
            stack.push(name);
        }
    }
    check_text(rest);
    assert!(stack.is_empty(), "unclosed: {stack:?}");
}

fn check_text(s: &str) {
    assert!(!s.contains('>'), "raw > in text: {s:?}");
}

/// Index of the `>` closing the tag at the start of `s`, skipping
/// quoted attribute values.
fn tag_end(s: &str) -> usize {
    let mut quote = None;
    for (i, c) in s.char_indices().skip(1) {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return i,
            (None, '<') => panic!("< inside a tag: {s:.80}"),
            _ => {}
        }
    }
    panic!("unterminated tag: {s:.80}");
}

fn check_attrs(mut a: &str) {
    loop {
        a = a.trim_start();
        if a.is_empty() {
            return;
        }
        let eq = a
            .find('=')
            .unwrap_or_else(|| panic!("attribute without value: {a:?}"));
        let name = &a[..eq];
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':'),
            "attribute name {name:?}"
        );
        let v = &a[eq + 1..];
        assert!(v.starts_with('"'), "unquoted attribute {name}: {v:.40}");
        let close = v[1..].find('"').expect("closing quote") + 1;
        let value = &v[1..close];
        assert!(!value.contains('<'), "< in attribute {name}");
        a = &v[close + 1..];
    }
}

/// xmllint, when installed, as a second opinion on the SVG fragments.
fn xmllint(fragment: &str) {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let Ok(mut child) = Command::new("xmllint")
        .args(["--noout", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        return;
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(fragment.as_bytes())
        .expect("write to xmllint");
    let out = child.wait_with_output().expect("xmllint runs");
    assert!(
        out.status.success(),
        "xmllint: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn check_svgs(html: &str) -> usize {
    let all = svgs(html);
    for s in &all {
        assert_well_formed(s);
        xmllint(s);
    }
    all.len()
}

const HOSTILE: &str = "<script>alert('x')</script> & \"q\" \u{0}\u{FFFF}";

#[test]
fn hostile_names_are_escaped_everywhere() {
    let mut runs = vec![run(1, RunVerdict::Passed), run(2, RunVerdict::Regressed)];
    for r in &mut runs {
        r.label = HOSTILE.into();
        r.started_at = HOSTILE.into();
    }
    runs[1].regressed = vec![HOSTILE.into()];
    let mut req = request(HOSTILE, vec![pct(10.0), pct(12.0)]);
    req.slo_lines[0].label = HOSTILE.into();
    req.slo_lines.push(SloLine {
        label: HOSTILE.into(),
        threshold_ms: 1e6,
    });
    req.regressed_runs = vec![1];
    let mut p = page(runs.clone(), vec![req]);
    p.title = HOSTILE.into();
    p.generated_at = HOSTILE.into();
    p.groups[0].fingerprint = HOSTILE.into();
    p.verify = Some(VerifyTrend {
        runs,
        steps: vec![StepTrend {
            name: HOSTILE.into(),
            points: vec![
                Some(StepPoint {
                    latency_ms: 3.0,
                    passed: true,
                }),
                Some(StepPoint {
                    latency_ms: 4.0,
                    passed: false,
                }),
            ],
        }],
    });
    let html = render(&p);
    assert!(!html.contains("<script"), "raw script tag");
    assert!(!html.contains("'x'"), "raw quote");
    assert!(!html.contains('\u{0}') && !html.contains('\u{FFFF}'));
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"));
    assert_eq!(
        check_svgs(&html),
        4,
        "group strip + chart, verify strip + step"
    );
}

#[test]
fn no_runs_and_no_groups_render_notes() {
    let html = render(&page(Vec::new(), vec![request("a", Vec::new())]));
    assert!(html.contains("No runs recorded in this group."));
    assert!(html.contains("No verify runs recorded."));
    assert_eq!(check_svgs(&html), 0);
    let mut p = page(Vec::new(), Vec::new());
    p.groups.clear();
    p.verify = Some(VerifyTrend {
        runs: Vec::new(),
        steps: Vec::new(),
    });
    let html = render(&p);
    assert!(html.contains("No load runs recorded."));
    assert!(html.contains("Verify steps across deploys"));
    assert!(html.contains("No verify runs recorded."));
}

#[test]
fn one_run_draws_dots_not_lines() {
    let html = render(&page(
        vec![run(7, RunVerdict::Passed)],
        vec![request("list projects", vec![pct(20.0)])],
    ));
    assert_eq!(check_svgs(&html), 2);
    assert!(
        html.split("class=\"ln p95\" d=\"").skip(1).all(|d| !d
            .split('"')
            .next()
            .unwrap_or("")
            .contains('L')),
        "no segment to draw"
    );
    assert!(
        html.contains("class=\"dt p95\" d=\"M"),
        "the point is a dot"
    );
    assert!(html.contains("latest p95 50 ms"));
}

#[test]
fn gaps_break_the_line() {
    let html = render(&page(
        (1..=5).map(|i| run(i, RunVerdict::Passed)).collect(),
        vec![request(
            "a",
            vec![pct(10.0), pct(11.0), None, pct(12.0), pct(13.0)],
        )],
    ));
    let d = html
        .split("class=\"ln p95\" d=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("p95 line");
    assert_eq!(d.matches('M').count(), 2, "two segments: {d}");
}

#[test]
fn missing_and_non_finite_values_are_skipped() {
    let bad = Some(Percentiles {
        p50_ms: f64::NAN,
        p95_ms: f64::INFINITY,
        p99_ms: -1.0,
    });
    let zero = Some(Percentiles {
        p50_ms: 0.0,
        p95_ms: 0.0,
        p99_ms: 0.0,
    });
    let mut nan_slo = request("zeros", vec![zero, bad, zero]);
    nan_slo.slo_lines.push(SloLine {
        label: "p99 < NaN".into(),
        threshold_ms: f64::NAN,
    });
    nan_slo.regressed_runs = vec![1, 99];
    let html = render(&page(
        (1..=3).map(|i| run(i, RunVerdict::Passed)).collect(),
        vec![
            request("never ran", vec![None, None, None]),
            request("only bad", vec![bad; 3]),
            nan_slo,
        ],
    ));
    assert_eq!(html.matches("No measurements of this request").count(), 2);
    for word in ["NaN\"", "inf", "NaN,", ",NaN"] {
        assert!(!html.contains(word), "{word} in output");
    }
    assert!(
        !html.contains("p99 &lt; NaN"),
        "a NaN threshold is not drawn"
    );
    check_svgs(&html);
}

#[test]
fn slo_lines_and_regressions_are_marked() {
    let mut req = request(
        "create project",
        (0..10).map(|i| pct(40.0 + i as f64)).collect(),
    );
    req.regressed_runs = vec![6];
    let mut runs: Vec<TrendRun> = (1..=10).map(|i| run(i, RunVerdict::Passed)).collect();
    runs[6].verdict = RunVerdict::Regressed;
    let html = render(&page(runs, vec![req]));
    assert!(html.contains("class=\"slo p95\""), "dashed threshold line");
    assert!(html.contains(">p95 &lt; 500 ms</text>"), "its label");
    assert_eq!(
        html.matches("<rect class=\"band\"").count(),
        2,
        "band + legend swatch"
    );
    assert_eq!(
        html.matches("<circle class=\"ring\"").count(),
        3,
        "p95, p99 + legend"
    );
    assert!(html.contains("class=\"v-regr\""), "strip cell");
    assert!(html.contains("<path class=\"mark\""), "strip marker");
    check_svgs(&html);
}

#[test]
fn far_thresholds_are_named_not_drawn() {
    let mut req = request("a", vec![pct(1.0), pct(2.0)]);
    req.slo_lines[0].threshold_ms = 5000.0;
    let html = render(&page(
        vec![run(1, RunVerdict::Passed), run(2, RunVerdict::Passed)],
        vec![req],
    ));
    assert!(!html.contains("class=\"slo p95\""));
    assert!(html.contains(">↑ p95 &lt; 500 ms (far above)</text>"));
}

#[test]
fn wide_ranges_switch_to_a_log_axis() {
    let html = render(&page(
        (1..=3).map(|i| run(i, RunVerdict::Passed)).collect(),
        vec![request("a", vec![pct(1.0), pct(2000.0), pct(3.0)])],
    ));
    assert!(html.contains(">ms (log)</text>"));
    assert!(html.contains(">1000</text>") && html.contains(">10000</text>"));
}

#[test]
fn verify_failures_are_marked_even_without_a_latency() {
    let runs: Vec<TrendRun> = (1..=4).map(|i| run(i, RunVerdict::Passed)).collect();
    let p = |l: f64, passed: bool| {
        Some(StepPoint {
            latency_ms: l,
            passed,
        })
    };
    let mut pg = page(Vec::new(), Vec::new());
    pg.verify = Some(VerifyTrend {
        runs,
        steps: vec![
            StepTrend {
                name: "login".into(),
                points: vec![p(5.0, true), p(f64::NAN, false), None, p(9.0, false)],
            },
            StepTrend {
                name: "skipped".into(),
                points: vec![None; 4],
            },
        ],
    });
    let html = render(&pg);
    let fails = html
        .split("class=\"fl\" d=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("failure dots");
    assert_eq!(fails.matches('M').count(), 2);
    assert!(html.contains("failed 2×"));
    assert!(html.contains("No measurements of this step"));
    check_svgs(&html);
}

#[test]
fn coordinates_are_short() {
    let s = |v: f64| C(v).to_string();
    assert_eq!(s(12.0), "12");
    assert_eq!(s(12.34), "12.3");
    assert_eq!(s(-0.04), "0");
    assert_eq!(s(-0.5), "-0.5");
    assert_eq!(s(-1.25), "-1.3");
    assert_eq!(s(f64::NAN), "0");
}

/// 1,000 runs × 20 request names: a year of several deploys a day.
fn big_page(runs: usize, names: usize) -> TrendPage {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let trend_runs: Vec<TrendRun> = (0..runs as i64)
        .map(|i| {
            run(
                i + 1,
                match i % 97 {
                    13 => RunVerdict::Failed,
                    41 => RunVerdict::Regressed,
                    77 => RunVerdict::Interrupted,
                    _ => RunVerdict::Passed,
                },
            )
        })
        .collect();
    let requests = (0..names)
        .map(|k| {
            let base = 5.0 + 7.0 * k as f64;
            RequestTrend {
                name: format!("request {k}"),
                points: (0..runs)
                    .map(|i| (i % 211 != 5).then(|| pct(base * (0.8 + 0.4 * rnd())).unwrap()))
                    .collect(),
                slo_lines: vec![SloLine {
                    label: "p95 < 500 ms".into(),
                    threshold_ms: 500.0,
                }],
                regressed_runs: (0..runs).filter(|i| i % 97 == 41).collect(),
            }
        })
        .collect();
    let mut p = page(trend_runs.clone(), requests);
    p.verify = Some(VerifyTrend {
        runs: trend_runs,
        steps: (0..8)
            .map(|k| StepTrend {
                name: format!("step {k}"),
                points: (0..runs)
                    .map(|i| {
                        Some(StepPoint {
                            latency_ms: 3.0 + k as f64 + 2.0 * rnd(),
                            passed: i % 97 != 13,
                        })
                    })
                    .collect(),
            })
            .collect(),
    });
    p
}

#[test]
fn a_thousand_runs_stay_a_reasonable_page() {
    let html = render(&big_page(1000, 20));
    assert_eq!(svgs(&html).len(), 1 + 20 + 1 + 8);
    assert!(html.len() < 3_000_000, "{} bytes", html.len());
    assert!(!html.contains("class=\"hov\""), "no per-run hover columns");
    assert_well_formed(svgs(&html)[1]);
}

fn sample_path(file: &str) -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join(file)
}

/// Realistic pages to look at: `scripts/screenshot-trend` on them.
#[test]
#[ignore = "writes sample pages for a screenshot"]
fn write_sample_pages() {
    let names = ["list projects", "create project", "get project"];
    let runs: Vec<TrendRun> = (0..30)
        .map(|i| {
            let mut r = run(
                100 + i,
                match i {
                    7 => RunVerdict::Interrupted,
                    12 => RunVerdict::Failed,
                    21 => RunVerdict::Regressed,
                    _ => RunVerdict::Passed,
                },
            );
            r.started_at = format!("2025-05-{:02}T{:02}:14:03Z", 1 + i, 9 + i % 8);
            r
        })
        .collect();
    let mut seed = 7u64;
    let mut rnd = move || {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (seed >> 33) as f64 / (1u64 << 31) as f64
    };
    let requests = names
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let base = [38.0, 95.0, 22.0][k];
            let points = (0..30)
                .map(|i| {
                    if k == 2 && i < 4 {
                        return None;
                    }
                    let bump = if k == 1 && i == 21 { 2.6 } else { 1.0 };
                    let drift = 1.0 + 0.004 * i as f64;
                    let p50 = base * drift * (0.9 + 0.2 * rnd());
                    Some(Percentiles {
                        p50_ms: p50,
                        p95_ms: p50 * (2.1 + 0.3 * rnd()) * bump,
                        p99_ms: p50 * (3.2 + 0.6 * rnd()) * bump,
                    })
                })
                .collect();
            let slo_lines = match k {
                1 => vec![
                    SloLine {
                        label: "p95 < 400 ms".into(),
                        threshold_ms: 400.0,
                    },
                    SloLine {
                        label: "p99 < 650 ms".into(),
                        threshold_ms: 650.0,
                    },
                ],
                _ => vec![SloLine {
                    label: "p95 < 200 ms".into(),
                    threshold_ms: 200.0,
                }],
            };
            RequestTrend {
                name: (*name).into(),
                points,
                slo_lines,
                regressed_runs: if k == 1 { vec![21] } else { Vec::new() },
            }
        })
        .collect();
    let mut p = page(runs.clone(), requests);
    p.groups[0].fingerprint =
        "https://api.example.com · closed 16 users · 60 s · scenarios health, projects-crud".into();
    p.groups[0].runs[21].regressed = vec!["create project p95".into(), "create project p99".into()];
    let steps = [
        "health",
        "login",
        "create project",
        "list projects",
        "delete project",
    ];
    p.verify = Some(VerifyTrend {
        runs: runs
            .iter()
            .map(|r| TrendRun {
                verdict: if r.id == 112 {
                    RunVerdict::Failed
                } else {
                    RunVerdict::Passed
                },
                regressed: Vec::new(),
                ..r.clone()
            })
            .collect(),
        steps: steps
            .iter()
            .enumerate()
            .map(|(k, name)| StepTrend {
                name: (*name).into(),
                points: (0..30)
                    .map(|i| {
                        let failed = k == 2 && i == 12;
                        Some(StepPoint {
                            latency_ms: if failed {
                                f64::NAN
                            } else {
                                [4.0, 60.0, 85.0, 30.0, 25.0][k] * (0.85 + 0.3 * rnd())
                            },
                            passed: !failed,
                        })
                    })
                    .collect(),
            })
            .collect(),
    });
    let path = sample_path("trend-sample.html");
    std::fs::create_dir_all(path.parent().expect("dir")).expect("target dir");
    std::fs::write(&path, render(&p)).expect("write sample");
    std::fs::write(sample_path("trend-dense.html"), render(&big_page(1000, 4)))
        .expect("write dense sample");
}
