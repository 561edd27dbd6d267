//! The parsers of what a request path names: segment file names (`parse_segment_name`, which
//! must accept exactly what `segment_file_name` writes), content keys (`is_content_key`: 64
//! lowercase hex), ids (`is_valid_id`: 32 lowercase hex), the edge's rendition paths, the
//! route matcher of `stream_http::routes` (a captured parameter is one non-empty path
//! segment, and the route found really matches), and the stream endpoint's query parser.
//! None may panic on any input; each accepted value must be the canonical form.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use stream_core::ids::is_valid_id;
use stream_core::playback::decision::SegmentFormat;
use stream_core::playback::query::from_query;
use stream_core::segment::{
    content_type_of, is_content_key, object_key, parse_segment_name, segment_file_name,
    SegmentName, INIT_NAME,
};
use stream_http::routes::{matches, resolve, Resolution};

const METHODS: [http::Method; 5] = [
    http::Method::GET,
    http::Method::HEAD,
    http::Method::POST,
    http::Method::PUT,
    http::Method::DELETE,
];

fn lowercase_hex(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let s = s.as_ref();

    match parse_segment_name(s) {
        Some(SegmentName::Init) => assert_eq!(s, INIT_NAME),
        Some(SegmentName::Media { index, format }) => {
            assert_eq!(segment_file_name(index, format), s, "not canonical");
            assert!(matches!(format, SegmentFormat::Fmp4 | SegmentFormat::Ts));
        }
        None => {}
    }
    assert_eq!(
        content_type_of(s).is_some(),
        parse_segment_name(s).is_some()
    );

    if is_content_key(s) {
        assert!(s.len() == 64 && lowercase_hex(s));
        assert!(object_key(s, INIT_NAME).ends_with("/init.mp4"));
    }
    if is_valid_id(s) {
        assert!(s.len() == 32 && lowercase_hex(s));
    }
    let _ = stream_service::edge::is_rendition_path(s);

    // The route table: what it finds must match, and every parameter is one path segment.
    for m in &METHODS {
        match resolve(m, s) {
            Resolution::Found(route, params) => {
                assert_eq!(route.method, *m);
                assert!(matches(route.path, s).is_some());
                for (name, value) in &params {
                    assert!(!value.is_empty(), "{name} is empty in {s:?}");
                    assert!(!value.contains('/'), "{name} spans segments in {s:?}");
                }
            }
            Resolution::WrongMethod | Resolution::NotFound => {}
        }
    }

    // The stream endpoint's query: pairs split at '&' and '=', as a decoded query arrives.
    let q: HashMap<String, String> = s
        .split('&')
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    let _ = from_query(&q, Some(s));
});
