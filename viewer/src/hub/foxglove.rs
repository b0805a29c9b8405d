//! Foxglove's WebSocket protocol (`foxglove.sdk.v1`, `foxglove.websocket.v1`), the messages
//! only: `serverInfo`, `advertise` and `unadvertise` of each stream's two channels, the
//! client's `subscribe` and `unsubscribe` read from untrusted JSON, and binary `messageData`.
//! The page's clock exchange (`{"op":"clock"}`) rides on the same socket. Pure; the client's
//! loop is [`super::fanout`].

use serde_json::{json, Value};
use shared::media::ros_image::{self, Latency};

/// The subprotocols served, the hub's preference first (Lichtblick speaks the older one).
pub const SUBPROTOCOLS: [&str; 2] = ["foxglove.sdk.v1", "foxglove.websocket.v1"];
/// Subscriptions one client may hold; more are refused with a status message.
pub const MAX_SUBSCRIPTIONS: usize = 256;
/// The binary opcode of `messageData`.
const MESSAGE_DATA: u8 = 0x01;

/// Which of a stream's channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    /// `/NAME/image/compressed`: `sensor_msgs/msg/CompressedImage`, the JPEG as received.
    Image,
    /// `/NAME/latency`: `FrameLatency`, the frame's glass figures up to its arrival.
    Latency,
}

/// The channel ids of stream `id`'s image and latency channels (`None` past `u32`).
pub fn channel_ids(stream_id: u64) -> Option<(u32, u32)> {
    let image = u32::try_from(stream_id.checked_mul(2)?).ok()?;
    Some((image, image.checked_add(1)?))
}

/// The stream and channel a channel id names.
pub fn of_channel(channel: u32) -> (u64, What) {
    let what = if channel.is_multiple_of(2) {
        What::Image
    } else {
        What::Latency
    };
    (u64::from(channel / 2), what)
}

/// The `serverInfo` message, sent first.
pub fn server_info(session: &str) -> String {
    json!({
        "op": "serverInfo",
        "name": concat!("viewer ", env!("CARGO_PKG_VERSION")),
        "capabilities": [],
        "supportedEncodings": [],
        "metadata": {},
        "sessionId": session,
    })
    .to_string()
}

/// The `advertise` message of streams `(id, topic token)`.
pub fn advertise(streams: &[(u64, String)]) -> String {
    let mut channels = Vec::new();
    for (id, token) in streams {
        let Some((image, latency)) = channel_ids(*id) else {
            continue;
        };
        let channel = |id: u32, topic: String, name: &str, schema: &str| {
            json!({
                "id": id,
                "topic": topic,
                "encoding": "cdr",
                "schemaName": name,
                "schema": schema,
                "schemaEncoding": "ros2msg",
            })
        };
        let (ty, schema) = (ros_image::IMAGE_TYPE, ros_image::IMAGE_SCHEMA);
        channels.push(channel(
            image,
            format!("/{token}/image/compressed"),
            ty,
            schema,
        ));
        let (ty, schema) = (ros_image::LATENCY_TYPE, ros_image::LATENCY_SCHEMA);
        channels.push(channel(latency, format!("/{token}/latency"), ty, schema));
    }
    json!({ "op": "advertise", "channels": channels }).to_string()
}

/// The `unadvertise` message of streams `ids`.
pub fn unadvertise(ids: &[u64]) -> String {
    let channels: Vec<u32> = ids
        .iter()
        .filter_map(|&id| channel_ids(id))
        .flat_map(|(a, b)| [a, b])
        .collect();
    json!({ "op": "unadvertise", "channelIds": channels }).to_string()
}

/// A `status` message: level 0 info, 1 warning, 2 error.
pub fn status(level: u8, message: &str) -> String {
    json!({ "op": "status", "level": level, "message": message }).to_string()
}

/// The answer to the page's clock probe: its send time `t1` back, with the hub's receive
/// (`t2`) and send (`t3`) times, ms since the Unix epoch on the viewer's clock.
pub fn clock(t1: f64, t2: f64, t3: f64) -> String {
    json!({ "op": "clock", "t1": t1, "t2": t2, "t3": t3 }).to_string()
}

/// What a client asked.
#[derive(Debug, Clone, PartialEq)]
pub enum Ask {
    /// `(subscription id, channel id)` pairs.
    Subscribe(Vec<(u32, u32)>),
    Unsubscribe(Vec<u32>),
    /// The page's clock probe, its send time (ms since the Unix epoch on its clock).
    Clock(f64),
    /// An operation the hub does not serve (named, for the status answer).
    Other(String),
}

