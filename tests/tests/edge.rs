//! Edge delivery (SPEC §3 "Edge delivery", issue 11) on the embedded shape, where `streamd` is
//! its own edge: variant playlists list every piece at its content path with one signature per
//! session and rendition; two sessions list identical paths; a forged, expired, other-prefix or
//! missing signature is refused (`403`, no bytes); a made piece is served from disk without
//! making it again, and the origin path still keeps its session alive.

use std::time::Duration;

use stream_service::edge::Edge;
use stream_tests::{media_dir, token, Api};

/// (master URL, session id) of a new session.
async fn start(api: &Api, t: &str, id: &str) -> (String, String) {
    let r = api
        .get_json(&format!("/api/v1/stream/{id}?profile=chrome"), t)
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    (
        api.absolute(v["url"].as_str().unwrap()),
        v["session_id"].as_str().unwrap().to_string(),
    )
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn get(url: &str) -> reqwest::Response {
    client().get(url).send().await.unwrap()
}

/// The first variant playlist's segment URIs (resolved), init first.
async fn pieces(master: &str) -> Vec<String> {
    let base = url::Url::parse(master).unwrap();
    let text = get(master).await.text().await.unwrap();
    let variant = text
        .lines()
        .find(|l| !l.starts_with('#') && !l.is_empty())
        .unwrap();
    let variant = base.join(variant).unwrap();
    let text = get(variant.as_str()).await.text().await.unwrap();
    let map = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MAP:URI=\""))
        .map(|r| r.trim_end_matches('"').to_string());
    map.into_iter()
        .chain(
            text.lines()
                .filter(|l| !l.starts_with('#') && !l.is_empty())
                .map(str::to_string),
        )
        .map(|u| variant.join(&u).unwrap().to_string())
        .collect()
}

