//! Just-in-time segments (SPEC §3 "HLS", §4): a requested segment that is not made yet is
//! claimed (one worker per segment, a lease), dispatched to a worker, and waited for a bounded
//! time; the next segments are claimed and made ahead of the player.
//!
//! - `job`: what a worker does with a claimed piece (encode, publish, mark ready/failed).
//! - `dispatch`: where jobs run (in-process pool, or the `transcode` Lambda).
//! - `service`: the request side (look up, claim, dispatch, wait, read-ahead).

pub mod dispatch;
pub mod job;
pub mod service;
