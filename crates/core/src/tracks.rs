//! The tracks of a title beside its video and main audio (SPEC §3 "Tracks"): here, subtitles.
//!
//! A media record lists its **subtitle tracks** ([`SubtitleTrack`]): one per subtitle stream of
//! the source (`embedded`, id `s<stream index>`) and one per file a user added (`sidecar`, id
//! `x<8 hex>`). Every text track is converted to WebVTT **once**: at ingest for the embedded
//! ones, when it is uploaded for a sidecar, so no playback ever waits for a conversion (the
//! slow start Jellyfin's users know from large files). The WebVTT lives beside the original,
//! at [`vtt_key`] under `uploads/<media id>/`: it is as permanent as the source (the
//! `renditions/` prefix expires, and a subtitle file is not re-made on demand), and it is
//! delivered like the original is in direct play (a CDN signed URL, else a presigned one).
//! Bitmap tracks (PGS, DVD, DVB) have no WebVTT: they can only be burned into the picture.
//! A conversion that failed is kept on the track (`error`) and never blocks playback.
//!
//! Languages are BCP 47 tags as HLS wants them (`LANGUAGE="fr"`): ISO 639-2 codes from the
//! container (`fre`, `fra`) become their two-letter form where one exists; names are shown in
//! the language itself ("Français"), the way players list them.

pub use crate::model::{SubtitleTrack, TrackSource};

/// The id of the embedded track of stream `index`.
pub fn embedded_id(index: u32) -> String {
    format!("s{index}")
}

/// A new sidecar track id (`x` + 8 random hex characters).
pub fn new_sidecar_id() -> String {
    format!("x{}", &crate::ids::random_id()[..8])
}

/// A track id we issue: `s` + a stream index, or `x` + 8 lowercase hex characters. Anything
/// else is refused before it reaches a key or a path.
pub fn is_track_id(s: &str) -> bool {
    match s.split_at_checked(1) {
        Some(("s", n)) => !n.is_empty() && n.len() <= 5 && n.bytes().all(|b| b.is_ascii_digit()),
        Some(("x", h)) => h.len() == 8 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
        _ => false,
    }
}

/// Where the WebVTT of track `track_id` of media `media_id` is stored.
pub fn vtt_key(media_id: &str, track_id: &str) -> String {
    format!("uploads/{media_id}/subtitles/{track_id}.vtt")
}

/// The content type of a WebVTT object.
pub const VTT_CONTENT_TYPE: &str = "text/vtt; charset=utf-8";

/// ISO 639-2 bibliographic codes that differ from the terminology codes ISO 639-3 uses.
const BIBLIOGRAPHIC: [(&str, &str); 20] = [
    ("alb", "sqi"),
    ("arm", "hye"),
    ("baq", "eus"),
    ("bur", "mya"),
    ("chi", "zho"),
    ("cze", "ces"),
    ("dut", "nld"),
    ("fre", "fra"),
    ("geo", "kat"),
    ("ger", "deu"),
    ("gre", "ell"),
    ("ice", "isl"),
    ("mac", "mkd"),
    ("mao", "mri"),
    ("may", "msa"),
    ("per", "fas"),
    ("rum", "ron"),
    ("slo", "slk"),
    ("tib", "bod"),
    ("wel", "cym"),
];

fn language_of(primary: &str) -> Option<isolang::Language> {
    let p = primary.to_ascii_lowercase();
    match p.len() {
        2 => isolang::Language::from_639_1(&p),
        3 => {
            let t = BIBLIOGRAPHIC
                .iter()
                .find(|(b, _)| *b == p)
                .map_or(p.as_str(), |(_, t)| t);
            isolang::Language::from_639_3(t)
        }
        _ => None,
    }
}

/// A BCP 47 tag for a container's or a user's language code: `eng`/`en`/`EN` → `en`,
/// `fre`/`fra` → `fr`, `pt-br` → `pt-BR`, a 639-3 code without a two-letter form stays
/// (`yue`); `und`, empty or unknown → `None`.
pub fn language_tag(code: &str) -> Option<String> {
    let mut parts = code.trim().split(['-', '_']);
    let primary = parts.next()?;
    let lang = language_of(primary)?;
    if lang.to_639_3() == "und" {
        return None;
    }
    let mut tag = lang.to_639_1().unwrap_or(lang.to_639_3()).to_string();
    for sub in parts {
        if sub.is_empty() || sub.len() > 8 || !sub.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        tag.push('-');
        match sub.len() {
            2 => tag.push_str(&sub.to_ascii_uppercase()),
            4 => {
                let (first, rest) = sub.split_at(1);
                tag.push_str(&first.to_ascii_uppercase());
                tag.push_str(&rest.to_ascii_lowercase());
            }
            _ => tag.push_str(&sub.to_ascii_lowercase()),
        }
    }
    Some(tag)
}

/// The language's own name for itself, capitalised ("Français", "Deutsch"), else its English
/// name; `None` for no or an unknown tag.
pub fn language_name(tag: Option<&str>) -> Option<String> {
    let lang = language_of(tag?.split('-').next()?)?;
    let name = lang.to_autonym().unwrap_or(lang.to_name());
    // Autonyms may list variants ("norsk, bokmål"): the first is the name.
    let name = name.split([',', ';']).next().unwrap_or(name).trim();
    let mut chars = name.chars();
    let first = chars.next()?;
    Some(first.to_uppercase().chain(chars).collect())
}

