//! The rendition set of an HLS decision: what each variant contains, the plan parameters they
//! share, their bandwidths and the content keys their segments are stored under (SPEC §4).
//!
//! [`build`] is a pure function of (media id, probe, decision, client limits, config), so a
//! session can store the set, or only its inputs, and get the same set back.
//!
//! - `remux` / `transcode_audio`: one copied video rendition (`copy`).
//! - `transcode`: an H.264 High 8-bit SDR ladder (with the decision's bitmap subtitle track
//!   drawn in, when it burns one) from the rungs 1080p/720p/480p/360p, each a
//!   box the source is scaled into (portrait sources use the boxes turned upright), used when
//!   the source is clearly larger than the next smaller box, never upscaled, capped by the client's `max_width`/`max_height`/`max_bitrate` (the rung's
//!   advertised peak `BANDWIDTH`, audio included, must be within `max_bitrate`), at least one.
//! - Audio is always its own rendition ([`AUDIO_ID`]): copied for `remux` when HLS can carry
//!   the codec in the segment format, otherwise (and for the other methods) AAC-LC 48 kHz,
//!   stereo, or mono for a mono source.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::codecs::{self, CodecError, H264Level};
use super::plan::{self, PlanError, SegmentPlan};
use crate::model::{AudioStream, DynamicRange, Probe, VideoStream};
use crate::playback::capabilities::{Capabilities, AUDIO_CODECS};
use crate::playback::decision::{Decision, Method, SegmentFormat};

/// Part of every content key: bump it whenever the bytes of a segment made from the same
/// parameters change (encoder settings, packaging, the plan algorithms), so old segments are
/// never mixed with new ones.
// 2: transcoded rungs are sized from the displayed (rotated) picture with square pixels
// (`setsar=1`), and copied Dolby Vision keeps its configuration record.
pub const FORMAT_VERSION: u32 = 2;
/// The id (and path component) of the audio rendition.
pub const AUDIO_ID: &str = "a";
/// The id of a copied video rendition.
pub const COPY_ID: &str = "copy";

/// Transcoded AAC-LC audio.
pub const AAC_STEREO_BITRATE: u64 = 128_000;
pub const AAC_MONO_BITRATE: u64 = 64_000;
pub const AAC_SAMPLE_RATE: u32 = 48_000;
/// Highest frame rate of a transcode.
pub const MAX_FPS: f64 = 60.0;
/// x264 VBV of a rung: maxrate = bitrate x 1.07, bufsize = bitrate x 1.5.
pub const MAXRATE_FACTOR: f64 = 1.07;
pub const BUFSIZE_FACTOR: f64 = 1.5;
/// The advertised peak of copied streams (their real peak is unknown): average x 1.1.
pub const COPY_PEAK_FACTOR: f64 = 1.1;

/// A rung of the transcode ladder: its name, its box (landscape) and its average bitrate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rung {
    pub name: u32,
    pub box_width: u32,
    pub box_height: u32,
    pub bitrate: u64,
}

pub const RUNGS: [Rung; 4] = [
    Rung {
        name: 1080,
        box_width: 1920,
        box_height: 1080,
        bitrate: 5_000_000,
    },
    Rung {
        name: 720,
        box_width: 1280,
        box_height: 720,
        bitrate: 2_800_000,
    },
    Rung {
        name: 480,
        box_width: 854,
        box_height: 480,
        bitrate: 1_400_000,
    },
    Rung {
        name: 360,
        box_width: 640,
        box_height: 360,
        bitrate: 800_000,
    },
];
/// A rung is used when the source exceeds the next smaller rung's box by this factor.
pub const NEXT_RUNG_MARGIN: f64 = 1.1;
/// The lowest bitrate of a fallback rung squeezed under a client's `max_bitrate`.
pub const MIN_VIDEO_BITRATE: u64 = 200_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanMode {
    /// Boundaries at source keyframes ([`plan::plan_copy`]).
    Keyframes,
    /// Fixed boundaries ([`plan::plan_transcode`]).
    Fixed,
}

/// What the segment plan of a set is computed from (besides the probe).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanParams {
    pub mode: PlanMode,
    pub target: f64,
    /// Fixed mode only: the short first segments.
    #[serde(default)]
    pub first: Vec<f64>,
}

impl PlanParams {
    /// The plan of every rendition of the set: the probe's keyframes and duration are
    /// immutable for a media id, so this is the same plan each time.
    pub fn plan(&self, probe: &Probe) -> Result<SegmentPlan, PlanError> {
        match self.mode {
            PlanMode::Keyframes => {
                plan::plan_copy(&probe.keyframes, probe.duration_seconds, self.target)
            }
            PlanMode::Fixed => {
                plan::plan_transcode(probe.duration_seconds, self.target, &self.first)
            }
        }
    }
}

/// Server-side settings of the ladder.
#[derive(Debug, Clone, PartialEq)]
pub struct LadderConfig {
    pub copy_target: f64,
    pub transcode_target: f64,
    pub transcode_first: Vec<f64>,
}

impl Default for LadderConfig {
    fn default() -> Self {
        LadderConfig {
            copy_target: plan::COPY_TARGET,
            transcode_target: plan::TRANSCODE_TARGET,
            transcode_first: plan::TRANSCODE_FIRST.to_vec(),
        }
    }
}

/// The client limits that shape a transcode ladder (stored in the session as they are).
pub use crate::model::RenditionLimits as ClientLimits;

impl From<&Capabilities> for ClientLimits {
    fn from(c: &Capabilities) -> Self {
        ClientLimits {
            max_width: c.max_width,
            max_height: c.max_height,
            max_bitrate: c.max_bitrate,
            ..ClientLimits::audio_of(c)
        }
    }
}

impl ClientLimits {
    /// Only what shapes the audio renditions (a copied video's set: its video is the source's).
    pub fn audio_of(c: &Capabilities) -> Self {
        let audio_codecs = AUDIO_CODECS
            .iter()
            .enumerate()
            .filter(|(_, name)| c.audio_codecs.iter().any(|x| x == *name))
            .fold(0u16, |bits, (i, _)| bits | (1 << i));
        ClientLimits {
            audio_codecs,
            max_audio_channels: Some(c.max_audio_channels),
            ..ClientLimits::default()
        }
    }

