//! The link stage: the connection to the viewer, strict or with overlapping frames, and what
//! follows each acknowledged frame. Imports only go down: `sender` hands an accepted offer to
//! `overlap`, which asks `window` whether another frame may go out; both count frames through
//! `tally`, which prints through `report`, measures the link in `rate` (and whether it
//! delivers in bursts in `bursts`) and feeds `adapt`;
//! `times` makes a frame's in-band times and follows the viewer's clock; `config` is read by
//! all.

pub mod adapt;
pub mod bursts;
pub mod config;
pub mod overlap;
pub mod rate;
pub mod report;
pub mod sender;
pub mod tally;
pub mod times;
pub mod window;
