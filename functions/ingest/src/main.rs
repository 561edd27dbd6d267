//! The `ingest` function: S3 ObjectCreated on the upload prefix → probe → media record (SPEC §6).

use aws_lambda_events::s3::S3Event;
use common::state::AppState;
use lambda_runtime::{service_fn, LambdaEvent};

/// Object keys in S3 events are URL-encoded (`+` for spaces).
fn decode_key(key: &str) -> String {
    percent_encoding::percent_decode_str(&key.replace('+', " ")).decode_utf8_lossy().into_owned()
}

async fn handle(state: &AppState, event: LambdaEvent<S3Event>) -> Result<serde_json::Value, lambda_runtime::Error> {
    let mut done = vec![];
    for record in event.payload.records {
        let Some(raw) = record.s3.object.key.as_deref() else { continue };
        let key = decode_key(raw);
        let Some(media_id) = common::ingest::media_id_from_key(&key) else {
            tracing::warn!(key = %key, "not an upload key; ignored");
            continue;
        };
        match common::ingest::ingest(state, media_id).await {
            Ok(m) => done.push(serde_json::json!({"media_id": m.id, "status": m.status})),
            // No such media record: an object nobody announced. Nothing to do, nothing to retry.
            Err(common::Error::NotFound(_)) => tracing::warn!(media_id, "upload without a media record; ignored"),
            // Storage down: fail the invocation so Lambda retries the event.
            Err(e) => return Err(Box::new(e)),
        }
    }
    Ok(serde_json::json!({ "ingested": done }))
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = common::config::Config::from_env()?;
    common::telemetry::init(config.log_format);
    let state = AppState::from_config(config).await?;
    lambda_runtime::run(service_fn(|ev| handle(&state, ev))).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_are_url_decoded() {
        assert_eq!(super::decode_key("uploads/abc/source.mp4"), "uploads/abc/source.mp4");
        assert_eq!(super::decode_key("a+b%2Fc%zz"), "a b/c%zz");
    }
}
