//! One contract, two implementations: the same assertions run against the embedded stores
//! (disk + SQLite, served by an in-process streamd) and the cloud stores (LocalStack S3 +
//! DynamoDB Local).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use stream_core::hls::record::RenditionRecord;
use stream_core::ids::random_id;
use stream_core::model::{
    Claim, Media, MediaStatus, Progress, RenditionLimits, SegmentState, Visibility,
};
use stream_core::playback::decision::{Decision, Method as PlayMethod, SegmentFormat};
use stream_core::session::Session;
use stream_core::Error;
use stream_storage::{modify_media, MetaStore, ObjectStore};
use stream_tests::{aws_state, http, TestServer};

fn payload() -> Bytes {
    Bytes::from(
        (0..100_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect::<Vec<u8>>(),
    )
}

fn tamper(url: &str) -> String {
    // Flip one hex digit of the signature (embedded: `signature=`, S3: `X-Amz-Signature=`).
    let pos = url.rfind("ignature=").expect("signed URL") + "ignature=".len();
    let mut chars: Vec<char> = url.chars().collect();
    chars[pos] = if chars[pos] == '0' { '1' } else { '0' };
    chars.into_iter().collect()
}

// Long because it is the object-store contract, one clause after another, run on both stores.
async fn object_store_contract(store: &dyn ObjectStore) {
    let key = format!("contract/{}/blob.bin", random_id());
    let data = payload();
    assert_eq!(store.head(&key).await.unwrap(), None, "absent before put");
    assert_eq!(store.read_range(&key, 0, 10).await.unwrap(), None);

    store
        .put(
            &key,
            data.clone(),
            "application/octet-stream",
            Some("public, max-age=31536000, immutable"),
        )
        .await
        .unwrap();
    assert_eq!(
        store.head(&key).await.unwrap().map(|i| i.size),
        Some(data.len() as u64)
    );
    assert_eq!(
        store.read_range(&key, 0, 10).await.unwrap().unwrap(),
        data.slice(0..10)
    );
    assert_eq!(
        store.read_range(&key, 5000, 1234).await.unwrap().unwrap(),
        data.slice(5000..6234)
    );
    assert_eq!(
        store.read_range(&key, 99_990, 100).await.unwrap().unwrap(),
        data.slice(99_990..),
        "short read at the end"
    );

    // Presigned GET: whole object, ranges (206), tampering refused.
    let url = store
        .presign_get(&key, Duration::from_secs(300))
        .await
        .unwrap();
    let r = http().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), data);
    let r = http()
        .get(&url)
        .header("Range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-range"], "bytes 100-199/100000");
    assert_eq!(r.bytes().await.unwrap(), data.slice(100..200));
    let r = http()
        .get(&url)
        .header("Range", "bytes=-10")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().await.unwrap(), data.slice(99_990..));
    let head_url = store
        .presign_head(&key, Duration::from_secs(300))
        .await
        .unwrap();
    let r = http().head(&head_url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], "100000");
    let r = http().head(tamper(&head_url)).send().await.unwrap();
    assert_eq!(r.status(), 403, "tampered HEAD signature refused");
    let r = http().get(tamper(&url)).send().await.unwrap();
    assert_eq!(r.status(), 403, "tampered signature refused");

    // Presigned PUT, with the headers it asks for: it writes once (`If-None-Match: *`).
    let key2 = format!("contract/{}/put.bin", random_id());
    let put = store
        .presign_put(&key2, "application/octet-stream", Duration::from_secs(300))
        .await
        .unwrap();
    assert!(
        put.headers
            .iter()
            .any(|(k, v)| (k.as_str(), v.as_str()) == stream_storage::WRITE_ONCE),
        "{:?}",
        put.headers
    );
    let send = |url: String, body: Bytes| {
        let mut rb = http().put(url).body(body);
        for (k, v) in &put.headers {
            rb = rb.header(k, v);
        }
        rb.send()
    };
    let r = send(tamper(&put.url), data.clone()).await.unwrap();
    assert_eq!(r.status(), 403, "tampered PUT refused");
    let r = send(put.url.clone(), data.clone()).await.unwrap();
    assert!(r.status().is_success(), "presigned PUT: {}", r.status());
    assert_eq!(
        store.head(&key2).await.unwrap().map(|i| i.size),
        Some(data.len() as u64)
    );
    // Replayed: refused as S3 refuses a conditional PUT onto an existing key; nothing changed.
    let r = send(put.url.clone(), Bytes::from_static(b"overwritten"))
        .await
        .unwrap();
    assert_eq!(r.status(), 412, "a second PUT to the same URL");
    assert_eq!(
        store.read_range(&key2, 0, 10).await.unwrap().unwrap(),
        data.slice(0..10),
        "the first PUT's bytes stay"
    );

    // Expiry.
    let short = store
        .presign_get(&key, Duration::from_secs(1))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        http().get(&short).send().await.unwrap().status(),
        403,
        "expired URL refused"
    );

    // Hostile keys never reach storage.
    for bad in ["../etc/passwd", "a/../../b", "/abs", ""] {
        assert!(
            matches!(store.head(bad).await, Err(Error::Invalid { .. })),
            "{bad}"
        );
        assert!(
            store
                .presign_get(bad, Duration::from_secs(60))
                .await
                .is_err(),
            "{bad}"
        );
    }

    store.delete(&key).await.unwrap();
    store.delete(&key2).await.unwrap();
    store.delete(&key).await.unwrap(); // idempotent
    assert_eq!(store.head(&key).await.unwrap(), None);
}

