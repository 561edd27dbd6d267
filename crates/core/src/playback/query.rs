//! Client capabilities from the stream request's query (SPEC §3): a named profile first, then
//! explicit parameters override it. Invalid values are an `Invalid` error naming the parameter.

use std::collections::HashMap;

use super::capabilities::{
    Capabilities, PlaybackOptions, SubtitleMode, AUDIO_CODECS, CONTAINERS, VIDEO_CODECS,
};
use super::profiles;
use crate::error::{Error, Result};

fn alias(v: &str) -> &str {
    match v {
        "matroska" => "mkv",
        "mpegts" | "m2ts" => "ts",
        "h265" | "hvc1" | "hev1" | "x265" => "hevc",
        "avc" | "avc1" | "x264" => "h264",
        "mpeg2" => "mpeg2video",
        "ec3" | "ec-3" => "eac3",
        "ac-3" => "ac3",
        "mp4a" => "aac",
        other => other,
    }
}

fn list(param: &'static str, raw: &str, known: &[&str]) -> Result<Vec<String>> {
    let mut out = vec![];
    for item in raw
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
    {
        let name = alias(&item);
        if !known.contains(&name) {
            return Err(Error::invalid(
                "invalid_parameter",
                format!(
                    "`{param}`: unknown value `{item}` (known: {})",
                    known.join(", ")
                ),
            ));
        }
        if !out.iter().any(|x: &String| x == name) {
            out.push(name.to_string());
        }
    }
    if out.is_empty() {
        return Err(Error::invalid(
            "invalid_parameter",
            format!(
                "`{param}` must list at least one value (known: {})",
                known.join(", ")
            ),
        ));
    }
    Ok(out)
}

fn positive<T: std::str::FromStr + PartialOrd + Default>(
    param: &'static str,
    raw: &str,
) -> Result<T> {
    match raw.trim().parse::<T>() {
        Ok(v) if v > T::default() => Ok(v),
        _ => Err(Error::invalid(
            "invalid_parameter",
            format!("`{param}` must be a positive whole number, got `{raw}`"),
        )),
    }
}

fn boolean(param: &'static str, raw: &str) -> Result<bool> {
    match raw.trim() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(Error::invalid(
            "invalid_parameter",
            format!("`{param}` must be `true` or `false`, got `{raw}`"),
        )),
    }
}

/// Parses the query of `GET /stream/{id}`.
// Long because every parameter of SPEC §3 is parsed here in one place, in the order the SPEC
// lists them, each naming itself in its error.
pub fn from_query(
    q: &HashMap<String, String>,
    user_agent: Option<&str>,
) -> Result<(Capabilities, PlaybackOptions)> {
    let base = match q.get("profile") {
        Some(name) => profiles::by_name(name.trim()).ok_or_else(|| {
            let names: Vec<&str> = profiles::PROFILES.iter().map(|p| p.name).collect();
            Error::invalid(
                "invalid_parameter",
                format!(
                    "`profile`: unknown profile `{name}` (known: {})",
                    names.join(", ")
                ),
            )
        })?,
        None => user_agent
            .and_then(profiles::from_user_agent)
            .unwrap_or(&profiles::GENERIC),
    };
    let mut c = base.capabilities();
    if let Some(v) = q.get("containers") {
        c.containers = list("containers", v, CONTAINERS)?;
    }
    if let Some(v) = q.get("video_codecs") {
        c.video_codecs = list("video_codecs", v, VIDEO_CODECS)?;
        // Naming codecs explicitly means "these, at any level".
        c.max_h264_level = None;
    }
    if let Some(v) = q.get("audio_codecs") {
        c.audio_codecs = list("audio_codecs", v, AUDIO_CODECS)?;
    }
    if let Some(v) = q.get("max_width") {
        c.max_width = Some(positive("max_width", v)?);
    }
    if let Some(v) = q.get("max_height") {
        c.max_height = Some(positive("max_height", v)?);
    }
    if let Some(v) = q.get("max_bitrate") {
        c.max_bitrate = Some(positive("max_bitrate", v)?);
    }
    if let Some(v) = q.get("max_audio_channels") {
        c.max_audio_channels = positive("max_audio_channels", v)?;
    }
    if let Some(v) = q.get("max_video_bit_depth") {
        let d: u8 = positive("max_video_bit_depth", v)?;
        if !(8..=16).contains(&d) {
            return Err(Error::invalid(
                "invalid_parameter",
                format!("`max_video_bit_depth` must be between 8 and 16, got `{v}`"),
            ));
        }
        c.max_video_bit_depth = d;
    }
    if let Some(v) = q.get("hdr") {
        c.hdr = boolean("hdr", v)?;
    }
    if let Some(v) = q.get("audio_switch") {
        c.audio_switch = boolean("audio_switch", v)?;
    }
    if let Some(v) = q.get("dolby_vision") {
        c.dolby_vision = boolean("dolby_vision", v)?;
    }
    let mut o = PlaybackOptions::default();
    if let Some(v) = q.get("audio_track") {
        o.audio_track = Some(v.trim().parse().map_err(|_| {
            Error::invalid(
                "invalid_parameter",
                format!("`audio_track` must be a stream index, got `{v}`"),
            )
        })?);
    }
    if let Some(v) = q.get("start") {
        let s: f64 = v.trim().parse().map_err(|_| {
            Error::invalid(
                "invalid_parameter",
                format!("`start` must be a number of seconds, got `{v}`"),
            )
        })?;
        if !s.is_finite() || s < 0.0 {
            return Err(Error::invalid(
                "invalid_parameter",
                format!("`start` must be >= 0, got `{v}`"),
            ));
        }
        o.start = Some(s);
    }
    if let Some(v) = q.get("resume") {
        o.resume = boolean("resume", v)?;
    }
    if let Some(v) = q.get("segment_format") {
        o.prefer_ts = match v.trim() {
            "ts" => true,
            "fmp4" => false,
            _ => {
                return Err(Error::invalid(
                    "invalid_parameter",
                    format!("`segment_format` must be `fmp4` or `ts`, got `{v}`"),
                ))
            }
        };
    }
    if let Some(v) = q.get("subtitle") {
        let id = v.trim();
        if !crate::tracks::is_track_id(id) {
            return Err(Error::invalid(
                "invalid_parameter",
                format!(
                    "`subtitle` must be a subtitle id of the media (`s3`, `x1a2b3c4d`), got `{v}`"
                ),
            ));
        }
        o.subtitle = Some(id.to_string());
    }
    if let Some(v) = q.get("subtitle_mode") {
        o.subtitle_mode = match v.trim() {
            "external" => SubtitleMode::External,
            "burn" => SubtitleMode::Burn,
            _ => {
                return Err(Error::invalid(
                    "invalid_parameter",
                    format!("`subtitle_mode` must be `external` or `burn`, got `{v}`"),
                ))
            }
        };
        if o.subtitle_mode == SubtitleMode::Burn && o.subtitle.is_none() {
            return Err(Error::invalid(
                "invalid_parameter",
                "`subtitle_mode`: `burn` needs `subtitle` (the id of the track to burn in)",
            ));
        }
    }
    Ok((c, o))
}

