//! The panel side of the device (device-api.md §7): which screen LVGL shows,
//! the backlight and the screen saver. Runtime only: nothing here is
//! persisted except through a later config save.

use super::Device;

/// `available_screens` of `/api/info`, in the firmware's order: the ids
/// `PUT /api/display/screen` accepts.
pub const SCREENS: [(&str, &str); 12] = [
    ("macro1", "Macro 1"),
    ("macro2", "Macro 2"),
    ("macro3", "Macro 3"),
    ("macro4", "Macro 4"),
    ("macro5", "Macro 5"),
    ("macro6", "Macro 6"),
    ("macro7", "Macro 7"),
    ("macro8", "Macro 8"),
    ("info", "Info Screen"),
    ("test", "Test Screen"),
    ("error", "Error"),
    ("lvgl_image", "LVGL Image"),
];

/// The screen saver's state machine (`GET /api/display/sleep`'s `state`:
/// 0 Awake, 1 FadingOut, 2 Asleep, 3 FadingIn). The twin's fades finish at
/// once, so only the two resting states exist here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SleepState {
    #[default]
    Awake = 0,
    Asleep = 2,
}

/// Backlight and screen-saver state. The twin's fades finish at once, so
/// only Awake and Asleep are ever observed.
#[derive(Debug, Clone, Default)]
pub(super) struct DisplayState {
    pub(super) sleep: SleepState,
    /// What the backlight shows now (0 while asleep).
    pub(super) current_brightness: u8,
}

impl Device {
    /// The screen shown, `None` while the direct image covers it.
    pub fn current_screen(&self) -> Option<&str> {
        self.screen.as_deref()
    }

    pub fn sleep_state(&self) -> SleepState {
        self.display.sleep
    }

    pub fn current_brightness(&self) -> u8 {
        self.display.current_brightness
    }

    /// Seconds until the screen saver starts (0 unless enabled and awake).
    pub fn seconds_until_sleep(&self) -> u32 {
        if self.config.screen_saver_enabled && self.display.sleep == SleepState::Awake {
            self.config.screen_saver_timeout_seconds
        } else {
            0
        }
    }

    /// `PUT /api/display/screen`: the handler queues, the LVGL task
    /// switches. False (and nothing printed) for an id that is no screen.
    pub fn request_screen(&mut self, id: &str) -> bool {
        if !SCREENS.iter().any(|(s, _)| *s == id) {
            return false;
        }
        self.log(
            0,
            Some("API"),
            &format!("PUT /api/display/screen: {id}"),
            None,
        );
        self.log(
            0,
            Some("Display"),
            &format!("Queued switch to screen: {id}"),
            None,
        );
        self.wake_for_activity();
        self.switch_screen(id);
        true
    }

    /// `PUT /api/display/brightness` and a config save with a brightness:
    /// sets the in-RAM value; wakes the panel if the saver had dimmed it.
    pub fn set_brightness(&mut self, brightness: u8, from_config: bool) -> u8 {
        let b = brightness.min(100);
        self.config.backlight_brightness = b;
        if from_config {
            self.log(
                0,
                None,
                &format!("Config: Backlight brightness set to {b}%"),
                None,
            );
        }
        self.display.sleep = SleepState::Awake;
        self.display.current_brightness = b;
        b
    }

    /// `POST /api/display/sleep`: fade to 0, even with the saver disabled.
    pub fn sleep(&mut self) {
        self.log(0, Some("API"), "POST /api/display/sleep", Some(0));
        self.log(0, Some("ScreenSaver"), "Sleep requested", Some(0));
        self.display.sleep = SleepState::Asleep;
        self.display.current_brightness = 0;
    }

    /// `POST /api/display/wake`: back to the configured brightness.
    pub fn wake(&mut self) {
        self.log(0, Some("ScreenSaver"), "Wake requested", Some(0));
        self.wake_for_activity();
    }

    /// `POST /api/display/activity[?wake=1]`: resets the idle timer; wakes
    /// only when asked to.
    pub fn activity(&mut self, wake: bool) {
        let flag = u8::from(wake);
        self.log(
            0,
            Some("API"),
            &format!("POST /api/display/activity (wake={flag})"),
            Some(0),
        );
        if wake {
            self.wake_for_activity();
        }
    }

    /// Activity that wakes the panel (screen switch, image, wake request).
    pub(super) fn wake_for_activity(&mut self) {
        self.display.sleep = SleepState::Awake;
        self.display.current_brightness = self.config.backlight_brightness;
    }
}
