//! The fMP4 box reader and the frame-grid rewriter (`stream_media::transcode::{boxes,
//! frame_grid}`), on arbitrary bytes as if ffmpeg had written them: the box iterator, the split
//! into init and media, the track defaults (`mdhd`, `trex`), the fragments (`tfhd`, `tfdt`,
//! `trun`) and `snap_media` with the grid of one of the usual rates. None may panic, read out of
//! bounds or overflow; a rewrite keeps every box where it was (same length, same boxes, same
//! fragments) and puts the first sample of each rewritten fragment on the grid.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stream_media::transcode::boxes::{box_header, fragments, track_info, TrackInfo};
use stream_media::transcode::frame_grid::{snap_media, FrameGrid};
use stream_media::transcode::{boxes, split_fmp4};

/// Rates a grid is made for (the last is not a nominal rate: no grid).
const RATES: [f64; 8] = [
    24.0,
    25.0,
    30.0,
    24_000.0 / 1001.0,
    30_000.0 / 1001.0,
    50.0,
    60.0,
    12.5,
];

/// (kind, length) of each top-level box, up to the first error.
fn layout(data: &[u8]) -> Vec<([u8; 4], usize)> {
    boxes(data)
        .map_while(Result::ok)
        .map(|b| (b.kind, b.bytes.len()))
        .collect()
}

fuzz_target!(|input: &[u8]| {
    let Some((&param, data)) = input.split_first() else {
        return;
    };
    let _ = box_header(data, false);
    let _ = box_header(data, true);
    for b in boxes(data) {
        let Ok(b) = b else { break };
        assert!(b.header_len == 8 || b.header_len == 16);
        assert!(b.bytes.len() >= b.header_len);
        let _ = b.kind_str();
        for c in boxes(b.payload()) {
            if c.is_err() {
                break;
            }
        }
    }
    let Ok((init, media)) = split_fmp4(data) else {
        return;
    };
    assert!(init.len() + media.len() <= data.len());
    // A buffer without a usable `moov` is read with a 90 kHz track (ffmpeg's video timescale).
    let track = track_info(&init).unwrap_or(TrackInfo {
        timescale: 90_000,
        default_duration: 3_750,
        default_flags: 0,
    });
    let Ok(frags) = fragments(&media, &track) else {
        return;
    };
    let total: usize = frags.iter().map(|f| f.bytes.len()).sum();
    assert!(total <= media.len());

    let fps = RATES[usize::from(param % 8)];
    let origin = frags.first().map_or(0.0, |f| {
        f.info.base_decode_time as f64 / f64::from(track.timescale)
    });
    let Some(grid) = FrameGrid::new(track.timescale, origin, fps) else {
        return;
    };
    let Ok(Some(out)) = snap_media(&media, &track, &grid) else {
        return;
    };
    assert_eq!(out.len(), media.len(), "a rewrite changes no size");
    assert_eq!(layout(&out), layout(&media), "a rewrite moves no box");
    let snapped = fragments(&out, &track).expect("rewritten media still parses");
    assert_eq!(snapped.len(), frags.len());
    for f in &snapped {
        if f.info.samples > 0 {
            let t = i128::from(f.info.base_decode_time);
            assert_eq!(
                grid.snap(t),
                Some(t),
                "the first decode time is on the grid"
            );
        }
    }
});
