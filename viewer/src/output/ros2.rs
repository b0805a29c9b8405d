//! `--ros2-publish [PREFIX]`: every stream received, republished on this host as ROS 2
//! topics: `PREFIX/TOPIC/image/compressed` (`sensor_msgs/msg/CompressedImage`, the JPEG as
//! received, stamped with its capture time on this clock) and `PREFIX/TOPIC/latency`
//! (`diagnostic_msgs/msg/DiagnosticArray`, the frame's glass figures up to its arrival). TOPIC
//! is the stream's topic token, unique among the live streams
//! ([`crate::stats::streams::Streams::name`]).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context, Result};
use bytes::Bytes;
use shared::media::ros_image::{self, Latency};
use shared::media::sniff::Kind;
use shared::ros2::{Domain, Node, Publication};
use shared::runtime::log_limit::LogLimit;
use shared::wire::connection::InBand;

use crate::stats::glass::arrival_figures;

/// Streams published at most (two topics each); later ones are said once and left out.
const MAX_STREAMS: usize = 64;
/// Frames waiting for the publishing thread, all streams together: one per stream (a newer
/// one replaces it, counted), so a stalled DDS never holds back the network thread or grows
/// memory, and what goes out when it recovers is each stream's newest. Past this (streams
/// that came and went) the oldest waiting one makes way.
const QUEUE: usize = MAX_STREAMS;

/// The `PREFIX` when `--ros2-publish` is given without one.
pub const DEFAULT_PREFIX: &str = "/preview";

/// One frame's two messages, ready to send.
struct Job {
    name: String,
    image: Bytes,
    latency: Bytes,
}

/// The frames waiting for the publishing thread: at most one per stream (a newer frame
/// replaces it) and [`QUEUE`] in all.
#[derive(Default)]
struct Waiting {
    jobs: Mutex<(VecDeque<Job>, bool)>,
    ready: Condvar,
}

impl Waiting {
    /// Puts `job` in line (in its stream's place, keeping that stream's turn, when one of
    /// its frames waits already); returns whether an older frame made way for it.
    fn put(&self, job: Job) -> bool {
        let mut guard = self.jobs.lock().unwrap_or_else(PoisonError::into_inner);
        let jobs = &mut guard.0;
        let replaced = match jobs.iter_mut().find(|j| j.name == job.name) {
            Some(waiting) => {
                *waiting = job;
                true
            }
            None => {
                let full = jobs.len() >= QUEUE && jobs.pop_front().is_some();
                jobs.push_back(job);
                full
            }
        };
        self.ready.notify_one();
        replaced
    }

    /// The oldest waiting frame, waiting for one; `None` once closed.
    fn take(&self) -> Option<Job> {
        let mut guard = self.jobs.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(job) = guard.0.pop_front() {
                return Some(job);
            }
            if guard.1 {
                return None;
            }
            guard = self
                .ready
                .wait(guard)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// No more frames: the thread ends once the waiting ones are out.
    fn close(&self) {
        self.jobs.lock().unwrap_or_else(PoisonError::into_inner).1 = true;
        self.ready.notify_one();
    }
}

/// Hands frames to the publishing thread; shared by every connection.
pub struct Ros2Out {
    waiting: Arc<Waiting>,
    /// Frames not published because a newer one replaced them while DDS was behind.
    pub dropped: AtomicU64,
    /// Says so, once a second at most.
    behind: LogLimit,
}

impl Ros2Out {
    /// Starts DDS (`ROS_DOMAIN_ID`, the discovery range) and the thread publishing under
    /// `prefix`.
    pub fn start(prefix: &str) -> Result<Ros2Out> {
        let domain = Domain::from_env().map_err(|e| anyhow!(e))?;
        let prefix = prefix.trim_end_matches('/').to_string();
        // The topic names are checked now, so a bad prefix stops the viewer at its start.
        shared::ros2::domain::dds_topic(&format!("{prefix}/x/image/compressed"))
            .map_err(|e| anyhow!("--ros2-publish {prefix:?}: {e}"))?;
        let node = Node::new(&domain).map_err(|e| anyhow!("--ros2-publish: {e}"))?;
        eprintln!(
            "ros2: publishing every stream on {prefix}/TOPIC/image/compressed and \
             {prefix}/TOPIC/latency, TOPIC its name made a topic ({})",
            domain.describe()
        );
        let waiting = Arc::new(Waiting::default());
        let queue = waiting.clone();
        std::thread::Builder::new()
            .name("ros2".into())
            .spawn(move || publish_all(&node, &prefix, &queue))
            .context("cannot start the ROS 2 publishing thread")?;
        Ok(Ros2Out {
            waiting,
            dropped: AtomicU64::new(0),
            behind: LogLimit::default(),
        })
    }

