//! `GET /api/v1/openapi.json` (both shapes): an OpenAPI 3.1 document that a validator from a
//! registry (`openapi-spec-validator`, installed by `scripts/setup.sh --test`) accepts, listing
//! every route of the route table with its method. The same validator refuses a broken copy, so
//! this test can fail.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use stream_http::routes::ROUTES;
use stream_tests::{repo_root, Api};

fn validator() -> PathBuf {
    let path = std::env::var_os("STREAM_OPENAPI_VALIDATOR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".cache/openapi-venv/bin/openapi-spec-validator"));
    assert!(
        path.exists(),
        "{} is missing: run scripts/setup.sh --test",
        path.display()
    );
    path
}

/// Runs the validator on `doc`; returns (passed, its output).
fn validate(doc: &Value) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec_pretty(doc).unwrap()).unwrap();
    let out = Command::new(validator())
        .arg("--schema")
        .arg("3.1")
        .arg(&file)
        .output()
        .expect("run the validator");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text.chars().take(2000).collect())
}

async fn check(api: Api) {
    let r = api
        .call("GET", "/api/v1/openapi.json", None, &[], None)
        .await;
    assert_eq!(r.status, 200, "{}: {}", api.name(), r.text());
    assert_eq!(
        r.header("content-type"),
        Some("application/json"),
        "{}",
        api.name()
    );
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.1.0", "{}", api.name());
    for route in ROUTES {
        let method = route.method.as_str().to_ascii_lowercase();
        assert!(
            doc["paths"][route.path][&method].is_object(),
            "{}: {} {} is not documented",
            api.name(),
            route.method,
            route.path
        );
    }
    let (ok, out) = validate(&doc);
    assert!(
        ok,
        "{}: the document is not valid OpenAPI 3.1:\n{out}",
        api.name()
    );

    // The validator is not a rubber stamp: a path parameter that is not declared is refused.
    let mut broken = doc.clone();
    let op = &mut broken["paths"]["/api/v1/media/{id}"]["get"];
    op["parameters"] = Value::Array(vec![]);
    let (ok, _) = validate(&broken);
    assert!(!ok, "the validator accepted an undeclared path parameter");
    api.stop().await;
}

#[tokio::test]
#[ignore = "needs the OpenAPI validator (scripts/setup.sh --test; scripts/test.sh runs it)"]
async fn openapi_document_embedded() {
    check(Api::embedded().await).await;
}

#[tokio::test]
#[ignore = "needs the local AWS stack and the validator (scripts/test.sh runs it)"]
async fn openapi_document_cloud() {
    check(Api::cloud().await).await;
}