/// Reads one text message from a client (untrusted); `Err` says what was wrong.
pub fn parse(text: &str) -> Result<Ask, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let op = value
        .get("op")
        .and_then(Value::as_str)
        .ok_or("no \"op\" string")?;
    let u32_of = |v: &Value, key: &str| -> Result<u32, String> {
        v.get(key)
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| format!("{op}: \"{key}\" is not a 32-bit unsigned number"))
    };
    let list = |key: &str| -> Result<&Vec<Value>, String> {
        value
            .get(key)
            .and_then(Value::as_array)
            .ok_or_else(|| format!("{op}: no \"{key}\" list"))
    };
    match op {
        "subscribe" => list("subscriptions")?
            .iter()
            .map(|s| Ok((u32_of(s, "id")?, u32_of(s, "channelId")?)))
            .collect::<Result<_, String>>()
            .map(Ask::Subscribe),
        "unsubscribe" => list("subscriptionIds")?
            .iter()
            .map(|v| {
                v.as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| "unsubscribe: an id is not a 32-bit number".to_string())
            })
            .collect::<Result<_, String>>()
            .map(Ask::Unsubscribe),
        "clock" => value
            .get("t1")
            .and_then(Value::as_f64)
            .map(Ask::Clock)
            .ok_or_else(|| "clock: no \"t1\" number".to_string()),
        other => Ok(Ask::Other(other.chars().take(64).collect())),
    }
}

/// One `messageData` frame: opcode, subscription id, log time (ns), then the message built
/// from `parts` (one copy of each).
pub fn message_data(subscription: u32, log_ns: u64, parts: &[&[u8]]) -> Vec<u8> {
    let len = parts.iter().map(|p| p.len()).sum::<usize>();
    let mut out = Vec::with_capacity(13 + len);
    out.push(MESSAGE_DATA);
    out.extend_from_slice(&subscription.to_le_bytes());
    out.extend_from_slice(&log_ns.to_le_bytes());
    for part in parts {
        out.extend_from_slice(part);
    }
    out
}

/// One frame's message on a channel: the `CompressedImage` (the JPEG unchanged) or the
/// `FrameLatency`, stamped `stamp_ns`; `prefix` is a reused buffer.
pub fn frame_message(
    what: What,
    (subscription, log_ns, stamp_ns): (u32, u64, u64),
    (token, jpeg, latency): (&str, &[u8], &Latency),
    prefix: &mut Vec<u8>,
) -> Vec<u8> {
    match what {
        What::Image => {
            let len = u32::try_from(jpeg.len()).unwrap_or(u32::MAX);
            ros_image::image_prefix(prefix, stamp_ns, token, "jpeg", len);
            message_data(subscription, log_ns, &[prefix, jpeg])
        }
        What::Latency => {
            let body = ros_image::latency(stamp_ns, token, latency);
            message_data(subscription, log_ns, &[&body])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_advertise_the_mcap_schemas() {
        let text = advertise(&[(3, "front".into())]);
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["op"], "advertise");
        let c = &v["channels"];
        assert_eq!(c[0]["id"], 6);
        assert_eq!(c[0]["topic"], "/front/image/compressed");
        assert_eq!(c[0]["schemaName"], "sensor_msgs/msg/CompressedImage");
        assert_eq!(c[0]["schema"], ros_image::IMAGE_SCHEMA);
        assert_eq!(c[0]["encoding"], "cdr");
        assert_eq!(c[0]["schemaEncoding"], "ros2msg");
        assert_eq!(c[1]["id"], 7);
        assert_eq!(c[1]["topic"], "/front/latency");
        assert_eq!(of_channel(6), (3, What::Image));
        assert_eq!(of_channel(7), (3, What::Latency));
        assert_eq!(
            unadvertise(&[3]),
            r#"{"channelIds":[6,7],"op":"unadvertise"}"#
        );
    }

    #[test]
    fn client_messages_are_checked() {
        let sub = r#"{"op":"subscribe","subscriptions":[{"id":1,"channelId":6}]}"#;
        assert_eq!(parse(sub), Ok(Ask::Subscribe(vec![(1, 6)])));
        let unsub = r#"{"op":"unsubscribe","subscriptionIds":[1,2]}"#;
        assert_eq!(parse(unsub), Ok(Ask::Unsubscribe(vec![1, 2])));
        assert_eq!(parse(r#"{"op":"clock","t1":5.5}"#), Ok(Ask::Clock(5.5)));
        assert_eq!(
            parse(r#"{"op":"advertise"}"#),
            Ok(Ask::Other("advertise".into()))
        );
        assert!(parse("{").is_err());
        assert!(parse(r#"{"op":"subscribe","subscriptions":[{"id":-1,"channelId":6}]}"#).is_err());
        assert!(parse(r#"{"op":"subscribe"}"#).is_err());
        assert!(parse(r#"[1]"#).is_err());
    }

    #[test]
    fn message_data_frames_carry_the_cdr_image_unchanged() {
        let jpeg = [0xFF, 0xD8, 9, 9, 0xFF, 0xD9];
        let mut prefix = Vec::new();
        let ids = (7, 1_000, 2_000);
        let frame = frame_message(
            What::Image,
            ids,
            ("cam", &jpeg, &Latency::UNKNOWN),
            &mut prefix,
        );
        assert_eq!(frame[0], 1);
        assert_eq!(&frame[1..5], &7u32.to_le_bytes());
        assert_eq!(&frame[5..13], &1_000u64.to_le_bytes());
        assert_eq!(
            &frame[13..],
            &ros_image::image(2_000, "cam", "jpeg", &jpeg)[..]
        );
        let view = ros_image::read_image(&frame[13..]).unwrap();
        assert_eq!(&frame[13..][view.data], &jpeg);
    }
}
