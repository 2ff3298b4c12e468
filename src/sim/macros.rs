//! The macro pad's configuration as `GET|POST /api/macros` carry it
//! (device-api.md §5): 8 screens of 16 buttons, colour defaults, the fixed
//! template list. Parsing follows the firmware's order of checks and its
//! messages, then its normalisation (byte limits, enum fallbacks, fields an
//! action does not use cleared), so a body the twin takes is one the
//! device takes, and the reply reads the same.

use serde_json::{json, Map, Value};

use super::settings::truncated;

/// `MACROS_SCREEN_COUNT`.
pub const SCREEN_COUNT: usize = 8;
/// `MACROS_BUTTONS_PER_SCREEN`.
pub const BUTTONS_PER_SCREEN: usize = 16;
/// The stored blob's version (`MACR` header).
pub const CONFIG_VERSION: u32 = 9;

const RING: [Option<u8>; 9] = [
    Some(7),
    Some(0),
    Some(1),
    Some(6),
    Some(8),
    Some(2),
    Some(5),
    Some(4),
    Some(3),
];
const STACK: [Option<u8>; 9] = [
    None,
    Some(0),
    None,
    Some(3),
    Some(1),
    Some(4),
    None,
    Some(2),
    None,
];
const WIDE: [Option<u8>; 3] = [Some(2), Some(0), Some(1)];
const SPLIT: [Option<u8>; 9] = [
    None,
    Some(0),
    None,
    Some(3),
    None,
    Some(4),
    None,
    Some(2),
    None,
];

/// `id`, name and selector cells of each template, in the firmware's order
/// (`null` cells are empty places in the 3-column selector).
const TEMPLATES: [(&str, &str, &[Option<u8>]); 5] = [
    ("round_ring_9", "Round Ring (9)", &RING),
    ("round_pie_8", "Round Pie (8 + Center)", &RING),
    ("round_stack_sides_5", "Stack + Sides (5)", &STACK),
    ("round_wide_sides_3", "Wide Center + Sides (3)", &WIDE),
    ("round_split_sides_4", "Split Center + Sides (4)", &SPLIT),
];

/// Why a `POST /api/macros` body was refused (all 400s on the device).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MacroError {
    #[error("Invalid JSON")]
    InvalidJson,
    #[error("Missing screens[]")]
    MissingScreens,
    #[error("screens[] has wrong length")]
    ScreenCount,
    #[error("screens[] entries must be objects")]
    ScreenNotObject,
    #[error("Each screen must have buttons[]")]
    MissingButtons,
    #[error("buttons[] has wrong length")]
    ButtonCount,
    #[error("buttons[] entries must be objects")]
    ButtonNotObject,
    #[error("mqtt_send requires mqtt_topic")]
    MqttTopicMissing,
}

impl MacroError {
    /// Whether the body got as far as a parsed document (the device then
    /// has printed `http_macros_post_parsed`).
    pub fn after_parse(&self) -> bool {
        *self != MacroError::InvalidJson
    }
}

