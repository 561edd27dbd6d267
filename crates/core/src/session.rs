//! A playback session of an HLS method (SPEC §5). It embeds the decision it was opened with,
//! so it sits above `playback` (and `model` stays below both).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::RenditionLimits;
use crate::playback::decision::Decision;

/// A playback session of an HLS method (SPEC §5). Identified by an unguessable id; reused by
/// every identical request (same user, media and decision) while it is alive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    pub user_id: String,
    pub media_id: String,
    /// Hash of user + media + decision: the reuse key.
    pub reuse_key: String,
    pub decision: Decision,
    pub limits: RenditionLimits,
    pub created_at: DateTime<Utc>,
    pub last_access: DateTime<Utc>,
    /// The last position a playlist/segment request told us about, seconds.
    pub last_position: Option<f64>,
    /// Epoch seconds; the DynamoDB TTL attribute. Past it, the session is gone.
    pub expires_at: i64,
}

impl Session {
    pub fn is_live(&self, now: i64) -> bool {
        self.expires_at > now
    }
}
