//! Built-in device profiles, as data in one place (documented as a table in the README).
//! A profile is the starting point; explicit query parameters override any field.

use super::capabilities::Capabilities;

pub struct ProfileSpec {
    pub name: &'static str,
    pub containers: &'static [&'static str],
    pub video_codecs: &'static [&'static str],
    pub audio_codecs: &'static [&'static str],
    pub max_width: u32,
    pub max_height: u32,
    pub max_bitrate: Option<u64>,
    pub max_audio_channels: u32,
    pub max_video_bit_depth: u8,
    pub hdr: bool,
    /// Decodes Dolby Vision (profile 5 needs it; 8.x plays as its HDR10/HLG base without).
    pub dolby_vision: bool,
    /// Highest H.264 level played directly (None: no limit).
    pub max_h264_level: Option<f64>,
}

/// The conservative default (SPEC §3): H.264 High <= 4.1, 8-bit SDR, AAC stereo, MP4, HLS.
pub const GENERIC: ProfileSpec = ProfileSpec {
    name: "generic",
    containers: &["mp4"],
    video_codecs: &["h264"],
    audio_codecs: &["aac"],
    max_width: 1920,
    max_height: 1080,
    max_bitrate: None,
    max_audio_channels: 2,
    max_video_bit_depth: 8,
    hdr: false,
    dolby_vision: false,
    max_h264_level: Some(4.1),
};

pub const PROFILES: &[ProfileSpec] = &[
    ProfileSpec {
        name: "chrome",
        containers: &["mp4", "webm"],
        video_codecs: &["h264", "vp9", "av1"],
        audio_codecs: &["aac", "mp3", "opus", "flac"],
        max_width: 3840,
        max_height: 2160,
        max_bitrate: None,
        max_audio_channels: 2,
        max_video_bit_depth: 10,
        hdr: false,
        dolby_vision: false,
        max_h264_level: Some(5.2),
    },
    ProfileSpec {
        name: "firefox",
        containers: &["mp4", "webm"],
        video_codecs: &["h264", "vp9", "av1"],
        audio_codecs: &["aac", "mp3", "opus", "flac"],
        max_width: 3840,
        max_height: 2160,
        max_bitrate: None,
        max_audio_channels: 2,
        max_video_bit_depth: 8,
        hdr: false,
        dolby_vision: false,
        max_h264_level: Some(5.2),
    },
    ProfileSpec {
        name: "safari",
        containers: &["mp4", "mov", "m4a"],
        video_codecs: &["h264", "hevc"],
        audio_codecs: &["aac", "mp3", "ac3", "eac3", "flac", "alac"],
        max_width: 3840,
        max_height: 2160,
        max_bitrate: None,
        max_audio_channels: 6,
        max_video_bit_depth: 10,
        hdr: true,
        dolby_vision: true,
        max_h264_level: Some(5.2),
    },
    ProfileSpec {
        name: "ios",
        containers: &["mp4", "mov", "m4a"],
        video_codecs: &["h264", "hevc"],
        audio_codecs: &["aac", "mp3", "ac3", "eac3", "flac", "alac"],
        max_width: 3840,
        max_height: 2160,
        max_bitrate: Some(40_000_000),
        max_audio_channels: 6,
        max_video_bit_depth: 10,
        hdr: true,
        dolby_vision: true,
        max_h264_level: Some(5.2),
    },
    ProfileSpec {
        name: "android",
        containers: &["mp4", "webm", "mkv"],
        video_codecs: &["h264", "hevc", "vp9", "av1"],
        audio_codecs: &["aac", "mp3", "opus", "flac", "vorbis"],
        max_width: 1920,
        max_height: 1080,
        max_bitrate: Some(20_000_000),
        max_audio_channels: 2,
        max_video_bit_depth: 10,
        hdr: false,
        dolby_vision: false,
        max_h264_level: Some(5.1),
    },
    ProfileSpec {
        name: "tv",
        containers: &["mp4", "mkv", "webm", "ts", "mov"],
        video_codecs: &["h264", "hevc", "vp9", "av1"],
        audio_codecs: &["aac", "mp3", "ac3", "eac3", "flac", "opus"],
        max_width: 3840,
        max_height: 2160,
        max_bitrate: Some(80_000_000),
        max_audio_channels: 8,
        max_video_bit_depth: 10,
        hdr: true,
        dolby_vision: false,
        max_h264_level: Some(5.2),
    },
    GENERIC,
];

pub fn by_name(name: &str) -> Option<&'static ProfileSpec> {
    PROFILES.iter().find(|p| p.name == name)
}

/// The profile a User-Agent implies, when it is recognised.
pub fn from_user_agent(ua: &str) -> Option<&'static ProfileSpec> {
    let has = |s: &str| ua.contains(s);
    let name = if has("SMART-TV")
        || has("SmartTV")
        || has("Tizen")
        || has("Web0S")
        || has("AppleTV")
        || has("CrKey")
        || has("BRAVIA")
        || has("AFT")
    {
        "tv"
    } else if has("iPhone") || has("iPad") || has("iPod") {
        "ios"
    } else if has("Android") {
        "android"
    } else if has("Firefox/") {
        "firefox"
    } else if has("Edg/") || has("Chrome/") || has("Chromium/") {
        "chrome"
    } else if has("Safari/") && has("Version/") {
        "safari"
    } else {
        return None;
    };
    by_name(name)
}

impl ProfileSpec {
    pub fn capabilities(&self) -> Capabilities {
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        Capabilities {
            profile: self.name.to_string(),
            containers: owned(self.containers),
            video_codecs: owned(self.video_codecs),
            audio_codecs: owned(self.audio_codecs),
            max_width: Some(self.max_width),
            max_height: Some(self.max_height),
            max_bitrate: self.max_bitrate,
            max_audio_channels: self.max_audio_channels,
            max_video_bit_depth: self.max_video_bit_depth,
            hdr: self.hdr,
            dolby_vision: self.dolby_vision,
            max_h264_level: self.max_h264_level,
            // Browsers cannot switch the audio track of a file they play themselves; an app
            // that can says so with `audio_switch=true`.
            audio_switch: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_profile_exists_and_user_agents_map() {
        for n in [
            "chrome", "firefox", "safari", "ios", "android", "tv", "generic",
        ] {
            assert!(by_name(n).is_some(), "{n}");
        }
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
        let safari = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15";
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        let android = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36";
        assert_eq!(from_user_agent(chrome).unwrap().name, "chrome");
        assert_eq!(from_user_agent(safari).unwrap().name, "safari");
        assert_eq!(from_user_agent(iphone).unwrap().name, "ios");
        assert_eq!(from_user_agent(firefox).unwrap().name, "firefox");
        assert_eq!(from_user_agent(android).unwrap().name, "android");
        assert!(from_user_agent("curl/8.5.0").is_none());
        assert!(from_user_agent("Lavf/59.27.100").is_none());
    }
}
