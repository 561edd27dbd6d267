//! What a client can play (SPEC §3): the capabilities the decision compares a file with, and
//! the names it knows. Profiles (`profiles`) are values of this type; `query` builds one from a
//! stream request.

#[derive(Debug, Clone, PartialEq)]
pub struct Capabilities {
    /// The profile the capabilities started from.
    pub profile: String,
    pub containers: Vec<String>,
    pub video_codecs: Vec<String>,
    pub audio_codecs: Vec<String>,
    pub max_width: Option<u32>,
    pub max_height: Option<u32>,
    pub max_bitrate: Option<u64>,
    pub max_audio_channels: u32,
    pub max_video_bit_depth: u8,
    /// Shows HDR: PQ (HDR10) and HLG pictures, and Dolby Vision through its compatible base.
    pub hdr: bool,
    /// Decodes Dolby Vision itself: needed for profile 5, which has no compatible base layer.
    pub dolby_vision: bool,
    pub max_h264_level: Option<f64>,
    /// The client switches a file's audio tracks itself (`audio_switch=true`: native apps), so
    /// a non-default track may still be played from the original.
    pub audio_switch: bool,
}

/// Everything the stream request asks besides capabilities.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlaybackOptions {
    pub audio_track: Option<u32>,
    pub start: Option<f64>,
    pub resume: bool,
    /// `segment_format=ts` asks for MPEG-TS segments (granted for H.264 only).
    pub prefer_ts: bool,
    /// `subtitle`: a subtitle track id of the media (`s<stream index>`, `x<hex>`), checked
    /// against its tracks by `decision::select_burn`.
    pub subtitle: Option<String>,
    /// `subtitle_mode`: how that track is shown.
    pub subtitle_mode: SubtitleMode,
}

/// How the requested subtitle track is shown (`subtitle_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubtitleMode {
    /// The player shows it (WebVTT `<track>` or the master's subtitle renditions): the default.
    #[default]
    External,
    /// Drawn into the picture by the transcode (bitmap tracks: PGS, DVD, DVB).
    Burn,
}

pub const CONTAINERS: &[&str] = &[
    "mp4", "mov", "m4a", "mkv", "webm", "avi", "ts", "mp3", "flac", "ogg", "wav", "flv",
];
pub const VIDEO_CODECS: &[&str] = &[
    "h264",
    "hevc",
    "vp8",
    "vp9",
    "av1",
    "mpeg4",
    "mpeg2video",
    "vc1",
];
pub const AUDIO_CODECS: &[&str] = &[
    "aac", "mp3", "opus", "vorbis", "ac3", "eac3", "flac", "alac", "dts", "truehd", "pcm",
];