    /// Offers one received payload of the stream whose topic token is `topic` (JPEGs only;
    /// others are not images ROS tools read as `jpeg`). Copies it once, behind the message's
    /// header; never waits.
    pub fn offer(&self, topic: &str, payload: &[u8], in_band: Option<&InBand>) {
        if Kind::of(payload) != Some(Kind::Jpeg) {
            return;
        }
        let (latency, capture_ns) = match arrival_figures(in_band) {
            Some((l, capture_us)) => (l, capture_us.saturating_mul(1000)),
            // Without in-band times the capture time is unknown: the arrival stands in.
            None => (Latency::UNKNOWN, now_ns()),
        };
        let mut image = Vec::with_capacity(payload.len() + 96);
        let len = payload.len() as u32;
        ros_image::image_prefix(&mut image, capture_ns, topic, "jpeg", len);
        image.extend_from_slice(payload);
        let diag = ros_image::diagnostics(capture_ns, topic, "glass", &latency);
        let job = Job {
            name: topic.to_string(),
            image: Bytes::from(image),
            latency: Bytes::from(diag),
        };
        if self.waiting.put(job) {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            self.behind.line("behind", || {
                format!("ros2: DDS is behind; {n} frames replaced by newer ones so far")
            });
        }
    }
}

impl Drop for Ros2Out {
    fn drop(&mut self) {
        self.waiting.close();
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// The publishing thread: each stream's topics made on its first frame, then written.
fn publish_all(node: &Node, prefix: &str, queue: &Waiting) {
    let mut topics: HashMap<String, Option<(Publication, Publication)>> = HashMap::new();
    let log = LogLimit::default();
    while let Some(job) = queue.take() {
        if !topics.contains_key(&job.name) {
            // Past the limit a stream is left out without being remembered, so names that
            // keep coming cannot grow the map; it is said once a second at most.
            if topics.len() >= MAX_STREAMS {
                log.line("full", || {
                    format!(
                        "ros2: stream {} not published: {MAX_STREAMS} already are",
                        job.name
                    )
                });
                continue;
            }
            let made = publications(node, prefix, &job.name);
            topics.insert(job.name.clone(), made);
        }
        let Some(Some((image, latency))) = topics.get(&job.name) else {
            continue;
        };
        for (publication, msg) in [(image, job.image), (latency, job.latency)] {
            if let Err(e) = publication.write(msg) {
                // A DDS that keeps failing fails every frame: a line a second at most.
                log.line("write", || format!("ros2: stream {}: {e}", job.name));
            }
        }
    }
}

/// The two topics of the stream whose topic token is `name`; `None` (said) when DDS refuses
/// them.
fn publications(node: &Node, prefix: &str, name: &str) -> Option<(Publication, Publication)> {
    let base = format!("{prefix}/{name}");
    let image = format!("{base}/image/compressed");
    let latency = format!("{base}/latency");
    let made = node
        .publication(&image, ros_image::IMAGE_TYPE)
        .and_then(|i| Ok((i, node.publication(&latency, ros_image::DIAGNOSTICS_TYPE)?)));
    match made {
        Ok(pair) => {
            eprintln!("ros2: stream {name} on {image} and {latency}");
            Some(pair)
        }
        Err(e) => {
            eprintln!("ros2: stream {name} not published: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(name: &str, n: u8) -> Job {
        Job {
            name: name.into(),
            image: Bytes::from(vec![n]),
            latency: Bytes::new(),
        }
    }

    #[test]
    fn a_stalled_publisher_gets_each_streams_newest_frame() {
        let w = Waiting::default();
        // Frames 1 to 10 of one stream while nothing is taken: the tenth waits, nine made way.
        let replaced = (1..=10).filter(|&n| w.put(job("a", n))).count();
        assert_eq!(replaced, 9);
        w.put(job("b", 1));
        // A fast stream's new frame keeps its turn: "a" still goes before "b".
        w.put(job("a", 11));
        let next = w.take().unwrap();
        assert_eq!((next.name.as_str(), &next.image[..]), ("a", &[11][..]));
        assert_eq!(w.take().unwrap().name, "b");
        // Every stream gets its place (five streams at once lose nothing); more streams than
        // places: the oldest waiting frame makes way.
        let names: Vec<String> = (0..=QUEUE).map(|i| format!("s{i}")).collect();
        for (i, name) in names.iter().enumerate() {
            assert_eq!(w.put(job(name, 1)), i == QUEUE, "{name}");
        }
        assert_eq!(w.take().unwrap().name, "s1");
        w.close();
        let left: Vec<String> = std::iter::from_fn(|| w.take()).map(|j| j.name).collect();
        assert_eq!(left, names[2..]);
    }
}
