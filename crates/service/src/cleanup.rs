//! What an ended session leaves behind (SPEC §5): the renditions only it used. Segments are shared
//! by content, so a rendition another live session of the same media still uses is kept. Run by
//! the `cleanup` function on a TTL deletion (cloud) and by streamd's sweeper (embedded).

use crate::state::AppState;
use stream_core::error::Result;
use stream_core::hls::ladder::{build, ClientLimits, LadderConfig, RenditionSet};
use stream_core::playback::decision::SegmentFormat;
use stream_core::segment::Piece;
use stream_core::session::Session;

#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CleanupReport {
    pub renditions_removed: usize,
    pub renditions_kept: usize,
    pub objects_deleted: usize,
}

fn content_keys(set: &RenditionSet) -> Vec<String> {
    set.ids().filter_map(|id| set.content_key(id)).collect()
}

fn set_of(session: &Session, media: &stream_core::model::Media) -> Option<RenditionSet> {
    let probe = media.probe.as_ref()?;
    build(
        &media.id,
        probe,
        &session.decision,
        &ClientLimits::from(session.limits),
        &LadderConfig::default(),
    )
    .ok()
}

/// Removes the renditions of `ended` that no live session of its media uses.
pub async fn cleanup_session(state: &AppState, ended: &Session) -> Result<CleanupReport> {
    let mut report = CleanupReport::default();
    let Some(media) = state.meta.get_media(&ended.media_id).await? else {
        return Ok(report);
    };
    let Some(set) = set_of(ended, &media) else {
        return Ok(report);
    };
    let Some(probe) = media.probe.as_ref() else {
        return Ok(report);
    };
    let Ok(plan) = set.plan.plan(probe) else {
        return Ok(report);
    };
    let now = chrono::Utc::now().timestamp();
    let mut in_use = std::collections::HashSet::new();
    for live in state.meta.live_sessions_of_media(&media.id, now).await? {
        if live.id != ended.id {
            if let Some(s) = set_of(&live, &media) {
                in_use.extend(content_keys(&s));
            }
        }
    }
    let mut pieces: Vec<Piece> = (0..plan.len() as u32).map(Piece::Media).collect();
    if set.format == SegmentFormat::Fmp4 {
        pieces.push(Piece::Init);
    }
    for rendition in set.ids() {
        let Some(key) = set.content_key(rendition) else {
            continue;
        };
        if in_use.contains(&key) {
            report.renditions_kept += 1;
            continue;
        }
        for piece in &pieces {
            let Some(id) = set.segment(rendition, *piece) else {
                continue;
            };
            if let Some(rec) = state.meta.get_segment(&id.record_id()).await? {
                state.objects.delete(&id.object_key()).await?;
                state.meta.delete_segment(&rec.id).await?;
                report.objects_deleted += 1;
            }
        }
        report.renditions_removed += 1;
    }
    tracing::info!(session = %ended.id, removed = report.renditions_removed, kept = report.renditions_kept, objects = report.objects_deleted, "session cleaned up");
    Ok(report)
}

/// The embedded stand-in for DynamoDB TTL + the `cleanup` function (run by `streamd` every
/// minute): deletes the sessions past their expiry and cleans up after each. Returns how many
/// ended. A session whose cleanup fails is logged and left to the lifecycle of its objects.
#[cfg(feature = "embedded")]
pub async fn sweep_expired_sessions(state: &AppState) -> Result<usize> {
    let Some(embedded) = &state.embedded else {
        return Ok(0);
    };
    let ended = embedded
        .meta
        .sweep_expired_sessions(chrono::Utc::now().timestamp())
        .await?;
    for s in &ended {
        if let Err(e) = cleanup_session(state, s).await {
            tracing::warn!(session = %s.id, error = %e, "cleanup failed");
        }
    }
    Ok(ended.len())
}

/// The `cleanup` function's work (the sessions table's DynamoDB stream: the cloud shape): every
/// TTL-expired session of the event is cleaned up. A storage error fails the batch (the stream
/// retries it; cleanup is idempotent).
#[cfg(feature = "aws")]
pub async fn handle_stream_event(
    state: &AppState,
    event: &serde_json::Value,
) -> Result<Vec<CleanupReport>> {
    use stream_storage::dynamodb_stream::{classify_stream_record, StreamRecordKind};
    let mut reports = vec![];
    for record in event["Records"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        match classify_stream_record(record) {
            StreamRecordKind::ExpiredSession(s) => reports.push(cleanup_session(state, &s).await?),
            StreamRecordKind::Ignored(why) => tracing::debug!(why, "stream record ignored"),
        }
    }
    Ok(reports)
}
