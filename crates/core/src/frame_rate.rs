//! Frame rates as fractions: the exact integer and NTSC rates, and the nominal rate a
//! measured average is near (rounded timestamps put ffprobe's average of a short file a
//! little off: 2304000/95989 for 24 fps in Matroska's milliseconds).

/// A frame rate as an exact fraction (frames, seconds): integer rates as `n/1`, NTSC rates
/// (23.976, 29.97, 59.94: `n·1000/1001`) as `n000/1001`; None for any other rate.
pub fn exact(fps: f64) -> Option<(u64, u64)> {
    let whole = fps.round();
    if whole > 0.0 && (fps - whole).abs() < 1e-4 {
        return Some((whole as u64, 1));
    }
    let ntsc = (fps * 1.001).round() * 1000.0;
    if ntsc > 0.0 && (fps - ntsc / 1001.0).abs() < 1e-4 {
        return Some((ntsc as u64, 1001));
    }
    None
}

/// How far a measured average rate may be from the nominal one: rounded timestamps make the
/// average of a short file (ffprobe's `avg_frame_rate`, e.g. 2304000/95989 for 24 fps in
/// milliseconds) a little off; 24 and 23.976 are 0.1 % apart.
const TOLERANCE: f64 = 0.0005;

/// The integer or NTSC rate (frames, seconds) `fps` is, or is within [`TOLERANCE`] of.
pub fn nominal(fps: f64) -> Option<(u64, u64)> {
    if let Some(exact) = exact(fps) {
        return Some(exact);
    }
    if !fps.is_finite() || fps <= 0.0 {
        return None;
    }
    let whole = (fps.round() as u64, 1u64);
    let ntsc = (((fps * 1.001).round() * 1000.0) as u64, 1001u64);
    [whole, ntsc]
        .into_iter()
        .filter(|(n, d)| *n > 0 && ((*n as f64 / *d as f64) - fps).abs() <= TOLERANCE * fps)
        .min_by(|a, b| {
            ((a.0 as f64 / a.1 as f64) - fps)
                .abs()
                .total_cmp(&((b.0 as f64 / b.1 as f64) - fps).abs())
        })
}

/// `fps` as its nominal rate when it is near one ([`nominal`]), else as it is.
pub fn normalize(fps: f64) -> f64 {
    nominal(fps).map_or(fps, |(n, d)| n as f64 / d as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_and_nominal_rates() {
        assert_eq!(exact(24.0), Some((24, 1)));
        assert_eq!(exact(29.97), Some((30000, 1001)));
        assert_eq!(exact(12.5), None);
        // ffprobe's average rate of a 4 s Matroska file at 24 fps.
        assert_eq!(nominal(2_304_000.0 / 95_989.0), Some((24, 1)));
        assert_eq!(nominal(23.977), Some((24000, 1001)));
        assert_eq!(nominal(23.95), None);
        assert_eq!(nominal(f64::NAN), None);
        assert_eq!(normalize(2_304_000.0 / 95_989.0), 24.0);
        assert_eq!(normalize(12.5), 12.5);
    }
}
