//! MCAP files (ROS 2's bag format, read by Foxglove, Rerun, `ros2 bag` and Python): [`write`](mod@write)
//! a stream's JPEGs as `sensor_msgs/msg/CompressedImage` with a latency channel beside them;
//! [`read`] any file's `CompressedImage` channel frame by frame, for replay.

pub mod read;
pub mod write;

/// The first bytes of every MCAP file.
pub const MAGIC: [u8; 8] = *b"\x89MCAP0\r\n";

/// A stream's name as a ROS 2 topic token, the one rule for every output that names topics
/// (MCAP, ROS 2, Foxglove): ASCII letters and digits kept, each run of anything else one `_`,
/// none at either end (a part starting with `_` is hidden from `ros2 topic list`; `__` is not
/// a legal name), and `s` before a leading digit or an empty name (`front cam` -> `front_cam`,
/// `/cam/image` -> `cam_image`, `127.0.0.1` -> `s127_0_0_1`).
pub fn topic_token(name: &str) -> String {
    let mut token = String::with_capacity(name.len() + 1);
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            token.push(c);
        } else if !token.is_empty() && !token.ends_with('_') {
            token.push('_');
        }
    }
    if token.ends_with('_') {
        token.pop();
    }
    if !token.starts_with(|c: char| c.is_ascii_alphabetic()) {
        token.insert(0, 's');
    }
    token
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_become_topic_tokens() {
        assert_eq!(super::topic_token("front cam"), "front_cam");
        assert_eq!(super::topic_token("127.0.0.1_5000"), "s127_0_0_1_5000");
        assert_eq!(super::topic_token(""), "s");
        // Never hidden (a leading `_`), never `__`, never ending in `_`.
        assert_eq!(
            super::topic_token("/cam/image/compressed"),
            "cam_image_compressed"
        );
        assert_eq!(super::topic_token("robot-1  cam!"), "robot_1_cam");
        assert_eq!(super::topic_token("3d"), "s3d");
        assert_eq!(super::topic_token("#!"), "s");
        assert_eq!(super::topic_token("Tür"), "T_r");
    }
}
