//! The demo's boards: one device twin per firmware profile, each on its own
//! pseudo-terminal (behind a stable link) and loopback HTTP port, registered
//! with the server like a board on a desk.

use std::path::Path;
use std::time::Duration;

use crate::sim::{Profile, SimError, Twin, TwinConfig};
use crate::store::DeviceSpec;

/// Every profile, in the order the dashboard lists them: the plan's
/// before and after, then the soak stories (a leak, a crash, a bad cable).
pub const PROFILES: [Profile; 5] = [
    Profile::Baseline,
    Profile::Tuned,
    Profile::Leak,
    Profile::Crash,
    Profile::Flaky,
];

/// How often the server polls each twin's `/api/health`.
const HEALTH_INTERVAL_S: i64 = 5;

/// The device name a profile's twin is registered under.
pub fn device_name(profile: Profile) -> String {
    format!("demo-{}", profile.name())
}

/// The running twins.
pub struct DemoTwins {
    twins: Vec<(Profile, Twin)>,
}

impl DemoTwins {
    /// Powers on one twin per profile; serial links go in `link_dir`.
    /// Seeds are fixed, so two demos show the same numbers.
    pub async fn spawn(hb_interval: Duration, link_dir: &Path) -> Result<Self, SimError> {
        let mut twins = Vec::with_capacity(PROFILES.len());
        for (i, profile) in PROFILES.into_iter().enumerate() {
            let name = device_name(profile);
            let mut config = TwinConfig::new(&name, profile);
            config.hb_interval = hb_interval;
            config.seed = 1 + i as u64;
            config.link = Some(link_dir.join(&name));
            twins.push((profile, Twin::spawn(config).await?));
        }
        Ok(DemoTwins { twins })
    }

    /// The twins as configured devices.
    pub fn device_specs(&self) -> Vec<DeviceSpec> {
        self.twins
            .iter()
            .map(|(profile, twin)| DeviceSpec {
                name: device_name(*profile),
                serial: Some(twin.serial_path().display().to_string()),
                baud: 115_200,
                url: Some(twin.base_url()),
                health_interval_s: HEALTH_INTERVAL_S,
                auth: None,
                board: Some(format!("virtual ESP32-S3, {} firmware", profile.name())),
            })
            .collect()
    }

    pub async fn shutdown(self) {
        for (_, twin) in self.twins {
            twin.shutdown().await;
        }
    }
}