/// The download's `quality` parameter of the same query (`GET /download/{id}`), if given: the
/// highest rung (`crate::download::parse_quality`).
pub fn quality_from_query(q: &HashMap<String, String>) -> Result<Option<u32>> {
    q.get("quality")
        .map(|v| crate::download::parse_quality(v))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn profile_then_overrides() {
        let (c, o) = from_query(
            &q(&[
                ("profile", "chrome"),
                ("max_height", "720"),
                ("audio_codecs", "AAC,ec-3"),
                ("hdr", "true"),
                ("dolby_vision", "1"),
                ("start", "12.5"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(c.profile, "chrome");
        assert_eq!(c.containers, vec!["mp4", "webm"]);
        assert_eq!(c.max_height, Some(720));
        assert_eq!(c.audio_codecs, vec!["aac", "eac3"]);
        assert!(c.hdr && c.dolby_vision);
        let e = from_query(&q(&[("dolby_vision", "maybe")]), None).unwrap_err();
        assert!(e.to_string().contains("dolby_vision"), "{e}");
        assert_eq!(o.start, Some(12.5));
    }

    #[test]
    fn default_is_conservative_unless_the_user_agent_is_known() {
        let (c, _) = from_query(&q(&[]), Some("curl/8")).unwrap();
        assert_eq!(c.profile, "generic");
        assert_eq!(
            (c.max_audio_channels, c.max_video_bit_depth, c.hdr),
            (2, 8, false)
        );
        let (c, _) = from_query(
            &q(&[]),
            Some("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"),
        )
        .unwrap();
        assert_eq!(c.profile, "firefox");
    }

    #[test]
    fn bad_parameters_are_named() {
        for (k, v) in [
            ("profile", "toaster"),
            ("containers", "mp4,zip"),
            ("video_codecs", "h264;drop"),
            ("audio_codecs", "wma"),
            ("max_width", "-1"),
            ("max_height", "0"),
            ("max_bitrate", "lots"),
            ("max_audio_channels", "2.5"),
            ("max_video_bit_depth", "7"),
            ("hdr", "maybe"),
            ("audio_track", "x"),
            ("start", "-3"),
            ("start", "NaN"),
            ("resume", "yes please"),
            ("subtitle", "../s2"),
            ("subtitle", ""),
            ("subtitle_mode", "overlay"),
            ("subtitle_mode", "burn"),
        ] {
            let e = from_query(&q(&[(k, v)]), None).unwrap_err();
            assert!(matches!(e, Error::Invalid { .. }), "{k}={v}: {e:?}");
            assert!(e.to_string().contains(&format!("`{k}`")), "{k}={v}: {e}");
        }
    }

    #[test]
    fn subtitle_and_its_mode() {
        let (_, o) = from_query(&q(&[]), None).unwrap();
        assert_eq!(
            (o.subtitle, o.subtitle_mode),
            (None, SubtitleMode::External)
        );
        let (_, o) =
            from_query(&q(&[("subtitle", " s3 "), ("subtitle_mode", "burn")]), None).unwrap();
        assert_eq!(
            (o.subtitle.as_deref(), o.subtitle_mode),
            (Some("s3"), SubtitleMode::Burn)
        );
        let (_, o) = from_query(&q(&[("subtitle", "x0a1b2c3d")]), None).unwrap();
        assert_eq!(
            (o.subtitle.as_deref(), o.subtitle_mode),
            (Some("x0a1b2c3d"), SubtitleMode::External)
        );
    }

    #[test]
    fn quality_is_optional_and_named_when_bad() {
        assert_eq!(quality_from_query(&q(&[])).unwrap(), None);
        assert_eq!(
            quality_from_query(&q(&[("quality", "720")])).unwrap(),
            Some(720)
        );
        let e = quality_from_query(&q(&[("quality", "4k")])).unwrap_err();
        assert!(matches!(e, Error::Invalid { .. }) && e.to_string().contains("`quality`"));
    }
}
