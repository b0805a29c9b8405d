//! MCAP files (ROS 2's bag format, read by Foxglove, Rerun, `ros2 bag` and Python): [`write`](mod@write)
//! a stream's JPEGs as `sensor_msgs/msg/CompressedImage` with a latency channel beside them;
//! [`read`] any file's `CompressedImage` channel frame by frame, for replay.

pub mod read;
pub mod write;

/// The first bytes of every MCAP file.
pub const MAGIC: [u8; 8] = *b"\x89MCAP0\r\n";

/// A stream's name as a ROS topic token: letters, digits and `_` only, not starting with a
/// digit (`front cam` -> `front_cam`, `127.0.0.1_5000` -> `s127_0_0_1_5000`).
pub fn topic_token(name: &str) -> String {
    let mut token: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if !token.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
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
    }
}
