//! Playback: what the client can play (profiles, capabilities) and how to play a file on it
//! (the decision).

pub mod capabilities;
pub mod decision;
pub mod profiles;
pub mod query;
