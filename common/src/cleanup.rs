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

/// What one DynamoDB stream record of the sessions table asks of cleanup.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamRecordKind {
    /// A session removed by TTL (eventName REMOVE, userIdentity dynamodb.amazonaws.com).
    ExpiredSession(Box<Session>),
    /// Anything else (an insert, a user's DELETE, a reuse-key item): nothing to do.
    Ignored(&'static str),
}

/// Reads a record of a DynamoDB stream event (the AWS JSON shape: `eventName`, `userIdentity`,
/// `dynamodb.OldImage` in attribute-value form).
pub fn classify_stream_record(record: &serde_json::Value) -> StreamRecordKind {
    if record["eventName"] != "REMOVE" {
        return StreamRecordKind::Ignored("not a removal");
    }
    if record["userIdentity"]["principalId"] != "dynamodb.amazonaws.com" || record["userIdentity"]["type"] != "Service" {
        return StreamRecordKind::Ignored("not a TTL deletion");
    }
    let old = &record["dynamodb"]["OldImage"];
    let Some(pk) = old["pk"]["S"].as_str() else {
        return StreamRecordKind::Ignored("no key in the old image");
    };
    if !pk.starts_with(crate::storage::aws::SESSION_PK_PREFIX) {
        return StreamRecordKind::Ignored("not a session item");
    }
    let Some(doc) = old["doc"]["S"].as_str() else {
        return StreamRecordKind::Ignored("no session document");
    };
    match serde_json::from_str::<Session>(doc) {
        Ok(s) => StreamRecordKind::ExpiredSession(Box::new(s)),
        Err(_) => StreamRecordKind::Ignored("unreadable session document"),
    }
}

/// The `cleanup` function's work: every TTL-expired session of the event is cleaned up. A
/// storage error fails the batch (the stream retries it; cleanup is idempotent).
pub async fn handle_stream_event(state: &AppState, event: &serde_json::Value) -> Result<Vec<CleanupReport>> {
    let mut reports = vec![];
    for record in event["Records"].as_array().map(Vec::as_slice).unwrap_or_default() {
        match classify_stream_record(record) {
            StreamRecordKind::ExpiredSession(s) => reports.push(cleanup_session(state, &s).await?),
            StreamRecordKind::Ignored(why) => tracing::debug!(why, "stream record ignored"),
        }
    }
    Ok(reports)
}
