//! The contract, run identically on both engines: the original's 13
//! integration facts, CRUD semantics, validation, bad input, durability.

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::Connection;

use crate::support::{Engine, Storage, TestApp, assert_error_shape, sample};

fn sample_project() -> Value {
    json!({
        "title": "DavidShaevel.com Platform",
        "description": "Full-stack AWS portfolio platform",
        "technologies": ["AWS", "ECS Fargate", "Terraform"]
    })
}

/// Rows counted straight from the database, bypassing the service.
async fn rows_in_db(app: &TestApp) -> i64 {
    match &app.storage {
        Storage::Postgres(db) => {
            let mut c = sqlx::PgConnection::connect(&db.url).await.expect("connect");
            let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM projects")
                .fetch_one(&mut c)
                .await
                .expect("count");
            n
        }
        Storage::Sqlite(dir) => {
            let url = format!("sqlite://{}", dir.path().join("backend.db").display());
            let mut c = sqlx::SqliteConnection::connect(&url)
                .await
                .expect("connect");
            let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM projects")
                .fetch_one(&mut c)
                .await
                .expect("count");
            n
        }
    }
}

async fn the_originals_thirteen_facts(app: &mut TestApp) {
    let c = app.client.clone();
    // 1, 2
    let h = c.get("/api/health").await;
    assert_eq!(h.status, 200, "{}", h.text);
    let hv = h.json();
    assert_eq!(hv["status"], "healthy");
    assert_eq!(hv["database"]["status"], "connected");
    assert_eq!(hv["environment"], "development");
    assert_eq!(hv["version"], "1.0.0");
    assert_eq!(hv["service"], "backend");
    assert_eq!(hv["instance"], "test-instance");
    assert!(hv["uptime"].is_f64());
    let expected_type = if app.engine == Engine::Postgres {
        "postgresql"
    } else {
        "sqlite"
    };
    assert_eq!(hv["database"]["type"], expected_type);
    // 3
    assert!(c.metrics().await.contains("backend_uptime_seconds"));
    // 4
    let created = c.post_json("/api/projects", &sample_project()).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let p = created.json();
    let id = p["id"].as_str().expect("id").to_owned();
    assert_eq!(
        p["technologies"],
        json!(["AWS", "ECS Fargate", "Terraform"])
    );
    // 5
    let got = c.get(&format!("/api/projects/{id}")).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.json()["id"], id.as_str());
    // 6
    let upd = c
        .put_json(&format!("/api/projects/{id}"), &json!({"title": "Renamed"}))
        .await;
    assert_eq!(upd.status, 200, "{}", upd.text);
    assert_eq!(upd.json()["title"], "Renamed");
    // 7
    let list = c.get("/api/projects").await.json();
    assert!(
        list.as_array()
            .expect("array")
            .iter()
            .any(|x| x["id"] == id.as_str())
    );
    // 8
    assert_error_shape(&c.get("/api/projects/not-a-uuid").await, 400);
    // 9
    assert_error_shape(&c.post_json("/api/projects", &json!({})).await, 400);
    // 12 (before the delete): the row is really in the database
    assert_eq!(rows_in_db(app).await, 1);
    // 10
    let del = c.delete(&format!("/api/projects/{id}")).await;
    assert_eq!(del.status, 204);
    assert!(del.text.is_empty());
    assert_eq!(rows_in_db(app).await, 0);
    // 11
    if let Storage::Postgres(db) = &app.storage {
        let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
        let (data_type, udt): (String, String) = sqlx::query_as(
            "SELECT data_type, udt_name FROM information_schema.columns WHERE table_name = 'projects' AND column_name = 'technologies'",
        )
        .fetch_one(&mut conn)
        .await
        .expect("column info");
        assert_eq!((data_type.as_str(), udt.as_str()), ("ARRAY", "_text"));
    }
    // 13 (the lab's simulated outage; the real one is in outage.rs)
    assert_eq!(
        c.lab("POST", "/api/lab/db-outage", Some(json!({"down": true})))
            .await
            .status,
        200
    );
    let down = c.get("/api/health").await;
    assert_eq!(down.status, 503);
    let dv = down.json();
    assert_eq!(dv["status"], "unhealthy");
    assert_eq!(dv["database"]["status"], "error");
    assert!(
        dv["database"]["error"].is_string(),
        "development shows the error: {dv}"
    );
    assert_error_shape(&c.get("/api/projects").await, 503);
    assert_eq!(
        c.lab("POST", "/api/lab/db-outage", Some(json!({"down": false})))
            .await
            .status,
        200
    );
    assert_eq!(c.get("/api/health").await.status, 200);
}