/// The menu name of a subtitle track: the language's name (or the track's title, or
/// "Subtitles"), with "(forced)" for forced tracks; made unique among `taken` by a number.
pub fn subtitle_name(
    language: Option<&str>,
    title: Option<&str>,
    forced: bool,
    taken: &[&str],
) -> String {
    let title = title
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 64);
    let mut base = match (language_name(language), title) {
        (Some(l), Some(t)) if !t.eq_ignore_ascii_case(&l) => format!("{l} ({t})"),
        (Some(l), _) => l,
        (None, Some(t)) => t.to_string(),
        (None, None) => "Subtitles".to_string(),
    };
    if forced && !base.to_lowercase().contains("forced") {
        base.push_str(" (forced)");
    }
    unique(base, taken)
}

/// `base`, or `base 2`, `base 3`, ... : the first not in `taken` (menu names within a group must
/// differ, RFC 8216 4.3.4.1).
fn unique(base: String, taken: &[&str]) -> String {
    let mut name = base.clone();
    let mut n = 2;
    while taken.contains(&name.as_str()) {
        name = format!("{base} {n}");
        n += 1;
    }
    name
}

/// An audio track of a media as the `/stream` answer lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioTrack {
    /// The stream index (`audio_track=` selects it).
    pub index: u32,
    /// BCP 47.
    pub language: Option<String>,
    pub name: String,
    pub codec: String,
    pub channels: u32,
    /// The file's default track (what a player of the original plays).
    pub default: bool,
}

/// The audio tracks of a probe, named as players list them (unique names).
pub fn audio_tracks(probe: &crate::model::Probe) -> Vec<AudioTrack> {
    let default = crate::playback::decision::select_audio(probe, None)
        .ok()
        .flatten()
        .map(|a| a.index);
    let mut out: Vec<AudioTrack> = Vec::with_capacity(probe.audio.len());
    for a in &probe.audio {
        let language = a.language.as_deref().and_then(language_tag);
        let taken: Vec<&str> = out.iter().map(|t| t.name.as_str()).collect();
        out.push(AudioTrack {
            index: a.index,
            name: audio_name(language.as_deref(), a.channels, &taken),
            language,
            codec: a.codec.clone(),
            channels: a.channels,
            default: default == Some(a.index),
        });
    }
    out
}

/// The menu name of an audio track: the language's name (or "Audio"), with the channel layout
/// when it is not stereo ("Français (5.1)", "English (mono)"); made unique among `taken`.
pub fn audio_name(language: Option<&str>, channels: u32, taken: &[&str]) -> String {
    let lang = language_name(language).unwrap_or_else(|| "Audio".to_string());
    let base = match channels {
        1 => format!("{lang} (mono)"),
        2 => lang,
        6 => format!("{lang} (5.1)"),
        8 => format!("{lang} (7.1)"),
        n => format!("{lang} ({n} ch)"),
    };
    unique(base, taken)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_codes_become_bcp47() {
        for (code, tag) in [
            ("eng", "en"),
            ("EN", "en"),
            ("fre", "fr"),
            ("fra", "fr"),
            ("ger", "de"),
            ("chi", "zh"),
            ("jpn", "ja"),
            ("pt-br", "pt-BR"),
            ("pt_BR", "pt-BR"),
            ("zh-hant", "zh-Hant"),
            ("yue", "yue"),
        ] {
            assert_eq!(language_tag(code).as_deref(), Some(tag), "{code}");
        }
        for bad in ["", "und", "xx", "english", "e", "en-", "en-!!", "qqq"] {
            assert_eq!(language_tag(bad), None, "{bad}");
        }
    }

    #[test]
    fn names_are_the_languages_own_and_unique() {
        assert_eq!(language_name(Some("fr")).as_deref(), Some("Français"));
        assert_eq!(language_name(Some("de")).as_deref(), Some("Deutsch"));
        assert_eq!(language_name(Some("en")).as_deref(), Some("English"));
        assert_eq!(language_name(Some("pt-BR")).as_deref(), Some("Português"));
        assert_eq!(language_name(None), None);
        assert_eq!(subtitle_name(Some("en"), None, false, &[]), "English");
        assert_eq!(
            subtitle_name(Some("en"), Some("SDH"), false, &[]),
            "English (SDH)"
        );
        assert_eq!(
            subtitle_name(Some("fr"), None, true, &[]),
            "Français (forced)"
        );
        assert_eq!(subtitle_name(None, None, false, &[]), "Subtitles");
        assert_eq!(audio_name(Some("fr"), 6, &[]), "Français (5.1)");
        assert_eq!(audio_name(Some("en"), 2, &["English"]), "English 2");
        assert_eq!(audio_name(None, 1, &[]), "Audio (mono)");
        assert_eq!(
            subtitle_name(Some("en"), None, false, &["English", "English 2"]),
            "English 3"
        );
    }

    #[test]
    fn track_ids_are_ours_only() {
        assert!(is_track_id(&embedded_id(3)));
        assert!(is_track_id(&new_sidecar_id()));
        for bad in [
            "",
            "s",
            "x",
            "s-1",
            "sabc",
            "x123",
            "xABCDEF01",
            "y1",
            "s123456",
            "../s1",
        ] {
            assert!(!is_track_id(bad), "{bad}");
        }
        assert_eq!(vtt_key("m1", "s2"), "uploads/m1/subtitles/s2.vtt");
    }
}
