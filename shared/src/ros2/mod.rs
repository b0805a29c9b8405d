//! ROS 2 topics over DDS with no ROS installed (rustdds): the one participant setup both
//! programs use (domain, discovery range, QoS, ROS naming), and images read and written.
//!
//! - [`domain`]: `ROS_DOMAIN_ID`, the discovery range, the participant, ROS topic names.
//! - [`image`]: a subscription to an image topic (newest first, publishers seen coming and
//!   going) and a publication of `CompressedImage` and diagnostics messages.

pub mod domain;
pub mod image;

pub use domain::{Discovery, Domain};
pub use image::{Event, ImageKind, Incoming, Meta, Node, Publication, Subscription};