fn media(owner: &str) -> Media {
    let now = Utc::now();
    let id = random_id();
    Media {
        source_key: format!("uploads/{id}/source.mp4"),
        id,
        title: "t".into(),
        owner: owner.into(),
        visibility: Visibility::Private,
        status: MediaStatus::Uploading,
        error: None,
        filename: "a.mp4".into(),
        content_type: "video/mp4".into(),
        size_bytes: None,
        probe: None,
        subtitles: vec![],
        created_at: now,
        updated_at: now,
        version: 0,
        multipart: None,
    }
}

async fn meta_store_contract(store: Arc<dyn MetaStore>) {
    let m = media("alice");
    assert_eq!(store.get_media(&m.id).await.unwrap(), None);
    store.create_media(&m).await.unwrap();
    assert!(
        matches!(store.create_media(&m).await, Err(Error::Conflict { .. })),
        "create is conditional"
    );
    assert_eq!(store.get_media(&m.id).await.unwrap().as_ref(), Some(&m));

    let mut changed = m.clone();
    changed.title = "new".into();
    let stored = store.update_media(&changed).await.unwrap();
    assert_eq!(stored.version, 1);
    assert!(
        matches!(
            store.update_media(&changed).await,
            Err(Error::ConcurrentModification(_))
        ),
        "stale version refused"
    );
    assert_eq!(store.get_media(&m.id).await.unwrap().unwrap().title, "new");
    assert!(store
        .list_media()
        .await
        .unwrap()
        .iter()
        .any(|x| x.id == m.id));

    // Conditional writes under concurrency: 10 writers, none lost.
    let mut tasks = vec![];
    for i in 0..10 {
        let store = store.clone();
        let id = m.id.clone();
        tasks.push(tokio::spawn(async move {
            modify_media(store.as_ref(), &id, |x| {
                x.title.push_str(&format!("|{i}"));
                Ok(true)
            })
            .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let final_title = store.get_media(&m.id).await.unwrap().unwrap().title;
    for i in 0..10 {
        assert!(
            final_title.contains(&format!("|{i}")),
            "write {i} lost: {final_title}"
        );
    }

    // Progress per user and media.
    assert_eq!(store.get_progress("alice", &m.id).await.unwrap(), None);
    let p = Progress {
        user_id: "alice".into(),
        media_id: m.id.clone(),
        position_seconds: 12.5,
        completed: false,
        updated_at: Utc::now(),
    };
    store.put_progress(&p).await.unwrap();
    let mut p2 = p.clone();
    p2.position_seconds = 30.0;
    store.put_progress(&p2).await.unwrap();
    assert_eq!(
        store
            .get_progress("alice", &m.id)
            .await
            .unwrap()
            .unwrap()
            .position_seconds,
        30.0
    );
    assert_eq!(store.get_progress("bob", &m.id).await.unwrap(), None);

    session_contract(store.clone()).await;
    rendition_contract(store.as_ref()).await;
    segment_contract(store).await;
}

/// A rendition record is found by its content key alone, as stored, and a second write of the
/// same key changes nothing.
async fn rendition_contract(store: &dyn MetaStore) {
    let (_, _, set) = stream_core::fixtures::remux_fixture();
    let mut set = set;
    set.media_id = random_id();
    let id = set.video[0].id.clone();
    let key = set.content_key(&id).unwrap();
    assert_eq!(store.get_rendition(&key).await.unwrap(), None);
    let rec = RenditionRecord::new(&set, &id, 10).unwrap();
    store.put_rendition(&key, &rec).await.unwrap();
    store.put_rendition(&key, &rec).await.unwrap();
    // The first record of a key stays, in both stores.
    let later = RenditionRecord::new(&set, &id, 11).unwrap();
    store.put_rendition(&key, &later).await.unwrap();
    assert_eq!(store.get_rendition(&key).await.unwrap(), Some(rec));
    let other = set.content_key(&set.audio.as_ref().unwrap().id).unwrap();
    assert_eq!(store.get_rendition(&other).await.unwrap(), None);
    // A trick-play plan likewise, beside (never instead of) a rendition record.
    let (probe, _, _) = stream_core::fixtures::remux_fixture();
    let plan =
        stream_core::trickplay::TrickplayPlan::new(&set.media_id, &probe, Default::default())
            .unwrap();
    let tkey = plan.content_key();
    assert_eq!(store.get_trickplay(&tkey).await.unwrap(), None);
    store.put_trickplay(&tkey, &plan).await.unwrap();
    store.put_trickplay(&tkey, &plan).await.unwrap();
    assert_eq!(store.get_trickplay(&tkey).await.unwrap(), Some(plan));
    assert_eq!(store.get_trickplay(&key).await.unwrap(), None);
    assert_eq!(store.get_rendition(&tkey).await.unwrap(), None);
}

// Long because it is the claim contract (claim, lease, take-over, attempts, complete, fail),
// one clause after another, run on both stores.
async fn segment_contract(store: Arc<dyn MetaStore>) {
    let now = Utc::now().timestamp();
    let id = format!("{}/seg_00003.m4s", random_id());
    assert_eq!(store.get_segment(&id).await.unwrap(), None);
    let Claim::Claimed(rec) = store
        .claim_segment(&id, "w1", now, now + 30, 3)
        .await
        .unwrap()
    else {
        panic!("first claim wins")
    };
    assert_eq!(
        (rec.state, rec.worker.as_str(), rec.attempts),
        (SegmentState::Encoding, "w1", 1)
    );
    let Claim::Held(held) = store
        .claim_segment(&id, "w2", now + 5, now + 35, 3)
        .await
        .unwrap()
    else {
        panic!("a live claim holds")
    };
    assert_eq!(held.worker, "w1");
    assert!(
        !store.complete_segment(&id, "w2", "k").await.unwrap(),
        "only the holder completes"
    );
    // The lease runs out (worker died): another worker takes over; the dead one can no longer finish.
    let Claim::Claimed(taken) = store
        .claim_segment(&id, "w2", now + 31, now + 61, 3)
        .await
        .unwrap()
    else {
        panic!("expired lease is taken over")
    };
    assert_eq!((taken.worker.as_str(), taken.attempts), ("w2", 2));
    assert!(
        !store.complete_segment(&id, "w1", "k").await.unwrap(),
        "the dead worker lost its claim"
    );
    // A failure may be retried until the attempts run out.
    assert!(store.fail_segment(&id, "w2", "boom").await.unwrap());
    let failed = store.get_segment(&id).await.unwrap().unwrap();
    assert_eq!(
        (failed.state, failed.error.as_deref()),
        (SegmentState::Failed, Some("boom"))
    );
    let Claim::Claimed(third) = store
        .claim_segment(&id, "w3", now + 40, now + 70, 3)
        .await
        .unwrap()
    else {
        panic!("retry after failure")
    };
    assert_eq!((third.attempts, third.error), (3, None));
    assert!(store.fail_segment(&id, "w3", "boom again").await.unwrap());
    let Claim::Held(done) = store
        .claim_segment(&id, "w4", now + 50, now + 80, 3)
        .await
        .unwrap()
    else {
        panic!("attempts exhausted")
    };
    assert_eq!(
        done.state,
        SegmentState::Failed,
        "failed for good after 3 attempts"
    );

    // Ready is final; 20 concurrent claimers of a fresh segment: exactly one wins.
    let id2 = format!("{}/init.mp4", random_id());
    let mut tasks = vec![];
    for i in 0..20 {
        let store = store.clone();
        let id2 = id2.clone();
        tasks.push(tokio::spawn(async move {
            store
                .claim_segment(&id2, &format!("w{i}"), now, now + 30, 3)
                .await
                .unwrap()
        }));
    }
    let mut winners = vec![];
    for t in tasks {
        if let Claim::Claimed(r) = t.await.unwrap() {
            winners.push(r.worker);
        }
    }
    assert_eq!(winners.len(), 1, "one claim wins: {winners:?}");
    assert!(store
        .complete_segment(&id2, &winners[0], "renditions/x/init.mp4")
        .await
        .unwrap());
    let ready = store.get_segment(&id2).await.unwrap().unwrap();
    assert_eq!(
        (ready.state, ready.object_key.as_deref()),
        (SegmentState::Ready, Some("renditions/x/init.mp4"))
    );
    assert!(
        matches!(
            store
                .claim_segment(&id2, "late", now + 100, now + 130, 3)
                .await
                .unwrap(),
            Claim::Held(_)
        ),
        "ready is never re-claimed"
    );
    store.delete_segment(&id2).await.unwrap();
    assert_eq!(store.get_segment(&id2).await.unwrap(), None);

    // A claim given up before any work: gone, free again, no attempt counted; only its holder's.
    let id3 = format!("{}/seg_00003.m4s", random_id());
    assert!(matches!(
        store
            .claim_segment(&id3, "w1", now, now + 30, 3)
            .await
            .unwrap(),
        Claim::Claimed(_)
    ));
    assert!(
        !store.release_segment(&id3, "w2").await.unwrap(),
        "not w2's"
    );
    assert!(store.release_segment(&id3, "w1").await.unwrap());
    assert_eq!(store.get_segment(&id3).await.unwrap(), None);
    assert!(
        !store.release_segment(&id3, "w1").await.unwrap(),
        "already free"
    );
    match store
        .claim_segment(&id3, "w3", now, now + 30, 3)
        .await
        .unwrap()
    {
        Claim::Claimed(rec) => assert_eq!(rec.attempts, 1, "a fresh claim"),
        other => panic!("{other:?}"),
    }
    assert!(store.complete_segment(&id3, "w3", "k").await.unwrap());
    assert!(
        !store.release_segment(&id3, "w3").await.unwrap(),
        "ready stays"
    );
}

fn session(user: &str, media: &str, key: &str, now: i64) -> Session {
    // Session times are whole seconds (the stream handler makes them so; DynamoDB keeps seconds).
    let at = chrono::DateTime::from_timestamp(now, 0).unwrap();
    Session {
        id: random_id(),
        user_id: user.into(),
        media_id: media.into(),
        reuse_key: key.into(),
        decision: Decision {
            method: PlayMethod::Remux,
            reasons: vec![],
            audio_track: Some(1),
            segment_format: Some(SegmentFormat::Fmp4),
            subtitle_burn: None,
        },
        limits: RenditionLimits::default(),
        created_at: at,
        last_access: at,
        last_position: None,
        expires_at: now + 100,
    }
}

// Long because it is the session contract, one clause after another, run on both stores.
async fn session_contract(store: Arc<dyn MetaStore>) {
    let now = Utc::now().timestamp();
    let key = random_id();
    let a = session("alice", "m1", &key, now);
    assert_eq!(store.get_session(&a.id, now).await.unwrap(), None);
    assert_eq!(
        store.create_or_reuse_session(&a, now).await.unwrap(),
        a,
        "first candidate is stored"
    );
    assert_eq!(
        store.get_session(&a.id, now).await.unwrap().as_ref(),
        Some(&a)
    );
    let b = session("alice", "m1", &key, now);
    assert_eq!(
        store.create_or_reuse_session(&b, now).await.unwrap().id,
        a.id,
        "same key reuses the live session"
    );
    assert_eq!(
        store.get_session(&b.id, now).await.unwrap(),
        None,
        "the losing candidate is not stored"
    );

    // Touch moves expiry forward (never back) and records the position.
    let t = store
        .touch_session(&a.id, now + 10, now + 500, Some(42.5))
        .await
        .unwrap()
        .expect("live");
    assert_eq!(t.expires_at, now + 500);
    assert_eq!(t.last_position, Some(42.5));
    let again = store.get_session(&a.id, now + 10).await.unwrap().unwrap();
    assert_eq!(
        (again.expires_at, again.last_position),
        (now + 500, Some(42.5))
    );
    let t = store
        .touch_session(&a.id, now + 11, now + 200, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        t.last_position,
        Some(42.5),
        "a touch without a position keeps the last one"
    );
    // The reuse key lives as long as its session: past the first expiry it still reuses.
    let c = session("alice", "m1", &key, now);
    assert_eq!(
        store
            .create_or_reuse_session(&c, now + 300)
            .await
            .unwrap()
            .id,
        a.id
    );

    // Expired: reads as gone, cannot be touched, and its key is free for a new session.
    assert_eq!(store.get_session(&a.id, now + 500).await.unwrap(), None);
    assert_eq!(
        store
            .touch_session(&a.id, now + 501, now + 900, None)
            .await
            .unwrap(),
        None
    );
    let d = session("alice", "m1", &key, now + 600);
    assert_eq!(
        store
            .create_or_reuse_session(&d, now + 600)
            .await
            .unwrap()
            .id,
        d.id
    );

    // Delete ends it and frees the key; deleting twice is fine.
    store.delete_session(&d.id).await.unwrap();
    store.delete_session(&d.id).await.unwrap();
    assert_eq!(store.get_session(&d.id, now).await.unwrap(), None);
    let e = session("alice", "m1", &key, now);
    assert_eq!(
        store.create_or_reuse_session(&e, now).await.unwrap().id,
        e.id
    );

    // 50 concurrent candidates for one new key: one winner, everyone gets it.
    let key2 = random_id();
    let mut tasks = vec![];
    for _ in 0..50 {
        let store = store.clone();
        let cand = session("bob", "m2", &key2, now);
        tasks.push(tokio::spawn(async move {
            store.create_or_reuse_session(&cand, now).await
        }));
    }
    let mut ids = std::collections::BTreeSet::new();
    for t in tasks {
        ids.insert(t.await.unwrap().unwrap().id);
    }
    assert_eq!(ids.len(), 1, "one session under concurrency: {ids:?}");
}

fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_add(seed).wrapping_mul(2654435761) >> 11) as u8)
        .collect()
}

fn md5_etag(bytes: &[u8]) -> String {
    use md5::Digest;
    format!("\"{}\"", hex_of(&md5::Md5::digest(bytes)))
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// PUTs a part to its presigned URL; returns the status and the `ETag` answered.
async fn put_part(url: &str, bytes: Vec<u8>) -> (u16, Option<String>) {
    let r = http().put(url).body(bytes).send().await.unwrap();
    let etag = r
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (r.status().as_u16(), etag)
}

fn invalid_code(r: Result<(), Error>) -> (&'static str, String) {
    match r {
        Err(Error::Invalid { code, message }) => (code, message),
        other => panic!("expected an invalid-part error, got {other:?}"),
    }
}

// Long because it is the multipart clause of the object-store contract, step after step.
async fn multipart_contract(store: &dyn ObjectStore) {
    const MIB: usize = 1 << 20;
    let key = format!("contract/{}/big.bin", random_id());
    let ttl = Duration::from_secs(300);
    let id = store
        .create_multipart(&key, "application/octet-stream")
        .await
        .unwrap();
    assert_eq!(store.list_parts(&key, &id).await.unwrap(), Some(vec![]));
    let parts = [pattern(5 * MIB, 1), pattern(5 * MIB, 2), pattern(1000, 3)];
    let url = |n: u32| store.presign_part(&key, &id, n, ttl);
    // Out of order; part 1 first sent with the wrong bytes, then again (a retry replaces it).
    let (status, etag3) = put_part(&url(3).await.unwrap().url, parts[2].clone()).await;
    assert_eq!((status, etag3.clone()), (200, Some(md5_etag(&parts[2]))));
    assert_eq!(
        put_part(&url(1).await.unwrap().url, pattern(5 * MIB, 9))
            .await
            .0,
        200
    );
    let (status, etag1) = put_part(&url(1).await.unwrap().url, parts[0].clone()).await;
    assert_eq!((status, etag1.clone()), (200, Some(md5_etag(&parts[0]))));
    let tampered = tamper(&url(2).await.unwrap().url);
    assert_eq!(
        put_part(&tampered, parts[1].clone()).await.0,
        403,
        "tampered part URL"
    );
    let listed = store.list_parts(&key, &id).await.unwrap().unwrap();
    let seen: Vec<(u32, u64, String)> = listed
        .into_iter()
        .map(|p| (p.number, p.size, p.etag))
        .collect();
    assert_eq!(
        seen,
        vec![
            (1, 5 * MIB as u64, md5_etag(&parts[0])),
            (3, 1000, md5_etag(&parts[2]))
        ]
    );
    let list = |e2: &str| {
        vec![
            (1, md5_etag(&parts[0])),
            (2, e2.to_string()),
            (3, md5_etag(&parts[2])),
        ]
    };
    // A part not received, then a wrong ETag: refused, nothing assembled, the parts kept.
    let (code, _) = invalid_code(
        store
            .complete_multipart(&key, &id, &list(&md5_etag(&parts[1])))
            .await,
    );
    assert_eq!(code, "invalid_part");
    let (status, _) = put_part(&url(2).await.unwrap().url, parts[1].clone()).await;
    assert_eq!(status, 200);
    let wrong = md5_etag(b"other bytes");
    let (code, _) = invalid_code(store.complete_multipart(&key, &id, &list(&wrong)).await);
    assert_eq!(code, "invalid_part");
    assert_eq!(store.head(&key).await.unwrap(), None, "nothing assembled");
    assert_eq!(
        store.list_parts(&key, &id).await.unwrap().map(|p| p.len()),
        Some(3)
    );

    // Parts under 5 MiB but the last are refused (S3's rule, on both stores); abort drops all.
    let small_key = format!("contract/{}/small.bin", random_id());
    let small = store
        .create_multipart(&small_key, "application/octet-stream")
        .await
        .unwrap();
    let mut small_list = vec![];
    for n in [1u32, 2] {
        let u = store
            .presign_part(&small_key, &small, n, ttl)
            .await
            .unwrap();
        let (_, etag) = put_part(&u.url, pattern(1000, n)).await;
        small_list.push((n, etag.unwrap()));
    }
    let (code, _) = invalid_code(
        store
            .complete_multipart(&small_key, &small, &small_list)
            .await,
    );
    assert_eq!(code, "part_too_small");
    store.abort_multipart(&small_key, &small).await.unwrap();
    store.abort_multipart(&small_key, &small).await.unwrap();
    assert_eq!(store.list_parts(&small_key, &small).await.unwrap(), None);
    assert_eq!(store.head(&small_key).await.unwrap(), None);

    // Open uploads are listed for the sweep by age.
    let past = Utc::now() - chrono::Duration::hours(1);
    let future = Utc::now() + chrono::Duration::hours(1);
    let pending = store.pending_multiparts("contract/", future).await.unwrap();
    assert!(
        pending.iter().any(|u| u.key == key && u.upload_id == id),
        "{pending:?}"
    );
    let pending = store.pending_multiparts("contract/", past).await.unwrap();
    assert!(!pending.iter().any(|u| u.upload_id == id), "not stale yet");

    // Completion: the exact bytes, in part order; the upload is gone, its part URLs write nothing.
    store
        .complete_multipart(&key, &id, &list(&md5_etag(&parts[1])))
        .await
        .unwrap();
    let whole: Vec<u8> = parts.concat();
    assert_eq!(
        store.head(&key).await.unwrap().map(|i| i.size),
        Some(whole.len() as u64)
    );
    let read = store
        .read_range(&key, 0, whole.len() as u64)
        .await
        .unwrap()
        .unwrap();
    assert!(read == whole, "the assembled object is the parts in order");
    assert_eq!(store.list_parts(&key, &id).await.unwrap(), None);
    let (status, _) = put_part(&url(1).await.unwrap().url, pattern(5 * MIB, 7)).await;
    assert_eq!(status, 404, "a part URL after completion: no such upload");
    let read = store.read_range(&key, 0, 16).await.unwrap().unwrap();
    assert_eq!(&read[..], &whole[..16], "unchanged");
    store.delete(&key).await.unwrap();
}

#[tokio::test]
async fn embedded_object_store_contract() {
    let s = TestServer::start().await;
    object_store_contract(s.state.objects.as_ref()).await;
    s.stop().await;
}

#[tokio::test]
async fn embedded_multipart_contract() {
    let s = TestServer::start().await;
    multipart_contract(s.state.objects.as_ref()).await;
    s.stop().await;
}

#[tokio::test]
#[ignore = "needs the local AWS stack (scripts/test.sh)"]
async fn aws_multipart_contract() {
    let state = aws_state().await;
    multipart_contract(state.objects.as_ref()).await;
}

#[tokio::test]
async fn embedded_meta_store_contract() {
    let s = TestServer::start().await;
    meta_store_contract(s.state.meta.clone()).await;
    s.stop().await;
}

#[tokio::test]
#[ignore = "needs the local AWS stack (scripts/test.sh)"]
async fn aws_object_store_contract() {
    let state = aws_state().await;
    object_store_contract(state.objects.as_ref()).await;
}

#[tokio::test]
#[ignore = "needs the local AWS stack (scripts/test.sh)"]
async fn aws_meta_store_contract() {
    let state = aws_state().await;
    meta_store_contract(state.meta.clone()).await;
}

/// An emulator that is down is a clear 503-class error, not a hang or a panic.
#[tokio::test]
async fn unreachable_cloud_storage_is_a_clear_error() {
    let cfg = stream_tests::config_with(&[
        ("STREAM_STORAGE", "aws"),
        ("STREAM_JWT_SECRET", stream_tests::SECRET),
        ("STREAM_S3_FORCE_PATH_STYLE", "true"),
    ]);
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url("http://127.0.0.1:9")
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "test", "test", None, None, "static",
        ))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(500))
                .operation_timeout(Duration::from_secs(5))
                .build(),
        )
        .load()
        .await;
    let meta = stream_storage::aws::DynamoMetaStore::new(&sdk, &cfg.table_prefix);
    let objects =
        stream_storage::aws::S3ObjectStore::new(&sdk, &cfg.bucket, cfg.s3_force_path_style);
    let e = meta.get_media(&random_id()).await.unwrap_err();
    assert!(matches!(e, Error::Unavailable(_)), "{e:?}");
    assert_eq!(stream_http::response::status_of(&e), 503);
    let e = objects.head("uploads/x/source.mp4").await.unwrap_err();
    assert!(matches!(e, Error::Unavailable(_)), "{e:?}");
}
