//! Arbitrary JSON at POST and PUT: only 2xx or 4xx, and every 4xx in the
//! contract's shape. One server per engine for all cases.

use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config as PropConfig, TestRunner};
use serde_json::{Map, Value};

use crate::support::{Engine, TestApp};

const FIELDS: &[&str] = &[
    "title",
    "description",
    "imageUrl",
    "projectUrl",
    "githubUrl",
    "technologies",
    "isActive",
    "sortOrder",
    "url",
    "github",
    "id",
    "createdAt",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
        "\\PC{195,205}".prop_map(Value::String),
        prop_oneof![
            Just("https://davidshaevel.com"),
            Just("http://a.b/c?d#e"),
            Just("x.io"),
            Just("nope")
        ]
        .prop_map(|s| Value::String(s.to_owned())),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (prop::sample::select(FIELDS).prop_map(str::to_owned), inner),
                0..8
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Mostly objects with the DTO's field names, sometimes anything at all.
fn body() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => prop::collection::vec((prop::sample::select(FIELDS).prop_map(str::to_owned), json_value()), 0..10)
            .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        1 => json_value(),
    ]
}

fn run(engine: Engine) {
    let rt = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime"),
    );
    let app = rt.block_on(TestApp::spawn(engine));
    let c = app.client.clone();
    let id = rt.block_on(async {
        let r = c
            .post_json(
                "/api/projects",
                &serde_json::json!({"title": "t", "description": "d"}),
            )
            .await;
        r.json()["id"].as_str().expect("id").to_owned()
    });
    let item = format!("/api/projects/{id}");
    let mut runner = TestRunner::new(PropConfig {
        cases: 96,
        failure_persistence: None,
        ..PropConfig::default()
    });
    let result = runner.run(&body(), |b| {
        rt.block_on(async {
            for (m, path) in [("POST", "/api/projects"), ("PUT", item.as_str())] {
                let r = c
                    .send(
                        m,
                        path,
                        Some(("application/json", b.to_string().into_bytes())),
                        &[],
                    )
                    .await;
                prop_assert!(
                    (200..500).contains(&r.status),
                    "{} {} -> {} {}",
                    m,
                    b,
                    r.status,
                    r.text
                );
                if r.status >= 400 {
                    let v: Value = serde_json::from_str(&r.text)
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert_eq!(&v["statusCode"], &Value::from(r.status));
                    let msg = &v["message"];
                    prop_assert!(
                        msg.is_string()
                            || msg
                                .as_array()
                                .is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_string)),
                        "shape: {}",
                        v
                    );
                    prop_assert!(v["error"].is_string());
                }
            }
            Ok(())
        })
    });
    rt.block_on(app.finish());
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn arbitrary_json_never_yields_a_5xx_postgres() {
    run(Engine::Postgres);
}

#[test]
fn arbitrary_json_never_yields_a_5xx_sqlite() {
    run(Engine::Sqlite);
}
