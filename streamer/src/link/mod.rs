//! The link stage: the connection to the viewer, strict or with overlapping frames, and what
//! follows each acknowledged frame.

pub mod adapt;
pub mod config;
pub mod overlap;
pub mod report;
pub mod sender;
pub mod tally;
