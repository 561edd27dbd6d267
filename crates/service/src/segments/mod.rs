//! Just-in-time segments (SPEC §3 "HLS", §4): a requested segment that is not made yet is
//! claimed (one worker per segment, a lease), dispatched to a worker, and waited for a bounded
//! time; the next segments are claimed and made ahead of the player.
//!
//! - `request`: the request side (look up, claim, dispatch, wait, read-ahead).
//! - `claims`: the claim lifecycle (claim, further claims, complete, the one release path).
//! - `worker`: what a worker does with its claims (encode, publish); it gets a
//!   `WorkerContext` (stores, ffmpeg, a completion signal), not the service state.
//! - `dispatch`: where jobs run (the in-process pool, or the `transcode` Lambda).
//!
//! Dependencies point one way: `request` → `dispatch` → `worker` → `claims`.

pub mod claims;
pub mod dispatch;
pub mod request;
pub mod worker;