/// Colours (`0xRRGGBB`) every button inherits unless it sets its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Defaults {
    pub screen_bg: u32,
    pub button_bg: u32,
    pub icon_color: u32,
    pub label_color: u32,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            screen_bg: 0x000000,
            button_bg: 0x1E1E1E,
            icon_color: 0xFFFFFF,
            label_color: 0xFFFFFF,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Icon {
    /// `none`, `builtin`, `emoji` or `asset`.
    pub kind: &'static str,
    pub id: String,
    pub display: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Button {
    pub label: String,
    /// One of [`ACTIONS`].
    pub action: &'static str,
    pub payload: String,
    pub mqtt_topic: String,
    pub icon: Icon,
    pub button_bg: Option<u32>,
    pub icon_color: Option<u32>,
    pub label_color: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Screen {
    pub template: &'static str,
    pub screen_bg: Option<u32>,
    pub buttons: Vec<Button>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacroConfig {
    pub defaults: Defaults,
    pub screens: Vec<Screen>,
}

const ACTIONS: [&str; 7] = [
    "none",
    "send_keys",
    "nav_prev",
    "nav_next",
    "nav_to",
    "go_back",
    "mqtt_send",
];
const ICON_KINDS: [&str; 4] = ["none", "builtin", "emoji", "asset"];

/// The enum value `text` names (any case), else the first (`none`).
fn pick(options: &[&'static str], text: Option<&str>) -> &'static str {
    text.and_then(|t| options.iter().find(|o| o.eq_ignore_ascii_case(t)))
        .copied()
        .unwrap_or(options[0])
}

/// A colour when the value is an integer, masked to 24 bits.
fn colour(v: Option<&Value>) -> Option<u32> {
    v.and_then(Value::as_i64).map(|c| (c as u32) & 0xFF_FFFF)
}

fn text(obj: &Map<String, Value>, key: &str, limit: usize) -> String {
    truncated(obj.get(key).and_then(Value::as_str).unwrap_or(""), limit)
}

impl Default for Screen {
    fn default() -> Self {
        Screen {
            template: TEMPLATES[0].0,
            screen_bg: None,
            buttons: vec![Button::blank(); BUTTONS_PER_SCREEN],
        }
    }
}

impl Button {
    fn blank() -> Self {
        Button {
            action: "none",
            icon: Icon {
                kind: "none",
                ..Icon::default()
            },
            ..Button::default()
        }
    }

    fn with(label: &str, action: &'static str, payload: &str, icon: (&'static str, &str)) -> Self {
        Button {
            label: label.to_owned(),
            action,
            payload: payload.to_owned(),
            icon: Icon {
                kind: icon.0,
                id: icon.1.to_owned(),
                display: icon.1.to_owned(),
            },
            ..Button::blank()
        }
    }

    /// One `buttons[]` entry, normalised like the firmware.
    fn parse(obj: &Map<String, Value>) -> Result<Button, MacroError> {
        let action = pick(&ACTIONS, obj.get("action").and_then(Value::as_str));
        let icon = obj.get("icon").and_then(Value::as_object);
        let icon_text = |key: &str, limit| icon.map(|i| text(i, key, limit)).unwrap_or_default();
        let mut b = Button {
            label: text(obj, "label", 15),
            action,
            payload: text(obj, "payload", 255),
            mqtt_topic: text(obj, "mqtt_topic", 127),
            icon: Icon {
                kind: pick(
                    &ICON_KINDS,
                    icon.and_then(|i| i.get("type")).and_then(Value::as_str),
                ),
                id: icon_text("id", 31),
                display: icon_text("display", 63),
            },
            button_bg: colour(obj.get("button_bg")),
            icon_color: colour(obj.get("icon_color")),
            label_color: colour(obj.get("label_color")),
        };
        if action == "mqtt_send" && b.mqtt_topic.is_empty() {
            return Err(MacroError::MqttTopicMissing);
        }
        if action == "none" {
            b.payload.clear();
            b.mqtt_topic.clear();
            b.icon = Button::blank().icon;
        }
        if action != "mqtt_send" {
            b.mqtt_topic.clear();
        }
        if !matches!(action, "send_keys" | "nav_to" | "mqtt_send") {
            b.payload.clear();
        }
        Ok(b)
    }

    fn to_json(&self) -> Value {
        let mut v = json!({
            "label": self.label,
            "action": self.action,
            "payload": self.payload,
            "mqtt_topic": self.mqtt_topic,
            "icon": {"type": self.icon.kind, "id": self.icon.id, "display": self.icon.display},
        });
        for (key, value) in [
            ("button_bg", self.button_bg),
            ("icon_color", self.icon_color),
            ("label_color", self.label_color),
        ] {
            if let (Some(c), Some(obj)) = (value, v.as_object_mut()) {
                obj.insert(key.to_owned(), json!(c));
            }
        }
        v
    }
}

impl MacroConfig {
    /// What a fresh device shows: a media screen, a navigation screen, the
    /// rest empty.
    pub fn factory() -> Self {
        let mut screens = vec![Screen::default(); SCREEN_COUNT];
        let first = [
            Button::with("Mute", "send_keys", "CTRL m", ("builtin", "mic_off")),
            Button::with(
                "Play",
                "send_keys",
                "MEDIA_PLAY_PAUSE",
                ("builtin", "play_arrow"),
            ),
            Button::with("Gift", "send_keys", "CTRL g", ("emoji", "emoji_u1f381")),
            Button::with("Next", "nav_next", "", ("builtin", "arrow_forward")),
        ];
        for (slot, button) in screens[0].buttons.iter_mut().zip(first) {
            *slot = button;
        }
        screens[0].screen_bg = Some(0x333333);
        screens[0].buttons[0].button_bg = Some(0xFF0000);
        screens[1].buttons[0] = Button::with("Info", "nav_to", "info", ("builtin", "info"));
        screens[1].buttons[1] = Button::with("Back", "go_back", "", ("builtin", "arrow_back"));
        MacroConfig {
            defaults: Defaults::default(),
            screens,
        }
    }

    /// A `POST /api/macros` body, checked in the firmware's order.
    pub fn parse(body: &[u8]) -> Result<MacroConfig, MacroError> {
        let doc: Value = serde_json::from_slice(body).map_err(|_| MacroError::InvalidJson)?;
        let screens = doc
            .get("screens")
            .and_then(Value::as_array)
            .ok_or(MacroError::MissingScreens)?;
        if screens.len() != SCREEN_COUNT {
            return Err(MacroError::ScreenCount);
        }
        let mut parsed = Vec::with_capacity(SCREEN_COUNT);
        for screen in screens {
            let screen = screen.as_object().ok_or(MacroError::ScreenNotObject)?;
            let buttons = screen
                .get("buttons")
                .and_then(Value::as_array)
                .ok_or(MacroError::MissingButtons)?;
            if buttons.len() != BUTTONS_PER_SCREEN {
                return Err(MacroError::ButtonCount);
            }
            let buttons = buttons
                .iter()
                .map(|b| b.as_object().ok_or(MacroError::ButtonNotObject))
                .map(|b| b.and_then(Button::parse))
                .collect::<Result<Vec<_>, _>>()?;
            let template = screen.get("template").and_then(Value::as_str);
            parsed.push(Screen {
                template: TEMPLATES
                    .iter()
                    .find(|t| template.is_some_and(|n| t.0.eq_ignore_ascii_case(n)))
                    .map_or(TEMPLATES[0].0, |t| t.0),
                screen_bg: colour(screen.get("screen_bg")),
                buttons,
            });
        }
        Ok(MacroConfig {
            defaults: parse_defaults(doc.get("defaults")),
            screens: parsed,
        })
    }

    /// `GET /api/macros`, keys in the firmware's order.
    pub fn to_json(&self) -> Value {
        let d = self.defaults;
        let templates: Vec<Value> = TEMPLATES
            .iter()
            .map(|(id, name, cells)| {
                json!({"id": id, "name": name, "selector_layout": {"columns": 3, "cells": cells}})
            })
            .collect();
        let screens: Vec<Value> = self
            .screens
            .iter()
            .map(|s| {
                let mut v = json!({"template": s.template});
                if let (Some(bg), Some(obj)) = (s.screen_bg, v.as_object_mut()) {
                    obj.insert("screen_bg".into(), json!(bg));
                }
                let buttons: Vec<Value> = s.buttons.iter().map(Button::to_json).collect();
                if let Some(obj) = v.as_object_mut() {
                    obj.insert("buttons".into(), Value::Array(buttons));
                }
                v
            })
            .collect();
        json!({
            "success": true,
            "version": CONFIG_VERSION,
            "buttons_per_screen": BUTTONS_PER_SCREEN,
            "defaults": {"screen_bg": d.screen_bg, "button_bg": d.button_bg,
                         "icon_color": d.icon_color, "label_color": d.label_color},
            "templates": templates,
            "screens": screens,
        })
    }

    /// Installed icon ids (`emoji`/`asset`) some button uses: what
    /// `POST /api/icons/gc` keeps.
    pub fn installed_icons_in_use(&self) -> Vec<String> {
        self.screens
            .iter()
            .flat_map(|s| &s.buttons)
            .filter(|b| matches!(b.icon.kind, "emoji" | "asset") && !b.icon.id.is_empty())
            .map(|b| b.icon.id.clone())
            .collect()
    }

    /// Buttons with an action.
    pub fn configured_buttons(&self) -> usize {
        self.screens
            .iter()
            .flat_map(|s| &s.buttons)
            .filter(|b| b.action != "none")
            .count()
    }
}

/// `defaults`: each key missing or not an integer keeps the firmware default.
fn parse_defaults(v: Option<&Value>) -> Defaults {
    let mut d = Defaults::default();
    if let Some(obj) = v.and_then(Value::as_object) {
        let get = |k: &str, fallback: u32| colour(obj.get(k)).unwrap_or(fallback);
        d = Defaults {
            screen_bg: get("screen_bg", d.screen_bg),
            button_bg: get("button_bg", d.button_bg),
            icon_color: get("icon_color", d.icon_color),
            label_color: get("label_color", d.label_color),
        };
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(config: &MacroConfig) -> Vec<u8> {
        let v = config.to_json();
        json!({"defaults": v["defaults"], "screens": v["screens"]})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn get_shape_and_round_trip() {
        let c = MacroConfig::factory();
        let v = c.to_json();
        let keys: Vec<&str> = v
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "success",
                "version",
                "buttons_per_screen",
                "defaults",
                "templates",
                "screens"
            ]
        );
        assert_eq!(v["templates"].as_array().map(Vec::len), Some(5));
        assert_eq!(v["screens"].as_array().map(Vec::len), Some(8));
        assert_eq!(
            v["screens"][0]["buttons"].as_array().map(Vec::len),
            Some(16)
        );
        assert_eq!(v["screens"][0]["screen_bg"], 3_355_443);
        assert!(v["screens"][1].get("screen_bg").is_none());
        assert_eq!(v["defaults"]["button_bg"], 1_973_790);
        assert_eq!(MacroConfig::parse(&body(&c)), Ok(c));
    }

    #[test]
    fn checks_in_order_with_the_devices_messages() {
        let msg = |b: &str| {
            MacroConfig::parse(b.as_bytes())
                .err()
                .map(|e| e.to_string())
        };
        assert_eq!(msg("{"), Some("Invalid JSON".into()));
        assert_eq!(msg(r#"{"macros":[]}"#), Some("Missing screens[]".into()));
        assert_eq!(
            msg(r#"{"screens":[{}]}"#),
            Some("screens[] has wrong length".into())
        );
        let eight = |s: &str| format!("{{\"screens\":[{}]}}", [s; 8].join(","));
        assert_eq!(
            msg(&eight("1")),
            Some("screens[] entries must be objects".into())
        );
        assert_eq!(
            msg(&eight("{}")),
            Some("Each screen must have buttons[]".into())
        );
        assert_eq!(
            msg(&eight(r#"{"buttons":[{}]}"#)),
            Some("buttons[] has wrong length".into())
        );
        let buttons = |b: &str| eight(&format!("{{\"buttons\":[{}]}}", vec![b; 16].join(",")));
        assert_eq!(
            msg(&buttons("null")),
            Some("buttons[] entries must be objects".into())
        );
        assert_eq!(
            msg(&buttons(r#"{"action":"MQTT_SEND","payload":"on"}"#)),
            Some("mqtt_send requires mqtt_topic".into())
        );
    }

    #[test]
    fn normalises_like_the_firmware() {
        let button = r#"{"label":"A very long label text","action":"SEND_KEYS","payload":"x",
            "mqtt_topic":"t","icon":{"type":"Emoji","id":"emoji_u1f600"},"button_bg":33554431}"#;
        let none = r#"{"label":"kept","action":"bogus","payload":"gone","icon":{"type":"builtin","id":"x"}}"#;
        let mut list = vec![button; 15];
        list.push(none);
        let screen = format!(
            "{{\"template\":\"nope\",\"id\":\"x\",\"buttons\":[{}]}}",
            list.join(",")
        );
        let body = format!("{{\"screens\":[{}]}}", [screen.as_str(); 8].join(","));
        let c = MacroConfig::parse(body.as_bytes()).expect("parses");
        let b = &c.screens[0].buttons[0];
        assert_eq!(b.label, "A very long lab");
        assert_eq!(
            (b.action, b.payload.as_str(), b.mqtt_topic.as_str()),
            ("send_keys", "x", "")
        );
        assert_eq!(b.icon.kind, "emoji");
        assert_eq!(b.button_bg, Some(0xFF_FFFF));
        let n = &c.screens[0].buttons[15];
        assert_eq!(
            (n.label.as_str(), n.action, n.payload.as_str()),
            ("kept", "none", "")
        );
        assert_eq!(n.icon.kind, "none");
        assert_eq!(c.screens[0].template, "round_ring_9");
        assert_eq!(c.defaults, Defaults::default());
        assert_eq!(c.installed_icons_in_use().len(), 15 * 8);
    }
}
