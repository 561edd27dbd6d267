//! Decoding the sessions table's DynamoDB stream (the `cleanup` function's trigger). The item
//! layout is this crate's (`aws`), so reading it back belongs here: the service sees typed
//! records, never attribute values. Only TTL deletions (eventName `REMOVE` by the principal
//! `dynamodb.amazonaws.com`) of session items count; a user's `DELETE` or a reuse-key item is
//! ignored.

use stream_core::session::Session;

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
    if record["userIdentity"]["principalId"] != "dynamodb.amazonaws.com"
        || record["userIdentity"]["type"] != "Service"
    {
        return StreamRecordKind::Ignored("not a TTL deletion");
    }
    let old = &record["dynamodb"]["OldImage"];
    let Some(pk) = old["pk"]["S"].as_str() else {
        return StreamRecordKind::Ignored("no key in the old image");
    };
    if !pk.starts_with(crate::aws::SESSION_PK_PREFIX) {
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
