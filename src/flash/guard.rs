//! One flash per device at a time: a second upload while the first one's
//! reboot is awaited would confirm or record the wrong build.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use super::FlashError;

/// The devices being flashed; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct InProgress {
    devices: Arc<Mutex<HashSet<i64>>>,
}

/// Held while a device is flashed; dropping it frees the device.
#[derive(Debug)]
pub struct Flashing {
    devices: Arc<Mutex<HashSet<i64>>>,
    device_id: i64,
}

impl InProgress {
    /// Marks the device as being flashed, or `Busy` when it already is.
    pub fn begin(&self, device_id: i64, name: &str) -> Result<Flashing, FlashError> {
        let mut devices = self.devices.lock().unwrap_or_else(|e| e.into_inner());
        if !devices.insert(device_id) {
            return Err(FlashError::Busy(name.to_owned()));
        }
        Ok(Flashing {
            devices: self.devices.clone(),
            device_id,
        })
    }
}

impl Drop for Flashing {
    fn drop(&mut self) {
        let mut devices = self.devices.lock().unwrap_or_else(|e| e.into_inner());
        devices.remove(&self.device_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_is_flashed_once_at_a_time() {
        let in_progress = InProgress::default();
        let first = in_progress.begin(1, "desk").expect("free");
        assert!(matches!(
            in_progress.begin(1, "desk"),
            Err(FlashError::Busy(_))
        ));
        let _other = in_progress.begin(2, "rack").expect("another device");
        drop(first);
        in_progress.begin(1, "desk").expect("free again");
    }
}