/// GET with retries while the piece is being made.
async fn fetch(url: &str) -> reqwest::Response {
    for _ in 0..60 {
        let r = get(url).await;
        if r.status() != 503 {
            return r;
        }
        assert_eq!(r.headers()["cache-control"], "no-store");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("{url} still pending");
}

fn path_of(u: &str) -> String {
    url::Url::parse(u).unwrap().path().to_string()
}

fn with_query(u: &str, query: &str) -> String {
    let mut u = url::Url::parse(u).unwrap();
    u.set_query(Some(query));
    u.to_string()
}

// Long because it is one story: two viewers, the signatures refused one by one, the made
// piece served again from disk, the session kept alive through the content path.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_content_paths_are_signed_shared_and_served_from_disk() {
    let api = Api::embedded().await;
    let owner = token("edge-owner");
    let id = api
        .upload_settled(&owner, &media_dir().join("h264_irregular_gop.mkv"))
        .await;
    let shared = serde_json::json!({"visibility": "shared"});
    let r = api
        .call(
            "PATCH",
            &format!("/api/v1/media/{id}"),
            Some(&owner),
            &[],
            Some(shared),
        )
        .await;
    assert_eq!(r.status, 200);
    let (m1, s1) = start(&api, &owner, &id).await;
    let (m2, _) = start(&api, &token("edge-other"), &id).await;
    let (a, b) = (pieces(&m1).await, pieces(&m2).await);
    // Identical content paths, different signatures, no session route.
    assert_eq!(
        a.iter().map(|u| path_of(u)).collect::<Vec<_>>(),
        b.iter().map(|u| path_of(u)).collect::<Vec<_>>()
    );
    assert_ne!(a, b, "each session has its own signature");
    assert!(a.iter().all(|u| path_of(u).starts_with("/renditions/")));
    assert!(a
        .iter()
        .all(|u| u.contains(&format!("session={s1}&Policy="))));

    // The segment, made through the origin path: no redirect hop, immutable bytes.
    let seg = &a[1];
    let r = fetch(seg).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(r.headers()["content-type"], "video/iso.segment");
    let bytes = r.bytes().await.unwrap();
    assert!(bytes.len() > 1000);
    // The other viewer gets the same bytes (served from disk: its claim is not touched).
    let key = path_of(seg).split('/').nth(2).unwrap().to_string();
    let record = stream_core::segment::record_id(&key, "seg_00000.m4s");
    let before = api.state().meta.get_segment(&record).await.unwrap();
    assert_eq!(fetch(&b[1]).await.bytes().await.unwrap(), bytes);
    assert_eq!(api.state().meta.get_segment(&record).await.unwrap(), before);

    // Refused at the edge: 403 and no bytes.
    let query = url::Url::parse(seg).unwrap().query().unwrap().to_string();
    let Some(Edge::Local(signer)) = api.state().edge.as_deref() else {
        panic!("the embedded server is its own edge")
    };
    let now = chrono::Utc::now().timestamp();
    let prefix = format!("/renditions/{key}/*");
    let other_key = "0".repeat(64);
    let flip = |q: &str| {
        let i = q.find("Signature=").unwrap() + "Signature=".len();
        let c = if &q[i..i + 1] == "A" { "B" } else { "A" };
        format!("{}{c}{}", &q[..i], &q[i + 1..])
    };
    let refused = [
        ("missing", with_query(seg, &format!("session={s1}"))),
        ("forged", with_query(seg, &flip(&query))),
        ("expired", with_query(seg, &signer.grant(&prefix, now - 1))),
        ("other prefix", seg.replace(&key, &other_key)),
        (
            "other prefix, its own signature moved",
            with_query(&seg.replace(&key, &other_key), &query),
        ),
        (
            "another rendition's grant",
            with_query(
                seg,
                &signer.grant(&format!("/renditions/{other_key}/*"), now + 60),
            ),
        ),
    ];
    for (what, url) in refused {
        let r = get(&url).await;
        assert_eq!(r.status(), 403, "{what}: {url}");
        let body = r.bytes().await.unwrap();
        assert!(
            !body.windows(4).any(|w| w == b"moof"),
            "{what}: no media bytes"
        );
    }
    // A valid signature for an unknown content key or a name outside the plan: 404.
    let grant = signer.grant(&format!("/renditions/{other_key}/*"), now + 60);
    let unknown = with_query(&seg.replace(&key, &other_key), &grant);
    assert_eq!(get(&unknown).await.status(), 404);
    let outside = seg.replace("seg_00000.m4s", "seg_99999.m4s");
    assert_eq!(get(&outside).await.status(), 404);

    // The origin path keeps its session: expiry forward, position recorded.
    let before = api
        .state()
        .meta
        .get_session(&s1, now)
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = fetch(&a[2]).await;
    assert_eq!(r.status(), 200);
    let after = api
        .state()
        .meta
        .get_session(&s1, now)
        .await
        .unwrap()
        .unwrap();
    assert!(after.expires_at > before.expires_at, "expiry moved");
    assert!(
        after.last_position.is_some_and(|p| p > 0.0),
        "position recorded: {:?}",
        after.last_position
    );
    api.stop().await;
}

/// With a CloudFront edge, content paths trust the CDN's signature check only in a process the
/// CDN alone can reach (a Lambda behind its IAM function URL): a server reachable any other way
/// refuses them, signed or not, rather than serve and encode for anyone.
#[tokio::test]
#[ignore = "needs the local AWS stack (scripts/test.sh runs it)"]
async fn cloud_content_paths_are_refused_outside_the_cdn_origin() {
    let secret = stream_tests::edge_key_secret().await;
    let server = stream_tests::TestServer::start_with(&[
        ("STREAM_STORAGE", "aws"),
        ("STREAM_EDGE_KEY_PAIR_ID", stream_tests::EDGE_KEY_PAIR_ID),
        ("STREAM_EDGE_KEY_SECRET", secret.as_str()),
        ("STREAM_EDGE_URL", "https://cdn.example.com"),
    ])
    .await;
    let path = format!("/renditions/{}/seg_00000.m4s?session=x", "ab".repeat(32));
    assert_eq!(get(&server.url(&path)).await.status(), 403);
    server.stop().await;
    // The stand-in of the function behind the CDN trusts it (an unknown key: 404, not 403).
    let api = Api::cloud().await;
    let at_origin = format!("{}{path}", api.server().origin);
    assert_eq!(get(&at_origin).await.status(), 404);
    api.stop().await;
}
