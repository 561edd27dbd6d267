//! The route table (`stream_http::routes::ROUTES`) is the one list of routes. The two other
//! places that must name routes, because their tools read them, are checked against it here:
//! the Cargo router table of `cargo lambda watch` (root `Cargo.toml`) and the HTTP API events
//! of the SAM template (`infra/template.yaml`). A route added to one and not the others fails.

use std::collections::BTreeSet;
use std::path::Path;

use stream_http::routes::{Function, ROUTES};
use yaml_rust2::{Yaml, YamlLoader};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
}

/// (gateway path, function) of every route the cloud serves.
fn table_paths() -> BTreeSet<(String, String)> {
    ROUTES
        .iter()
        .map(|r| (r.gateway_path.to_string(), r.function.name().to_string()))
        .collect()
}

/// (method, gateway path, function) of every route the cloud's HTTP API serves.
fn table_routes() -> BTreeSet<(String, String, String)> {
    ROUTES
        .iter()
        .filter(|r| r.on_http_api)
        .map(|r| {
            (
                r.method.to_string(),
                r.gateway_path.to_string(),
                r.function.name().to_string(),
            )
        })
        .collect()
}

#[test]
fn the_cargo_router_table_is_the_route_table() {
    let text = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let manifest: toml::Table = text.parse().unwrap();
    let router = manifest["workspace"]["metadata"]["lambda"]["watch"]["router"]
        .as_table()
        .unwrap();
    let cargo: BTreeSet<(String, String)> = router
        .iter()
        .map(|(path, f)| (path.clone(), f.as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        cargo,
        table_paths(),
        "root Cargo.toml [workspace.metadata.lambda.watch.router]"
    );
}

#[test]
fn the_template_routes_are_the_route_table() {
    let text = std::fs::read_to_string(root().join("infra/template.yaml")).unwrap();
    let docs = YamlLoader::load_from_str(&text).unwrap();
    let resources = docs[0]["Resources"].as_hash().unwrap();
    let function_of = |logical: &str| match logical {
        "ApiFunction" => Some(Function::Api),
        "StreamFunction" => Some(Function::Stream),
        "HlsFunction" => Some(Function::Hls),
        _ => None,
    };
    let mut template = BTreeSet::new();
    for (name, resource) in resources {
        let name = name.as_str().unwrap();
        let Some(events) = resource["Properties"]["Events"].as_hash() else {
            continue;
        };
        for event in events
            .values()
            .filter(|e| e["Type"].as_str() == Some("HttpApi"))
        {
            let props = &event["Properties"];
            let function = function_of(name).unwrap_or_else(|| panic!("HTTP API event on {name}"));
            let field = |k: &str| match &props[k] {
                Yaml::String(s) => s.clone(),
                other => panic!("{name}: {k} is {other:?}"),
            };
            template.insert((field("Method"), field("Path"), function.name().to_string()));
        }
    }
    assert_eq!(
        template,
        table_routes(),
        "infra/template.yaml HttpApi events"
    );
}