    /// Whether the client plays `codec` with `channels` as it is (else a track is made AAC).
    pub fn plays_audio(&self, codec: &str, channels: u32) -> bool {
        let known = AUDIO_CODECS.iter().position(|c| *c == codec);
        let listed = match self.audio_codecs {
            0 => codec == "aac",
            bits => known.is_some_and(|i| bits & (1 << i) != 0),
        };
        listed && channels <= self.max_audio_channels.unwrap_or(2)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoRendition {
    /// Path component and playlist name: `copy`, `v1080`, `v720`, ...
    pub id: String,
    /// Copied from the source (else encoded as H.264 High 8-bit SDR).
    pub copy: bool,
    /// The source video stream index.
    pub source_index: u32,
    /// The codec of the segments (ffprobe name: h264, hevc, av1).
    pub codec: String,
    /// RFC 6381 CODECS value.
    pub codecs: String,
    pub width: u32,
    pub height: u32,
    /// Output frame rate; None: the source's, unknown.
    pub frame_rate: Option<f64>,
    /// Average bitrate, bits/s (for a copy: the source's, as far as known).
    pub bitrate: u64,
    /// Peak bitrate, bits/s: x264 `-maxrate` of a transcode; an estimate for a copy.
    pub maxrate: u64,
    /// x264 `-bufsize` (0 for a copy).
    pub bufsize: u64,
    /// The H.264 level to pass to x264 (`-level`); None for a copy.
    pub h264_level: Option<H264Level>,
    /// `VIDEO-RANGE`: the source's for a copy (PQ or HLG for HDR), SDR for a transcode.
    #[serde(default)]
    pub video_range: DynamicRange,
    /// `SUPPLEMENTAL-CODECS`: the Dolby Vision codec of a copied Dolby Vision stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supplemental_codecs: Option<String>,
    /// The bitmap subtitle stream (source index) drawn into the picture of a transcode
    /// (`subtitle_mode=burn`): part of the content key, so burned and clean segments never mix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burn_subtitle: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioRendition {
    /// [`AUDIO_ID`] for the session's selected track, [`alternate_id`] for the others.
    pub id: String,
    pub copy: bool,
    /// The source audio stream index.
    pub source_index: u32,
    /// The codec of the segments (ffprobe name).
    pub codec: String,
    /// RFC 6381 CODECS value.
    pub codecs: String,
    pub channels: u32,
    pub sample_rate: Option<u32>,
    /// Average bitrate, bits/s (for a copy: the source's or a typical value).
    pub bitrate: u64,
    /// The source's language as BCP 47 (`en`, `fr`), when it is a known one.
    pub language: Option<String>,
    /// Its name in a player's menu ("Français (5.1)"), unique in the set.
    #[serde(default)]
    pub name: String,
}

impl AudioRendition {
    /// The advertised peak, bits/s.
    pub fn peak(&self) -> u64 {
        scale(self.bitrate, COPY_PEAK_FACTOR)
    }
}

/// `BANDWIDTH` and `AVERAGE-BANDWIDTH` of a variant, audio included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bandwidth {
    pub peak: u64,
    pub average: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenditionSet {
    pub media_id: String,
    pub method: Method,
    pub format: SegmentFormat,
    pub plan: PlanParams,
    /// Best first (the first listed variant is the default start).
    pub video: Vec<VideoRendition>,
    /// The selected audio track (`DEFAULT=YES` in the master).
    pub audio: Option<AudioRendition>,
    /// The media's other audio tracks, in stream order: renditions of the same group, so a
    /// player switches language without a new session (SPEC §3 "Tracks"). Made just in time
    /// and shared like the selected one (same content keys for the same track).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alternates: Vec<AudioRendition>,
}

/// A rendition of a set, by id.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rendition<'a> {
    Video(&'a VideoRendition),
    Audio(&'a AudioRendition),
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LadderError {
    #[error("direct play has no renditions")]
    NotHls,
    #[error("the media has neither video nor audio")]
    NoStreams,
    #[error("the media has no audio stream {0}")]
    AudioTrack(u32),
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error("no H.264 level holds {0}")]
    Level(String),
}

/// Feeds one named, length-prefixed field into the key hash (no two field lists collide).
fn field(h: &mut Sha256, name: &str, value: &[u8]) {
    for part in [name.as_bytes(), value] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
}

fn opt_u64(v: Option<u64>) -> Vec<u8> {
    v.map_or_else(Vec::new, |v| v.to_le_bytes().to_vec())
}

fn opt_f64(v: Option<f64>) -> Vec<u8> {
    v.map_or_else(Vec::new, |v| v.to_bits().to_le_bytes().to_vec())
}

impl RenditionSet {
    fn key_base(&self, kind: &str) -> Sha256 {
        let mut h = Sha256::new();
        field(&mut h, "version", &FORMAT_VERSION.to_le_bytes());
        field(&mut h, "kind", kind.as_bytes());
        field(&mut h, "media", self.media_id.as_bytes());
        field(
            &mut h,
            "format",
            match self.format {
                SegmentFormat::Fmp4 => b"fmp4",
                SegmentFormat::Ts => b"ts",
            },
        );
        field(
            &mut h,
            "plan_mode",
            match self.plan.mode {
                PlanMode::Keyframes => b"keyframes",
                PlanMode::Fixed => b"fixed",
            },
        );
        field(
            &mut h,
            "plan_target",
            &self.plan.target.to_bits().to_le_bytes(),
        );
        let first: Vec<u8> = self
            .plan
            .first
            .iter()
            .flat_map(|f| f.to_bits().to_le_bytes())
            .collect();
        field(&mut h, "plan_first", &first);
        h
    }

    /// The content key of a video rendition: hex SHA-256 of everything that determines its
    /// bytes (media, format, plan parameters, codec and encoding parameters, the format
    /// version), and nothing else: not the session, not the audio track, not the method.
    pub fn video_key(&self, v: &VideoRendition) -> String {
        let mut h = self.key_base("video");
        field(&mut h, "copy", &[u8::from(v.copy)]);
        field(&mut h, "source_index", &v.source_index.to_le_bytes());
        field(&mut h, "codec", v.codec.as_bytes());
        field(&mut h, "codecs", v.codecs.as_bytes());
        field(&mut h, "width", &v.width.to_le_bytes());
        field(&mut h, "height", &v.height.to_le_bytes());
        field(&mut h, "frame_rate", &opt_f64(v.frame_rate));
        field(&mut h, "bitrate", &v.bitrate.to_le_bytes());
        field(&mut h, "maxrate", &v.maxrate.to_le_bytes());
        field(&mut h, "bufsize", &v.bufsize.to_le_bytes());
        field(
            &mut h,
            "level",
            &opt_u64(v.h264_level.map(|l| u64::from(l.idc()))),
        );
        field(&mut h, "video_range", v.video_range.as_hls().as_bytes());
        field(
            &mut h,
            "supplemental_codecs",
            v.supplemental_codecs.as_deref().unwrap_or("").as_bytes(),
        );
        // Only when set: the keys of every rendition without burn-in stay what they were.
        if let Some(index) = v.burn_subtitle {
            field(&mut h, "burn_subtitle", &index.to_le_bytes());
        }
        hex::encode(h.finalize())
    }

    /// The content key of the audio rendition (see [`RenditionSet::video_key`]); its segments
    /// follow the set's plan, so the plan parameters are part of it.
    pub fn audio_key(&self, a: &AudioRendition) -> String {
        let mut h = self.key_base("audio");
        field(&mut h, "copy", &[u8::from(a.copy)]);
        field(&mut h, "source_index", &a.source_index.to_le_bytes());
        field(&mut h, "codec", a.codec.as_bytes());
        field(&mut h, "codecs", a.codecs.as_bytes());
        field(&mut h, "channels", &a.channels.to_le_bytes());
        field(
            &mut h,
            "sample_rate",
            &opt_u64(a.sample_rate.map(u64::from)),
        );
        field(&mut h, "bitrate", &a.bitrate.to_le_bytes());
        hex::encode(h.finalize())
    }

    /// The rendition with this id (a playlist path component), if the set has it.
    pub fn rendition(&self, id: &str) -> Option<Rendition<'_>> {
        if let Some(a) = self.audio_renditions().find(|a| a.id == id) {
            return Some(Rendition::Audio(a));
        }
        self.video.iter().find(|v| v.id == id).map(Rendition::Video)
    }

    /// Every audio rendition: the selected track, then the alternates.
    pub fn audio_renditions(&self) -> impl Iterator<Item = &AudioRendition> {
        self.audio.iter().chain(&self.alternates)
    }

    /// The id of every rendition of the set: video, then audio.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        let video = self.video.iter().map(|v| v.id.as_str());
        video.chain(self.audio_renditions().map(|a| a.id.as_str()))
    }

    /// The content key of the rendition with this id.
    pub fn content_key(&self, id: &str) -> Option<String> {
        Some(match self.rendition(id)? {
            Rendition::Video(v) => self.video_key(v),
            Rendition::Audio(a) => self.audio_key(a),
        })
    }

    /// The identity of one piece of the rendition with this id (`crate::segment`).
    pub fn segment(
        &self,
        id: &str,
        piece: crate::segment::Piece,
    ) -> Option<crate::segment::SegmentId> {
        Some(crate::segment::SegmentId::new(
            &self.media_id,
            &self.content_key(id)?,
            piece,
            self.format,
        ))
    }

    /// `BANDWIDTH` (video peak + audio peak) and `AVERAGE-BANDWIDTH` (averages) of the
    /// variant of video rendition `v`.
    /// With several audio tracks, the largest of the group counts (RFC 8216 4.3.4.2: a variant's
    /// bandwidth holds whichever rendition of its groups is playing).
    pub fn bandwidth(&self, v: &VideoRendition) -> Bandwidth {
        let (ap, aa) = self
            .audio_renditions()
            .fold((0, 0), |(p, a), r| (p.max(r.peak()), a.max(r.bitrate)));
        Bandwidth {
            peak: v.maxrate.saturating_add(ap),
            average: v.bitrate.saturating_add(aa),
        }
    }

    /// The bandwidth of an audio-only set's single variant.
    pub fn audio_bandwidth(&self) -> Option<Bandwidth> {
        self.audio.as_ref().map(|a| Bandwidth {
            peak: a.peak(),
            average: a.bitrate,
        })
    }
}

fn scale(v: u64, f: f64) -> u64 {
    (v as f64 * f).round() as u64
}

fn even(v: f64) -> u32 {
    (((v / 2.0).round() as u32) * 2).max(2)
}

/// The frame rate of a transcode: the source's, divided down to at most 60 (119.88 -> 59.94).
fn output_fps(src: Option<f64>) -> Option<f64> {
    let f = src.filter(|f| f.is_finite() && *f > 0.0)?;
    let n = (f / MAX_FPS - 1e-9).ceil().max(1.0);
    Some(f / n)
}

/// `src` scaled into the box, keeping its aspect, never upscaled; even dimensions.
fn fit(src_w: u32, src_h: u32, box_w: u32, box_h: u32) -> (u32, u32) {
    let s = (f64::from(box_w) / f64::from(src_w))
        .min(f64::from(box_h) / f64::from(src_h))
        .min(1.0);
    (even(f64::from(src_w) * s), even(f64::from(src_h) * s))
}

fn typical_audio_bitrate(codec: &str, channels: u32) -> u64 {
    match codec {
        "ac3" => 448_000,
        "eac3" => 640_000,
        "flac" => 700_000 * u64::from(channels.max(1)) / 2,
        "mp3" => 192_000,
        _ => 64_000 * u64::from(channels.clamp(1, 8)),
    }
}

fn aac_rendition(src: &AudioStream) -> AudioRendition {
    let channels = src.channels.clamp(1, 2);
    AudioRendition {
        id: AUDIO_ID.into(),
        copy: false,
        source_index: src.index,
        codec: "aac".into(),
        codecs: codecs::AAC_LC.into(),
        channels,
        sample_rate: Some(AAC_SAMPLE_RATE),
        bitrate: if channels == 1 {
            AAC_MONO_BITRATE
        } else {
            AAC_STEREO_BITRATE
        },
        language: src
            .language
            .as_deref()
            .and_then(crate::tracks::language_tag),
        name: String::new(),
    }
}

fn audio_rendition(src: &AudioStream, method: Method, format: SegmentFormat) -> AudioRendition {
    if method == Method::Remux && codecs::audio_fits_format(&src.codec, format) {
        if let Ok(c) = codecs::audio(&src.codec, src.profile.as_deref()) {
            return AudioRendition {
                id: AUDIO_ID.into(),
                copy: true,
                source_index: src.index,
                codec: src.codec.clone(),
                codecs: c,
                channels: src.channels.max(1),
                sample_rate: src.sample_rate,
                bitrate: src
                    .bitrate
                    .filter(|b| *b > 0)
                    .unwrap_or_else(|| typical_audio_bitrate(&src.codec, src.channels)),
                language: src
                    .language
                    .as_deref()
                    .and_then(crate::tracks::language_tag),
                name: String::new(),
            };
        }
    }
    // A remux whose audio HLS cannot carry (e.g. Vorbis, DTS, PCM, or Opus in TS) plays
    // with AAC audio rather than not at all.
    aac_rendition(src)
}

/// A copied video rendition. Its CODECS (level included) describe the coded picture; its
/// `RESOLUTION` is what the viewer sees, since the copy keeps the display matrix and players
/// turn the picture.
fn copy_rendition(v: &VideoStream, probe: &Probe) -> Result<VideoRendition, CodecError> {
    let codecs = codecs::video(
        &v.codec,
        v.profile.as_deref(),
        v.level,
        v.width,
        v.height,
        v.frame_rate,
        v.bit_depth,
    )?;
    let audio_known: u64 = probe.audio.iter().filter_map(|a| a.bitrate).sum();
    let bitrate = v
        .bitrate
        .filter(|b| *b > 0)
        .or_else(|| {
            probe
                .bitrate
                .map(|b| b.saturating_sub(audio_known))
                .filter(|b| *b > 0)
        })
        // Nothing known: about 0.1 bit per pixel.
        .unwrap_or_else(|| {
            (f64::from(v.width) * f64::from(v.height) * v.frame_rate.unwrap_or(30.0) * 0.1) as u64
        })
        .max(1);
    let (width, height) = v.displayed_size();
    Ok(VideoRendition {
        id: COPY_ID.into(),
        copy: true,
        source_index: v.index,
        codec: v.codec.clone(),
        codecs,
        width,
        height,
        frame_rate: v.frame_rate.filter(|f| f.is_finite() && *f > 0.0),
        bitrate,
        maxrate: scale(bitrate, COPY_PEAK_FACTOR),
        bufsize: 0,
        h264_level: None,
        video_range: v.video_range(),
        supplemental_codecs: v
            .dolby_vision
            .and_then(|dv| codecs::dolby_vision_supplemental(&v.codec, &dv)),
        burn_subtitle: None,
    })
}

fn h264_rendition(
    v: &VideoStream,
    name: u32,
    w: u32,
    h: u32,
    bitrate: u64,
) -> Result<VideoRendition, LadderError> {
    let fps = output_fps(v.frame_rate);
    let maxrate = scale(bitrate, MAXRATE_FACTOR);
    let level = codecs::h264_level_for(w, h, fps.unwrap_or(MAX_FPS), maxrate)
        .ok_or_else(|| LadderError::Level(format!("{w}x{h}")))?;
    Ok(VideoRendition {
        id: format!("v{name}"),
        copy: false,
        source_index: v.index,
        codec: "h264".into(),
        codecs: codecs::h264_high(level),
        width: w,
        height: h,
        frame_rate: fps,
        bitrate,
        maxrate,
        bufsize: scale(bitrate, BUFSIZE_FACTOR),
        h264_level: Some(level),
        video_range: DynamicRange::Sdr,
        supplemental_codecs: None,
        burn_subtitle: None,
    })
}

/// The transcode ladder of `v` within `limits`, best first, never empty. Rungs are sized from
/// the picture as displayed: ffmpeg turns a rotated source upright when it decodes, so the
/// encoder gets the upright picture, scaled to the rung with square pixels.
fn ladder(
    v: &VideoStream,
    limits: &ClientLimits,
    audio_peak: u64,
) -> Result<Vec<VideoRendition>, LadderError> {
    let (sw, sh) = v.displayed_size();
    let (sw, sh) = (sw.max(2), sh.max(2));
    let portrait = sh > sw;
    let oriented = |r: &Rung| {
        if portrait {
            (r.box_height, r.box_width)
        } else {
            (r.box_width, r.box_height)
        }
    };
    let within = |w: u32, h: u32, bitrate: u64| {
        limits.max_width.is_none_or(|m| w <= m)
            && limits.max_height.is_none_or(|m| h <= m)
            && limits
                .max_bitrate
                .is_none_or(|m| scale(bitrate, MAXRATE_FACTOR).saturating_add(audio_peak) <= m)
    };
    let mut out = vec![];
    for (i, r) in RUNGS.iter().enumerate() {
        let (bw, bh) = oriented(r);
        // A rung is used when the source is clearly larger than the next rung's box (so a
        // 1600x900 source keeps its size as the top rung, while 1290x540 does not make a rung
        // next to 1280x536), the smallest rung when the source fills its box. Never upscaled.
        let used = match RUNGS.get(i + 1).map(oriented) {
            Some((nw, nh)) => {
                f64::from(sw) >= NEXT_RUNG_MARGIN * f64::from(nw)
                    || f64::from(sh) >= NEXT_RUNG_MARGIN * f64::from(nh)
            }
            None => sw >= bw || sh >= bh,
        };
        if !used {
            continue;
        }
        let (w, h) = fit(sw, sh, bw, bh);
        if within(w, h, r.bitrate) {
            out.push(h264_rendition(v, r.name, w, h, r.bitrate)?);
        }
    }
    if out.is_empty() {
        // Nothing fits: the smallest rung (or the source, if smaller), scaled into the
        // client's box, its bitrate scaled with its size and lowered to the client's limit.
        let Some(smallest) = RUNGS.last() else {
            return Err(LadderError::Level("an empty ladder".into()));
        };
        let (bw, bh) = oriented(smallest);
        let (bw, bh) = (
            bw.min(limits.max_width.unwrap_or(u32::MAX)).max(2),
            bh.min(limits.max_height.unwrap_or(u32::MAX)).max(2),
        );
        let (w, h) = fit(sw, sh, bw, bh);
        let area = f64::from(w) * f64::from(h)
            / (f64::from(smallest.box_width) * f64::from(smallest.box_height));
        let mut bitrate = scale(smallest.bitrate, area.min(1.0)).max(MIN_VIDEO_BITRATE);
        if let Some(m) = limits.max_bitrate {
            let room = (m.saturating_sub(audio_peak) as f64 / MAXRATE_FACTOR) as u64;
            bitrate = bitrate.min(room).max(MIN_VIDEO_BITRATE);
        }
        out.push(h264_rendition(v, h.min(w), w, h, bitrate)?);
    }
    Ok(out)
}

/// The rendition set of an HLS decision (see the module doc).
pub fn build(
    media_id: &str,
    probe: &Probe,
    decision: &Decision,
    limits: &ClientLimits,
    config: &LadderConfig,
) -> Result<RenditionSet, LadderError> {
    if !decision.method.is_hls() {
        return Err(LadderError::NotHls);
    }
    let format = decision.segment_format.unwrap_or(SegmentFormat::Fmp4);
    let src_audio = match decision.audio_track {
        Some(i) => Some(
            probe
                .audio
                .iter()
                .find(|a| a.index == i)
                .ok_or(LadderError::AudioTrack(i))?,
        ),
        None => None,
    };
    let mut audio = src_audio.map(|a| audio_rendition(a, decision.method, format));
    // The other tracks, beside a video (an audio-only media's one variant is its track).
    let mut alternates: Vec<AudioRendition> = match (&audio, &probe.video) {
        (Some(selected), Some(_)) => probe
            .audio
            .iter()
            .filter(|a| a.index != selected.source_index)
            .map(|a| {
                // Copied only where this client plays it as it is: the decision checked the
                // selected track only.
                let r = match limits.plays_audio(&a.codec, a.channels) {
                    true => audio_rendition(a, decision.method, format),
                    false => aac_rendition(a),
                };
                AudioRendition {
                    id: alternate_id(a.index),
                    ..r
                }
            })
            .collect(),
        _ => vec![],
    };
    name_audio(audio.iter_mut().chain(alternates.iter_mut()));
    let audio_peak = audio
        .iter()
        .chain(&alternates)
        .map(AudioRendition::peak)
        .max()
        .unwrap_or(0);
    let (video, plan) = match &probe.video {
        None if audio.is_none() => return Err(LadderError::NoStreams),
        None => (
            vec![],
            PlanParams {
                mode: PlanMode::Fixed,
                target: config.copy_target,
                first: vec![],
            },
        ),
        Some(v) if decision.method == Method::Transcode => (
            ladder(v, limits, audio_peak)?
                .into_iter()
                .map(|r| VideoRendition {
                    burn_subtitle: decision.subtitle_burn,
                    ..r
                })
                .collect(),
            PlanParams {
                mode: PlanMode::Fixed,
                target: config.transcode_target,
                first: config.transcode_first.clone(),
            },
        ),
        Some(v) => (
            vec![copy_rendition(v, probe)?],
            PlanParams {
                mode: PlanMode::Keyframes,
                target: config.copy_target,
                first: vec![],
            },
        ),
    };
    Ok(RenditionSet {
        media_id: media_id.to_string(),
        method: decision.method,
        format,
        plan,
        video,
        audio,
        alternates,
    })
}

/// The rendition id of audio stream `index` when it is not the selected track (`a<index>`).
pub fn alternate_id(index: u32) -> String {
    format!("{AUDIO_ID}{index}")
}

/// Gives the audio renditions (the selected one first) their menu names: the language's own
/// name, the channel layout when it is not stereo ("Français (5.1)"), unique in the set.
fn name_audio<'a>(renditions: impl Iterator<Item = &'a mut AudioRendition>) {
    let mut taken: Vec<String> = vec![];
    for a in renditions {
        let refs: Vec<&str> = taken.iter().map(String::as_str).collect();
        a.name = crate::tracks::audio_name(a.language.as_deref(), a.channels, &refs);
        taken.push(a.name.clone());
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::HdrKind;

    fn vs(codec: &str, profile: &str, level: f64, w: u32, h: u32, fps: f64) -> VideoStream {
        VideoStream {
            index: 0,
            codec: codec.into(),
            profile: Some(profile.into()),
            level: Some(level),
            width: w,
            height: h,
            bit_depth: if profile.contains("10") { 10 } else { 8 },
            pix_fmt: None,
            frame_rate: Some(fps),
            codec_tag: None,
            color_transfer: None,
            hdr: HdrKind::Sdr,
            interlaced: false,
            bitrate: None,
            rotation: 0,
            display_width: 0,
            display_height: 0,
            dolby_vision: None,
        }
    }

    fn aud(index: u32, codec: &str, channels: u32) -> AudioStream {
        AudioStream {
            index,
            codec: codec.into(),
            profile: None,
            channels,
            channel_layout: None,
            sample_rate: Some(48_000),
            bitrate: Some(192_000),
            language: Some("eng".into()),
            default: true,
        }
    }

    fn probe(v: Option<VideoStream>, a: Vec<AudioStream>) -> Probe {
        Probe {
            container: "mkv".into(),
            format_name: "matroska,webm".into(),
            duration_seconds: 60.0,
            start_time: 0.0,
            bitrate: Some(6_000_000),
            video: v,
            audio: a,
            subtitles: vec![],
            keyframes: (0..30).map(|i| i as f64 * 2.0).collect(),
            notes: vec![],
        }
    }

    fn decision(method: Method, audio: Option<u32>, format: SegmentFormat) -> Decision {
        Decision {
            method,
            reasons: vec![],
            audio_track: audio,
            segment_format: Some(format),
            subtitle_burn: None,
        }
    }

    fn set(p: &Probe, method: Method, limits: ClientLimits) -> RenditionSet {
        build(
            "m1",
            p,
            &decision(method, Some(1), SegmentFormat::Fmp4),
            &limits,
            &LadderConfig::default(),
        )
        .unwrap()
    }

    fn sizes(s: &RenditionSet) -> Vec<(String, u32, u32)> {
        s.video
            .iter()
            .map(|v| (v.id.clone(), v.width, v.height))
            .collect()
    }

    #[test]
    fn remux_copies_both() {
        let p = probe(
            Some(vs("hevc", "Main 10", 4.0, 1920, 1080, 24.0)),
            vec![aud(1, "eac3", 6)],
        );
        let s = set(&p, Method::Remux, ClientLimits::default());
        assert_eq!(s.video.len(), 1);
        let v = &s.video[0];
        assert_eq!(
            (v.id.as_str(), v.copy, v.codecs.as_str(), v.width, v.height),
            ("copy", true, "hvc1.2.4.L120.B0", 1920, 1080)
        );
        // Overall 6 Mbit/s minus the known audio 192 kbit/s.
        assert_eq!(v.bitrate, 5_808_000);
        let a = s.audio.as_ref().unwrap();
        assert_eq!(
            (a.copy, a.codecs.as_str(), a.channels, a.language.as_deref()),
            (true, "ec-3", 6, Some("en"))
        );
        assert_eq!(
            s.plan,
            PlanParams {
                mode: PlanMode::Keyframes,
                target: 6.0,
                first: vec![]
            }
        );
        let bw = s.bandwidth(v);
        assert_eq!(bw.average, 5_808_000 + 192_000);
        assert_eq!(bw.peak, 6_388_800 + 211_200);
        assert!(bw.peak > bw.average);
    }

    #[test]
    fn remux_with_audio_hls_cannot_carry_gets_aac() {
        let p = probe(
            Some(vs("h264", "High", 4.0, 1280, 720, 30.0)),
            vec![aud(1, "vorbis", 2)],
        );
        let a = set(&p, Method::Remux, ClientLimits::default())
            .audio
            .unwrap();
        assert_eq!(
            (a.copy, a.codec.as_str(), a.codecs.as_str()),
            (false, "aac", "mp4a.40.2")
        );
        // Opus cannot go into TS.
        let p = probe(
            Some(vs("h264", "High", 4.0, 1280, 720, 30.0)),
            vec![aud(1, "opus", 2)],
        );
        let s = build(
            "m1",
            &p,
            &decision(Method::Remux, Some(1), SegmentFormat::Ts),
            &ClientLimits::default(),
            &LadderConfig::default(),
        )
        .unwrap();
        assert!(!s.audio.unwrap().copy);
        let s = build(
            "m1",
            &p,
            &decision(Method::Remux, Some(1), SegmentFormat::Fmp4),
            &ClientLimits::default(),
            &LadderConfig::default(),
        )
        .unwrap();
        assert_eq!(s.audio.unwrap().codecs, "Opus");
    }

    #[test]
    fn transcode_audio_copies_video_and_encodes_aac() {
        let p = probe(
            Some(vs("h264", "High", 4.1, 1920, 1080, 23.976)),
            vec![aud(1, "ac3", 6)],
        );
        let s = set(&p, Method::TranscodeAudio, ClientLimits::default());
        assert_eq!(
            (s.video.len(), s.video[0].codecs.as_str()),
            (1, "avc1.640029")
        );
        let a = s.audio.unwrap();
        assert_eq!(
            (a.copy, a.channels, a.bitrate, a.sample_rate),
            (false, 2, 128_000, Some(48_000))
        );
        let p = probe(
            Some(vs("h264", "High", 4.1, 1920, 1080, 23.976)),
            vec![aud(1, "ac3", 1)],
        );
        let a = set(&p, Method::TranscodeAudio, ClientLimits::default())
            .audio
            .unwrap();
        assert_eq!((a.channels, a.bitrate), (1, 64_000));
    }

    #[test]
    fn transcode_ladder_1080p() {
        let p = probe(
            Some(vs("hevc", "Main 10", 5.1, 1920, 1080, 23.976)),
            vec![aud(1, "aac", 2)],
        );
        let s = set(&p, Method::Transcode, ClientLimits::default());
        assert_eq!(
            sizes(&s),
            vec![
                ("v1080".into(), 1920, 1080),
                ("v720".into(), 1280, 720),
                ("v480".into(), 854, 480),
                ("v360".into(), 640, 360)
            ]
        );
        assert!(s
            .video
            .iter()
            .all(|v| !v.copy && v.codec == "h264" && v.codecs.starts_with("avc1.6400")));
        assert_eq!(s.video[0].codecs, "avc1.640028");
        assert_eq!(
            s.video[0].h264_level.map(|l| l.x264_arg()).as_deref(),
            Some("4")
        );
        assert_eq!(
            (s.video[1].bitrate, s.video[1].maxrate, s.video[1].bufsize),
            (2_800_000, 2_996_000, 4_200_000)
        );
        assert_eq!(
            s.plan,
            PlanParams {
                mode: PlanMode::Fixed,
                target: 4.0,
                first: vec![1.0, 1.0, 2.0]
            }
        );
        assert_eq!(
            s.audio.as_ref().map(|a| a.codecs.as_str()),
            Some("mp4a.40.2")
        );
        // Every rung's bandwidths include the audio.
        let bw = s.bandwidth(&s.video[3]);
        assert_eq!(
            (bw.peak, bw.average),
            (856_000 + 140_800, 800_000 + 128_000)
        );
    }

    #[test]
    fn transcode_ladder_never_upscales_and_keeps_the_aspect() {
        // 2.39:1 scope at 1280x536: the 720p box is filled in width.
        let p = probe(
            Some(vs("h264", "High", 5.1, 1280, 536, 24.0)),
            vec![aud(1, "aac", 2)],
        );
        assert_eq!(
            sizes(&set(&p, Method::Transcode, ClientLimits::default())),
            vec![
                ("v720".into(), 1280, 536),
                ("v480".into(), 854, 358),
                ("v360".into(), 640, 268)
            ]
        );
        // 4:3 at 1440x1080.
        let p = probe(
            Some(vs("h264", "High", 5.1, 1440, 1080, 25.0)),
            vec![aud(1, "aac", 2)],
        );
        assert_eq!(
            sizes(&set(&p, Method::Transcode, ClientLimits::default()))[..2],
            [("v1080".into(), 1440, 1080), ("v720".into(), 960, 720)]
        );
        // Portrait 1080x1920.
        let p = probe(
            Some(vs("h264", "High", 5.1, 1080, 1920, 30.0)),
            vec![aud(1, "aac", 2)],
        );
        assert_eq!(
            sizes(&set(&p, Method::Transcode, ClientLimits::default()))[..2],
            [("v1080".into(), 1080, 1920), ("v720".into(), 720, 1280)]
        );
        // 4K tops out at 1080p.
        let p = probe(
            Some(vs("hevc", "Main 10", 5.1, 3840, 2160, 60.0)),
            vec![aud(1, "aac", 2)],
        );
        let s = set(&p, Method::Transcode, ClientLimits::default());
        assert_eq!(sizes(&s)[0], ("v1080".into(), 1920, 1080));
        assert_eq!(
            (s.video[0].frame_rate, s.video[0].codecs.as_str()),
            (Some(60.0), "avc1.64002a")
        );
        // Between rungs: the source size is the top rung, unless it is barely above the next.
        let p = probe(
            Some(vs("h264", "High", 5.1, 1600, 900, 25.0)),
            vec![aud(1, "aac", 2)],
        );
        assert_eq!(
            sizes(&set(&p, Method::Transcode, ClientLimits::default()))[..2],
            [("v1080".into(), 1600, 900), ("v720".into(), 1280, 720)]
        );
        let p = probe(
            Some(vs("h264", "High", 5.1, 1290, 540, 25.0)),
            vec![aud(1, "aac", 2)],
        );
        assert_eq!(
            sizes(&set(&p, Method::Transcode, ClientLimits::default()))[0],
            ("v720".into(), 1280, 536)
        );
        let p = probe(
            Some(vs("h264", "High", 5.1, 1918, 1078, 25.0)),
            vec![aud(1, "aac", 2)],
        );
        assert_eq!(
            sizes(&set(&p, Method::Transcode, ClientLimits::default()))[0],
            ("v1080".into(), 1918, 1078)
        );
        // A source below 360p: one rung at the source size.
        let p = probe(
            Some(vs("mpeg4", "Simple Profile", 3.0, 320, 240, 25.0)),
            vec![aud(1, "mp3", 2)],
        );
        let s = set(&p, Method::Transcode, ClientLimits::default());
        assert_eq!(sizes(&s), vec![("v240".into(), 320, 240)]);
        assert!(s.video[0].bitrate < 800_000 && s.video[0].bitrate >= MIN_VIDEO_BITRATE);
    }

    /// `v` as a phone records it: coded `w`x`h`, turned `rotation` degrees for display.
    fn turned(mut v: VideoStream, rotation: u16) -> VideoStream {
        v.rotation = rotation;
        v
    }

    #[test]
    fn rotated_sources_make_upright_rungs_never_above_the_source() {
        // The clip: HEVC coded 1280x720, shown turned 90 (720x1280). Rungs are portrait
        // boxes, the top one the source's own upright size, never the 1080x1920 box.
        for rotation in [90, 270] {
            let p = probe(
                Some(turned(vs("hevc", "Main", 4.0, 1280, 720, 30.0), rotation)),
                vec![aud(1, "aac", 2)],
            );
            let s = set(&p, Method::Transcode, ClientLimits::default());
            assert_eq!(
                sizes(&s),
                vec![
                    ("v720".into(), 720, 1280),
                    ("v480".into(), 480, 854),
                    ("v360".into(), 360, 640)
                ],
                "{rotation}"
            );
            assert!(s.video.iter().all(|v| v.video_range == DynamicRange::Sdr));
        }
        // A 1080p phone clip turned upright: the 1080x1920 top rung.
        let p = probe(
            Some(turned(vs("h264", "High", 4.2, 1920, 1080, 30.0), 90)),
            vec![aud(1, "aac", 2)],
        );
        let s = set(&p, Method::Transcode, ClientLimits::default());
        assert_eq!(sizes(&s)[0], ("v1080".into(), 1080, 1920));
        for v in &s.video {
            assert!(
                v.width < v.height && v.height <= 1920 && v.width <= 1080,
                "{v:?}"
            );
        }
        // Upside down: the sides stay.
        let p = probe(
            Some(turned(vs("h264", "High", 4.0, 1280, 720, 30.0), 180)),
            vec![aud(1, "aac", 2)],
        );
        let s = set(&p, Method::Transcode, ClientLimits::default());
        assert_eq!(sizes(&s)[0], ("v720".into(), 1280, 720));
        // A small portrait source: one rung at its upright size, not upscaled to a box.
        let p = probe(
            Some(turned(vs("hevc", "Main", 3.0, 640, 360, 30.0), 90)),
            vec![aud(1, "aac", 2)],
        );
        let s = set(&p, Method::Transcode, ClientLimits::default());
        assert_eq!(sizes(&s), vec![("v360".into(), 360, 640)]);
        // Client limits apply to the upright picture: on a 720-high screen only the 360p rung
        // (360x640) fits.
        let p = probe(
            Some(turned(vs("h264", "High", 4.2, 1920, 1080, 30.0), 270)),
            vec![aud(1, "aac", 2)],
        );
        let capped = set(
            &p,
            Method::Transcode,
            ClientLimits {
                max_height: Some(720),
                ..Default::default()
            },
        );
        assert_eq!(sizes(&capped), vec![("v360".into(), 360, 640)]);
    }

    #[test]
    fn a_copy_announces_the_turned_size_and_the_source_range() {
        let mut v = turned(vs("hevc", "Main 10", 4.0, 1280, 720, 30.0), 90);
        v.hdr = HdrKind::Hlg;
        v.color_transfer = Some("arib-std-b67".into());
        let p = probe(Some(v.clone()), vec![aud(1, "aac", 2)]);
        let s = set(&p, Method::Remux, ClientLimits::default());
        let c = &s.video[0];
        // The copy keeps its display matrix: players turn it, so it is seen 720x1280. The
        // CODECS level is the coded picture's.
        assert_eq!((c.width, c.height), (720, 1280));
        assert_eq!(c.codecs, "hvc1.2.4.L120.B0");
        assert_eq!(
            (c.video_range, c.supplemental_codecs.as_deref()),
            (DynamicRange::Hlg, None)
        );
        // Dolby Vision 8.4 (an HLG base): HLG, with the Dolby Vision codec supplemental.
        v.hdr = HdrKind::DolbyVision;
        v.dolby_vision = Some(crate::model::DolbyVision {
            profile: 8,
            level: 4,
            compatibility: 4,
        });
        let p_dv = probe(Some(v), vec![aud(1, "aac", 2)]);
        let dv = set(&p_dv, Method::Remux, ClientLimits::default());
        assert_eq!(dv.video[0].video_range, DynamicRange::Hlg);
        assert_eq!(
            dv.video[0].supplemental_codecs.as_deref(),
            Some("dvh1.08.04/db4h")
        );
        // What is made differs, and so does the key.
        assert_ne!(dv.content_key(COPY_ID), s.content_key(COPY_ID));
        // A rotated source's rungs are other rungs than an upright source's of that coded size.
        let upright = probe(
            Some(vs("hevc", "Main 10", 4.0, 1280, 720, 30.0)),
            vec![aud(1, "aac", 2)],
        );
        let a = set(&upright, Method::Transcode, ClientLimits::default());
        let b = set(&p, Method::Transcode, ClientLimits::default());
        assert_ne!(a.content_key("v720"), b.content_key("v720"));
    }

    #[test]
    fn transcode_ladder_respects_client_limits() {
        let p = probe(
            Some(vs("hevc", "Main 10", 5.1, 1920, 1080, 24.0)),
            vec![aud(1, "aac", 2)],
        );
        let s = set(
            &p,
            Method::Transcode,
            ClientLimits {
                max_width: None,
                max_height: Some(720),
                max_bitrate: None,
                ..Default::default()
            },
        );
        assert_eq!(
            s.video.iter().map(|v| v.id.as_str()).collect::<Vec<_>>(),
            ["v720", "v480", "v360"]
        );
        // 3 Mbit/s: 720p's peak (2 996 000 + 140 800) is over, 480p's is within.
        let s = set(
            &p,
            Method::Transcode,
            ClientLimits {
                max_bitrate: Some(3_000_000),
                ..Default::default()
            },
        );
        assert_eq!(s.video[0].id, "v480");
        assert!(s.video.iter().all(|v| s.bandwidth(v).peak <= 3_000_000));
        // Nothing fits: one small rung squeezed into the limits.
        let s = set(
            &p,
            Method::Transcode,
            ClientLimits {
                max_width: Some(320),
                max_height: None,
                max_bitrate: Some(500_000),
                ..Default::default()
            },
        );
        assert_eq!(sizes(&s), vec![("v180".into(), 320, 180)]);
        assert!(
            s.bandwidth(&s.video[0]).peak <= 500_000,
            "{:?}",
            s.bandwidth(&s.video[0])
        );
        // An absurdly low max_bitrate still gets a rung (at the floor).
        let s = set(
            &p,
            Method::Transcode,
            ClientLimits {
                max_bitrate: Some(10_000),
                ..Default::default()
            },
        );
        assert_eq!((s.video.len(), s.video[0].bitrate), (1, MIN_VIDEO_BITRATE));
    }

    #[test]
    fn frame_rate_is_capped() {
        assert_eq!(output_fps(Some(24.0)), Some(24.0));
        assert_eq!(output_fps(Some(60.0)), Some(60.0));
        assert!((output_fps(Some(119.88)).unwrap() - 59.94).abs() < 1e-9);
        assert_eq!(output_fps(Some(100.0)), Some(50.0));
        assert_eq!(output_fps(Some(240.0)), Some(60.0));
        assert_eq!(output_fps(None), None);
        assert_eq!(output_fps(Some(f64::NAN)), None);
    }

    #[test]
    // Long because every input of a content key is varied in turn (each must change it or not).
    fn content_keys() {
        let p = probe(
            Some(vs("hevc", "Main 10", 5.1, 1920, 1080, 24.0)),
            vec![aud(1, "aac", 2), aud(2, "ac3", 6)],
        );
        let s = set(&p, Method::Transcode, ClientLimits::default());
        let k720 = s.content_key("v720").unwrap();
        assert_eq!(k720.len(), 64);
        assert!(k720.chars().all(|c| c.is_ascii_hexdigit()));
        // Stable: the same inputs give the same keys, whoever asks.
        let again = set(&p, Method::Transcode, ClientLimits::default());
        assert_eq!(again.content_key("v720").unwrap(), k720);
        // Renditions differ from each other.
        let keys: std::collections::HashSet<String> = ["v1080", "v720", "v480", "v360", "a"]
            .iter()
            .map(|id| s.content_key(id).unwrap())
            .collect();
        assert_eq!(keys.len(), 5);
        assert_eq!(s.content_key("v999"), None);
        // A client capped at 720p shares the 720p rendition's segments.
        let capped = set(
            &p,
            Method::Transcode,
            ClientLimits {
                max_height: Some(720),
                ..Default::default()
            },
        );
        assert_eq!(capped.content_key("v720").unwrap(), k720);
        // Another audio track changes the audio key only.
        let other = build(
            "m1",
            &p,
            &decision(Method::Transcode, Some(2), SegmentFormat::Fmp4),
            &ClientLimits::default(),
            &LadderConfig::default(),
        )
        .unwrap();
        assert_eq!(other.content_key("v720").unwrap(), k720);
        assert_ne!(other.content_key("a"), s.content_key("a"));
        // Media, format and plan parameters are all part of it.
        let other_media = build(
            "m2",
            &p,
            &decision(Method::Transcode, Some(1), SegmentFormat::Fmp4),
            &ClientLimits::default(),
            &LadderConfig::default(),
        )
        .unwrap();
        assert_ne!(other_media.content_key("v720").unwrap(), k720);
        let ts = build(
            "m1",
            &p,
            &decision(Method::Transcode, Some(1), SegmentFormat::Ts),
            &ClientLimits::default(),
            &LadderConfig::default(),
        )
        .unwrap();
        assert_ne!(ts.content_key("v720").unwrap(), k720);
        let cfg = LadderConfig {
            transcode_first: vec![2.0],
            ..LadderConfig::default()
        };
        let other_plan = build(
            "m1",
            &p,
            &decision(Method::Transcode, Some(1), SegmentFormat::Fmp4),
            &ClientLimits::default(),
            &cfg,
        )
        .unwrap();
        assert_ne!(other_plan.content_key("v720").unwrap(), k720);
        // The copied video of remux and transcode_audio is the same rendition.
        let p2 = probe(
            Some(vs("h264", "High", 4.0, 1920, 1080, 24.0)),
            vec![aud(1, "ac3", 6)],
        );
        let remux = set(&p2, Method::Remux, ClientLimits::default());
        let ta = set(&p2, Method::TranscodeAudio, ClientLimits::default());
        assert_eq!(remux.content_key(COPY_ID), ta.content_key(COPY_ID));
        assert_ne!(remux.content_key(AUDIO_ID), ta.content_key(AUDIO_ID));
    }

    /// A burned subtitle track is part of every transcoded video rendition and of its key: a
    /// session burning track 3 never shares video segments with a clean one or one burning
    /// track 4, two sessions burning track 3 share theirs, and audio is shared by all.
    #[test]
    fn burned_subtitles_are_part_of_the_video_keys() {
        let p = probe(
            Some(vs("h264", "High", 4.0, 1920, 1080, 24.0)),
            vec![aud(1, "aac", 2)],
        );
        let burning = |track: Option<u32>| {
            let d = Decision {
                subtitle_burn: track,
                ..decision(Method::Transcode, Some(1), SegmentFormat::Fmp4)
            };
            build(
                "m1",
                &p,
                &d,
                &ClientLimits::default(),
                &LadderConfig::default(),
            )
            .unwrap()
        };
        let (clean, s3, s3_again, s4) = (
            burning(None),
            burning(Some(3)),
            burning(Some(3)),
            burning(Some(4)),
        );
        assert!(s3.video.iter().all(|v| v.burn_subtitle == Some(3)));
        assert!(clean.video.iter().all(|v| v.burn_subtitle.is_none()));
        for v in &clean.video {
            let key = |s: &RenditionSet| s.content_key(&v.id).unwrap();
            assert_ne!(key(&clean), key(&s3), "{}", v.id);
            assert_ne!(key(&s3), key(&s4), "{}", v.id);
            assert_eq!(key(&s3), key(&s3_again), "{}", v.id);
        }
        assert_eq!(clean.content_key(AUDIO_ID), s3.content_key(AUDIO_ID));
        // A clean set serializes as before (stored records and jobs keep their form).
        assert!(!serde_json::to_string(&clean).unwrap().contains("burn"));
    }

    #[test]
    fn audio_only_and_errors() {
        let p = probe(None, vec![aud(1, "aac", 2)]);
        let s = set(&p, Method::Remux, ClientLimits::default());
        assert!(s.video.is_empty());
        assert_eq!(s.plan.mode, PlanMode::Fixed);
        assert_eq!(s.audio_bandwidth().map(|b| b.average), Some(192_000));
        let plan = s.plan.plan(&p).unwrap();
        assert_eq!(plan.len(), 10);
        let none = probe(None, vec![]);
        assert_eq!(
            build(
                "m",
                &none,
                &decision(Method::Remux, None, SegmentFormat::Fmp4),
                &ClientLimits::default(),
                &LadderConfig::default()
            ),
            Err(LadderError::NoStreams)
        );
        assert_eq!(
            build(
                "m",
                &p,
                &decision(Method::Remux, Some(9), SegmentFormat::Fmp4),
                &ClientLimits::default(),
                &LadderConfig::default()
            ),
            Err(LadderError::AudioTrack(9))
        );
        let d = Decision {
            method: Method::DirectPlay,
            reasons: vec![],
            audio_track: Some(1),
            segment_format: None,
            subtitle_burn: None,
        };
        assert_eq!(
            build(
                "m",
                &p,
                &d,
                &ClientLimits::default(),
                &LadderConfig::default()
            ),
            Err(LadderError::NotHls)
        );
        let rext = probe(
            Some(vs("hevc", "Rext", 5.1, 1920, 1080, 24.0)),
            vec![aud(1, "aac", 2)],
        );
        assert!(matches!(
            build(
                "m",
                &rext,
                &decision(Method::Remux, Some(1), SegmentFormat::Fmp4),
                &ClientLimits::default(),
                &LadderConfig::default()
            ),
            Err(LadderError::Codec(_))
        ));
        // A video-only file has no audio rendition.
        let silent = probe(Some(vs("h264", "High", 4.0, 1280, 720, 30.0)), vec![]);
        let s = build(
            "m",
            &silent,
            &decision(Method::Transcode, None, SegmentFormat::Fmp4),
            &ClientLimits::default(),
            &LadderConfig::default(),
        )
        .unwrap();
        assert!(s.audio.is_none());
        assert_eq!(s.bandwidth(&s.video[0]).average, s.video[0].bitrate);
    }

    #[test]
    fn plan_of_a_set() {
        let p = probe(
            Some(vs("h264", "High", 4.0, 1280, 720, 30.0)),
            vec![aud(1, "aac", 2)],
        );
        let remux = set(&p, Method::Remux, ClientLimits::default())
            .plan
            .plan(&p)
            .unwrap();
        assert!(remux
            .segments
            .iter()
            .all(|s| p.keyframes.contains(&s.start)));
        let tc = set(&p, Method::Transcode, ClientLimits::default())
            .plan
            .plan(&p)
            .unwrap();
        assert_eq!(
            tc.segments[..4].iter().map(|s| s.start).collect::<Vec<_>>(),
            [0.0, 1.0, 2.0, 4.0]
        );
    }

    #[test]
    fn serde_round_trip() {
        let p = probe(
            Some(vs("hevc", "Main 10", 5.1, 1920, 1080, 24.0)),
            vec![aud(1, "aac", 2)],
        );
        let s = set(&p, Method::Transcode, ClientLimits::default());
        let json = serde_json::to_string(&s).unwrap();
        let back: RenditionSet = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.content_key("v720"), s.content_key("v720"));
    }
}
