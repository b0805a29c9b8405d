//! Which DDS domain and how far discovery reaches (ROS 2's own variables), the participant
//! built from them, and ROS 2's naming on the wire (`rt/` topics, `::msg::dds_::` types).

use std::net::{IpAddr, Ipv4Addr};

use rustdds::{DomainParticipant, DomainParticipantBuilder};

/// How far discovery (and so the images) may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discovery {
    /// This host only (loopback): the default, so no picture crosses the Wi-Fi through DDS.
    Localhost,
    /// Every interface (`ROS_LOCALHOST_ONLY=0` with `ROS_AUTOMATIC_DISCOVERY_RANGE` unset, or
    /// `ROS_AUTOMATIC_DISCOVERY_RANGE=SUBNET`).
    Subnet,
}

/// A domain and discovery range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Domain {
    pub id: u16,
    pub discovery: Discovery,
}

/// ROS 2 allows domain ids 0 to 232 (the UDP ports of higher ones overflow).
const MAX_DOMAIN_ID: u16 = 232;

impl Domain {
    /// From the process's environment.
    pub fn from_env() -> Result<Domain, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Domain::from_vars(
            var("ROS_DOMAIN_ID").as_deref(),
            var("ROS_LOCALHOST_ONLY").as_deref(),
            var("ROS_AUTOMATIC_DISCOVERY_RANGE").as_deref(),
        )
    }

    /// From the variables' values (`None`: unset or empty), checked.
    pub fn from_vars(
        domain_id: Option<&str>,
        localhost_only: Option<&str>,
        range: Option<&str>,
    ) -> Result<Domain, String> {
        let id = match domain_id {
            None => 0,
            Some(v) => v
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|&id| id <= MAX_DOMAIN_ID)
                .ok_or_else(|| format!("ROS_DOMAIN_ID={v:?}: not a domain id (0 to 232)"))?,
        };
        // ROS 2 Jazzy's range variable wins over Humble's boolean; both default to localhost here.
        let from_range = match range.map(|r| r.trim().to_ascii_uppercase()) {
            None => None,
            Some(r) if r == "LOCALHOST" || r == "OFF" => Some(Discovery::Localhost),
            Some(r) if r == "SUBNET" || r == "SYSTEM_DEFAULT" => Some(Discovery::Subnet),
            Some(r) => {
                return Err(format!(
                    "ROS_AUTOMATIC_DISCOVERY_RANGE={r:?}: use LOCALHOST, SUBNET or SYSTEM_DEFAULT"
                ))
            }
        };
        let from_bool = match localhost_only.map(str::trim) {
            None | Some("1") => Discovery::Localhost,
            Some("0") => Discovery::Subnet,
            Some(v) => return Err(format!("ROS_LOCALHOST_ONLY={v:?}: use 1 or 0")),
        };
        Ok(Domain {
            id,
            discovery: from_range.unwrap_or(from_bool),
        })
    }

    /// One line for the user.
    pub fn describe(&self) -> String {
        let range = match self.discovery {
            Discovery::Localhost => "this host only",
            Discovery::Subnet => "every interface",
        };
        format!("ROS 2 domain {}, discovery on {range}", self.id)
    }

    /// The DDS participant: on loopback only unless discovery was widened.
    pub fn participant(&self) -> Result<DomainParticipant, String> {
        let mut builder = DomainParticipantBuilder::new(self.id);
        if self.discovery == Discovery::Localhost {
            builder = builder.with_only_networks([IpAddr::V4(Ipv4Addr::LOCALHOST)]);
        }
        builder
            .build()
            .map_err(|e| format!("cannot start DDS ({}): {e}", self.describe()))
    }
}

/// The DDS topic of a ROS 2 topic (`/cam/image` → `rt/cam/image`); an error for a name ROS 2
/// would refuse.
pub fn dds_topic(ros_topic: &str) -> Result<String, String> {
    let name = ros_topic.strip_prefix('/').unwrap_or(ros_topic);
    let legal = !name.is_empty()
        && !name.ends_with('/')
        && !name.contains("//")
        && name.split('/').all(|part| {
            part.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
    if legal {
        Ok(format!("rt/{name}"))
    } else {
        Err(format!(
            "{ros_topic:?} is not a ROS 2 topic name (letters, digits and _ between slashes, \
             each part starting with a letter or _)"
        ))
    }
}

/// The DDS type name of a ROS 2 message type (`sensor_msgs/msg/Image` →
/// `sensor_msgs::msg::dds_::Image_`).
pub fn dds_type(ros_type: &str) -> String {
    match ros_type.rsplit_once('/') {
        Some((package, name)) => format!("{}::dds_::{name}_", package.replace('/', "::")),
        None => ros_type.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ros_names_become_dds_names() {
        assert_eq!(dds_topic("/cam/image_raw").unwrap(), "rt/cam/image_raw");
        assert_eq!(dds_topic("image").unwrap(), "rt/image");
        for bad in ["", "/", "a//b", "a/", "1cam", "a b", "a/-b"] {
            assert!(dds_topic(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            dds_type("sensor_msgs/msg/CompressedImage"),
            "sensor_msgs::msg::dds_::CompressedImage_"
        );
        // Every stream name makes a legal topic part.
        for name in [
            "robot-1 cam",
            "3d",
            "",
            "/cam/image/compressed",
            "__",
            "Tür #2",
        ] {
            let topic = format!("/preview/{}/image", crate::files::mcap::topic_token(name));
            assert!(dds_topic(&topic).is_ok(), "{name:?} -> {topic}");
        }
    }

    #[test]
    fn discovery_stays_local_unless_widened() {
        let d = Domain::from_vars;
        assert_eq!(d(None, None, None).unwrap().discovery, Discovery::Localhost);
        assert_eq!(
            d(None, Some("0"), None).unwrap().discovery,
            Discovery::Subnet
        );
        let r = d(None, Some("0"), Some("LOCALHOST")).unwrap();
        assert_eq!(r.discovery, Discovery::Localhost);
        assert_eq!(
            d(None, None, Some("subnet")).unwrap().discovery,
            Discovery::Subnet
        );
        assert_eq!(d(Some("42"), None, None).unwrap().id, 42);
        assert!(d(Some("233"), None, None).is_err());
        assert!(d(Some("x"), None, None).is_err());
        assert!(d(None, Some("yes"), None).is_err());
        assert!(d(None, None, Some("MOON")).is_err());
    }
}
