//! What an ended session leaves behind (SPEC §5): the renditions only it used. Segments are shared
//! by content, so a rendition another live session of the same media still uses is kept. Run by
//! the `cleanup` function on a TTL deletion (cloud) and by streamd's sweeper (embedded).

use crate::error::Result;
use crate::hls::ladder::{build, ClientLimits, LadderConfig, RenditionSet};
use crate::hls::playlist::{segment_file_name, INIT_NAME};
use crate::model::Session;
use crate::playback::decision::SegmentFormat;
use crate::segments::job::{object_key, segment_id};
use crate::state::AppState;

#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CleanupReport {
    pub renditions_removed: usize,
    pub renditions_kept: usize,
    pub objects_deleted: usize,
}

fn content_keys(set: &RenditionSet) -> Vec<String> {
    set.video.iter().map(|v| v.id.as_str()).chain(set.audio.iter().map(|a| a.id.as_str())).filter_map(|id| set.content_key(id)).collect()
}

fn set_of(session: &Session, media: &crate::model::Media) -> Option<RenditionSet> {
    let probe = media.probe.as_ref()?;
    build(&media.id, probe, &session.decision, &ClientLimits::from(session.limits), &LadderConfig::default()).ok()
}

/// Removes the renditions of `ended` that no live session of its media uses.
pub async fn cleanup_session(state: &AppState, ended: &Session) -> Result<CleanupReport> {
    let mut report = CleanupReport::default();
    let Some(media) = state.meta.get_media(&ended.media_id).await? else { return Ok(report) };
    let Some(set) = set_of(ended, &media) else { return Ok(report) };
    let Some(probe) = media.probe.as_ref() else { return Ok(report) };
    let Ok(plan) = set.plan.plan(probe) else { return Ok(report) };
    let now = chrono::Utc::now().timestamp();
    let mut in_use = std::collections::HashSet::new();
    for live in state.meta.live_sessions_of_media(&media.id, now).await? {
        if live.id != ended.id {
            if let Some(s) = set_of(&live, &media) {
                in_use.extend(content_keys(&s));
            }
        }
    }
    let mut files: Vec<String> = (0..plan.len() as u32).map(|i| segment_file_name(i, set.format)).collect();
    if set.format == SegmentFormat::Fmp4 {
        files.push(INIT_NAME.to_string());
    }
    for key in content_keys(&set) {
        if in_use.contains(&key) {
            report.renditions_kept += 1;
            continue;
        }
        for file in &files {
            if let Some(rec) = state.meta.get_segment(&segment_id(&key, file)).await? {
                state.objects.delete(&object_key(&media.id, &key, file)).await?;
                state.meta.delete_segment(&rec.id).await?;
                report.objects_deleted += 1;
            }
        }
        report.renditions_removed += 1;
    }
    tracing::info!(session = %ended.id, removed = report.renditions_removed, kept = report.renditions_kept, objects = report.objects_deleted, "session cleaned up");
    Ok(report)
}