async fn crud_semantics(app: &mut TestApp) {
    let c = app.client.clone();
    assert_eq!(c.get("/api/projects").await.json(), json!([]));
    let full = c
        .post_json(
            "/api/projects",
            &json!({"title": "A", "description": "d", "imageUrl": "https://img.example.com/a.png",
                     "projectUrl": "https://a.example.com", "githubUrl": "https://github.com/a/b",
                     "isActive": false, "sortOrder": 7, "unknownField": 1}),
        )
        .await;
    assert_eq!(full.status, 201, "{}", full.text);
    let p = full.json();
    let keys: Vec<&str> = p
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    for k in [
        "id",
        "title",
        "description",
        "imageUrl",
        "projectUrl",
        "githubUrl",
        "technologies",
        "isActive",
        "sortOrder",
        "createdAt",
        "updatedAt",
    ] {
        assert!(keys.contains(&k), "missing {k} in {p}");
    }
    assert!(!keys.contains(&"unknownField"));
    assert_eq!(p["technologies"], Value::Null);
    assert_eq!(p["isActive"], false);
    let ts = p["createdAt"].as_str().expect("createdAt");
    assert!(
        ts.len() == 24 && ts.ends_with('Z') && ts.as_bytes()[19] == b'.',
        "ISO with ms: {ts}"
    );
    let id = p["id"].as_str().expect("id").to_owned();

    // Partial update keeps absent fields; null clears a nullable one.
    tokio::time::sleep(Duration::from_millis(2)).await;
    let u = c
        .put_json(
            &format!("/api/projects/{id}"),
            &json!({"description": "d2", "imageUrl": null}),
        )
        .await;
    assert_eq!(u.status, 200, "{}", u.text);
    let u = u.json();
    assert_eq!(u["title"], "A");
    assert_eq!(u["description"], "d2");
    assert_eq!(u["imageUrl"], Value::Null);
    assert_eq!(u["githubUrl"], "https://github.com/a/b");
    assert_eq!(u["sortOrder"], 7);
    assert_eq!(u["createdAt"], p["createdAt"]);
    assert!(
        u["updatedAt"].as_str() > p["updatedAt"].as_str(),
        "updatedAt moves forward"
    );
    // Immediately again: still strictly forward.
    let u2 = c
        .put_json(&format!("/api/projects/{id}"), &json!({}))
        .await
        .json();
    assert!(u2["updatedAt"].as_str() > u["updatedAt"].as_str());
    assert_eq!(c.get(&format!("/api/projects/{id}")).await.json(), u2);

    // Inactive projects are not listed.
    assert_eq!(c.get("/api/projects").await.json(), json!([]));

    // Ordering: sortOrder ASC then createdAt DESC.
    let mut ids = Vec::new();
    for (title, order) in [("s2-old", 2), ("s1", 1), ("s2-new", 2), ("s0", 0)] {
        let r = c
            .post_json(
                "/api/projects",
                &json!({"title": title, "description": "d", "sortOrder": order}),
            )
            .await;
        ids.push(r.json()["id"].clone());
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let titles: Vec<Value> = c
        .get("/api/projects")
        .await
        .json()
        .as_array()
        .expect("array")
        .iter()
        .map(|p| p["title"].clone())
        .collect();
    assert_eq!(
        titles,
        vec![json!("s0"), json!("s1"), json!("s2-new"), json!("s2-old")]
    );

    // 404s name the id as given; nil UUID is a well-formed id (404, not 400).
    let missing = "00000000-0000-0000-0000-000000000000";
    for (m, body) in [
        ("GET", None),
        ("PUT", Some(json!({"title": "x"}))),
        ("DELETE", None),
    ] {
        let r = c
            .send(
                m,
                &format!("/api/projects/{missing}"),
                body.map(|b| ("application/json", b.to_string().into_bytes())),
                &[],
            )
            .await;
        let v = assert_error_shape(&r, 404);
        assert_eq!(v["message"], format!("Project with ID {missing} not found"));
        assert_eq!(v["error"], "Not Found");
    }
    let v = assert_error_shape(&c.delete("/api/projects/123").await, 400);
    assert_eq!(
        v,
        json!({"statusCode": 400, "message": "Validation failed (uuid is expected)", "error": "Bad Request"})
    );
    // Deleting twice: 204 then 404.
    assert_eq!(c.delete(&format!("/api/projects/{id}")).await.status, 204);
    assert_eq!(c.delete(&format!("/api/projects/{id}")).await.status, 404);
}

async fn aliases_are_kept(app: &mut TestApp) {
    let c = app.client.clone();
    let r = c
        .post_json(
            "/api/projects",
            &json!({"title": "t", "description": "d", "url": "https://davidshaevel.com", "github": "https://github.com/davidshaevel-dot-com/davidshaevel-platform"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let p = r.json();
    assert_eq!(p["projectUrl"], "https://davidshaevel.com");
    assert_eq!(
        p["githubUrl"],
        "https://github.com/davidshaevel-dot-com/davidshaevel-platform"
    );
    let id = p["id"].as_str().expect("id");
    let u = c
        .put_json(
            &format!("/api/projects/{id}"),
            &json!({"url": "https://example.org"}),
        )
        .await
        .json();
    assert_eq!(u["projectUrl"], "https://example.org");
}

async fn validation_messages(app: &mut TestApp) {
    let c = app.client.clone();
    let cases: Vec<(Value, &str)> = vec![
        (json!({"description": "d"}), "title must be a string"),
        (json!({"description": "d"}), "title should not be empty"),
        (
            json!({"title": "", "description": "d"}),
            "title should not be empty",
        ),
        (
            json!({"title": "x".repeat(201), "description": "d"}),
            "title must be shorter than or equal to 200 characters",
        ),
        (json!({"title": "t"}), "description must be a string"),
        (
            json!({"title": "t", "description": 5}),
            "description must be a string",
        ),
        (
            json!({"title": "t", "description": "d", "imageUrl": "not a url"}),
            "imageUrl must be a URL address",
        ),
        (
            json!({"title": "t", "description": "d", "projectUrl": "ftp:/x"}),
            "projectUrl must be a URL address",
        ),
        (
            json!({"title": "t", "description": "d", "githubUrl": 3}),
            "githubUrl must be a URL address",
        ),
        (
            json!({"title": "t", "description": "d", "technologies": "AWS"}),
            "technologies must be an array",
        ),
        (
            json!({"title": "t", "description": "d", "technologies": [1, "a"]}),
            "each value in technologies must be a string",
        ),
        (
            json!({"title": "t", "description": "d", "isActive": "yes"}),
            "isActive must be a boolean value",
        ),
        (
            json!({"title": "t", "description": "d", "sortOrder": "1"}),
            "sortOrder must be a number conforming to the specified constraints",
        ),
    ];
    for (body, expected) in cases {
        let r = c.post_json("/api/projects", &body).await;
        let v = assert_error_shape(&r, 400);
        assert_eq!(v["error"], "Bad Request");
        let msgs = v["message"]
            .as_array()
            .unwrap_or_else(|| panic!("array message for {body}: {v}"));
        assert!(
            msgs.iter().any(|m| m == expected),
            "{expected:?} not in {v} for {body}"
        );
    }
    // 200 characters exactly (multi-byte) is fine.
    let r = c
        .post_json(
            "/api/projects",
            &json!({"title": "é".repeat(200), "description": "d"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // PUT validates the same fields, all optional.
    let id = r.json()["id"].as_str().expect("id").to_owned();
    let v = assert_error_shape(
        &c.put_json(&format!("/api/projects/{id}"), &json!({"title": 1}))
            .await,
        400,
    );
    assert!(
        v["message"]
            .as_array()
            .expect("array")
            .iter()
            .any(|m| m == "title must be a string")
    );
}

async fn bad_input_is_never_a_500(app: &mut TestApp) {
    let c = app.client.clone();
    let r = c.post_json("/api/projects", &sample_project()).await;
    let id = r.json()["id"].as_str().expect("id").to_owned();
    let item = format!("/api/projects/{id}");

    // Malformed JSON, for both body routes.
    for path in ["/api/projects", item.as_str()] {
        let m = if path == "/api/projects" {
            "POST"
        } else {
            "PUT"
        };
        for raw in [
            "{",
            "{\"title\":",
            "[1,",
            "nope",
            "{\"a\":1}}",
            "\"just a string\"",
            "42",
        ] {
            let r = c
                .send(
                    m,
                    path,
                    Some(("application/json", raw.as_bytes().to_vec())),
                    &[],
                )
                .await;
            let v = assert_error_shape(&r, 400);
            assert_eq!(v["error"], "Bad Request", "{raw}");
        }
        // Non-JSON content type.
        let r = c
            .send(m, path, Some(("text/plain", b"title=x".to_vec())), &[])
            .await;
        assert!(r.status == 400 || r.status == 415, "{}", r.status);
        assert_error_shape(&r, r.status);
        // 2 MiB body.
        let big = json!({"title": "t", "description": "x".repeat(2 * 1024 * 1024)});
        let r = c
            .send(
                m,
                path,
                Some(("application/json", big.to_string().into_bytes())),
                &[],
            )
            .await;
        let v = assert_error_shape(&r, 413);
        assert_eq!(v["error"], "Payload Too Large");
    }
    // Wrong types for every field, on create and update.
    for wrong in [
        json!(null),
        json!(1),
        json!(1.5),
        json!(true),
        json!([]),
        json!({}),
        json!("x"),
        json!(["x"]),
    ] {
        for field in [
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
        ] {
            let mut body = sample_project();
            body[field] = wrong.clone();
            for (m, path) in [("POST", "/api/projects"), ("PUT", item.as_str())] {
                let r = c
                    .send(
                        m,
                        path,
                        Some(("application/json", body.to_string().into_bytes())),
                        &[],
                    )
                    .await;
                assert!(
                    r.status < 500,
                    "{m} {field}={wrong}: {} {}",
                    r.status,
                    r.text
                );
                if r.status >= 400 {
                    assert_error_shape(&r, r.status);
                }
            }
        }
    }
    // Out-of-range numbers and NUL characters (which PostgreSQL text rejects).
    for body in [
        json!({"title": "t", "description": "d", "sortOrder": 1e300}),
        json!({"title": "t", "description": "d", "sortOrder": 4294967296u64}),
        json!({"title": "t", "description": "d", "sortOrder": -4294967296i64}),
        json!({"title": "t\u{0}", "description": "d"}),
        json!({"title": "t", "description": "d", "technologies": ["a\u{0}"]}),
        json!({"title": "t", "description": "d", "imageUrl": format!("https://a.com/{}", "x".repeat(600))}),
    ] {
        let r = c.post_json("/api/projects", &body).await;
        assert_error_shape(&r, 400);
    }
    // Invalid ids.
    for bad in [
        "x",
        "123",
        "00000000-0000-0000-0000-00000000000g",
        "%ZZ",
        "6f9619ff8b86d011b42d00c04fc964ff",
        "{6f9619ff-8b86-d011-b42d-00c04fc964ff}",
    ] {
        for m in ["GET", "PUT", "DELETE"] {
            let body = (m == "PUT").then(|| ("application/json", b"{}".to_vec()));
            let r = c.send(m, &format!("/api/projects/{bad}"), body, &[]).await;
            let v = assert_error_shape(&r, 400);
            assert_eq!(
                v["message"], "Validation failed (uuid is expected)",
                "{m} {bad}"
            );
        }
    }
    // Trailing slashes match like Express's non-strict routing.
    assert_eq!(c.get("/api/health/").await.status, 200);
    assert_eq!(c.get(&format!("{item}/")).await.status, 200);
    assert!(c.get("/api/projects/").await.json().is_array());
    // Unknown routes and methods.
    let v = assert_error_shape(&c.get("/x").await, 404);
    assert_eq!(
        v,
        json!({"statusCode": 404, "message": "Cannot GET /x", "error": "Not Found"})
    );
    let v = assert_error_shape(&c.send("PATCH", "/api/projects", None, &[]).await, 404);
    assert_eq!(v["message"], "Cannot PATCH /api/projects");

    // SQL-looking and non-ASCII strings are stored and returned verbatim.
    let tricky = [
        "Robert'); DROP TABLE projects;--",
        "\" OR 1=1 --",
        "日本語のタイトル 🚀 ñ ü \\ \u{202e}",
        "$1 $2 ?1 %s {}",
    ];
    for s in tricky {
        let body = json!({"title": s, "description": s, "technologies": [s, "'"]});
        let r = c.post_json("/api/projects", &body).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let p = r.json();
        let back = c
            .get(&format!("/api/projects/{}", p["id"].as_str().expect("id")))
            .await
            .json();
        assert_eq!(back["title"], s);
        assert_eq!(back["description"], s);
        assert_eq!(back["technologies"], json!([s, "'"]));
    }
    assert_eq!(c.get("/api/health").await.status, 200);
    // Nothing above was counted as a server error.
    let text = c.metrics().await;
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("http_requests_total") && l.contains("status_code=\"5")),
        "{text}"
    );
    let _ = sample(&text, "http_requests_total", &[]);
}

async fn data_survives_a_restart(app: &mut TestApp) {
    let r = app
        .client
        .post_json("/api/projects", &sample_project())
        .await;
    assert_eq!(r.status, 201);
    let before = r.json();
    app.restart().await;
    let after = app
        .client
        .get(&format!(
            "/api/projects/{}",
            before["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(after.status, 200);
    assert_eq!(after.json(), before);
    assert_eq!(
        app.client.get("/api/projects").await.json(),
        json!([before])
    );
}

async fn cors_headers(app: &mut TestApp) {
    let r = app
        .client
        .send(
            "GET",
            "/api/health",
            None,
            &[("origin", "https://elsewhere.example")],
        )
        .await;
    assert_eq!(r.status, 200);
    let res = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
        .get(format!("{}/api/health", app.client.base))
        .header("origin", "https://elsewhere.example")
        .send()
        .await
        .expect("request");
    assert_eq!(
        res.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("*")
    );
}

crate::both_engines!(
    the_originals_thirteen_facts,
    crud_semantics,
    aliases_are_kept,
    validation_messages,
    bad_input_is_never_a_500,
    data_survives_a_restart,
    cors_headers,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_hides_database_errors_and_restricts_cors() {
    let storage = Storage::new(Engine::Sqlite).await;
    let app = TestApp::spawn_with(Engine::Sqlite, storage, |mut c| {
        c.environment = "production".into();
        c.lab.allow_prod = true;
        c.frontend_url = "https://davidshaevel.com".into();
        c
    })
    .await;
    let h = app.client.get("/api/health").await.json();
    assert_eq!(h["environment"], "production");
    app.client
        .lab("POST", "/api/lab/db-outage", Some(json!({"down": true})))
        .await;
    let down = app.client.get("/api/health").await;
    assert_eq!(down.status, 503);
    let dv = down.json();
    assert_eq!(dv["status"], "unhealthy");
    assert!(
        dv["database"].get("error").is_none(),
        "no error detail in production: {dv}"
    );
    let res = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
        .get(format!("{}/api/projects", app.client.base))
        .header("origin", "https://davidshaevel.com")
        .send()
        .await
        .expect("request");
    assert_eq!(
        res.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://davidshaevel.com")
    );
    app.finish().await;
}
