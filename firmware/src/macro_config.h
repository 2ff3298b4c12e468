// The macro pad's configuration (device-api.md §5): 8 screens x 16 buttons,
// colour defaults and the fixed template list, parsed from and written to
// the JSON of GET|POST /api/macros. Parsing checks in the team device's
// order and returns its messages; normalisation (byte limits, enum
// fallbacks, fields an action does not use cleared) matches it too.
#pragma once
#include <ArduinoJson.h>
#include <stddef.h>
#include <stdint.h>

constexpr size_t MACROS_SCREEN_COUNT = 8;
constexpr size_t MACROS_BUTTONS_PER_SCREEN = 16;
constexpr uint32_t MACROS_CONFIG_VERSION = 9;
constexpr int32_t MACRO_COLOR_UNSET = -1;  // inherit the default

enum MacroAction : uint8_t { ACT_NONE, ACT_SEND_KEYS, ACT_NAV_PREV, ACT_NAV_NEXT, ACT_NAV_TO, ACT_GO_BACK, ACT_MQTT_SEND };
enum MacroIconType : uint8_t { ICON_NONE, ICON_BUILTIN, ICON_EMOJI, ICON_ASSET };

struct MacroButton {
  char label[16];        // 15 bytes + NUL
  char payload[256];     // 255
  char mqtt_topic[128];  // 127
  char icon_id[32];      // 31
  char icon_display[64]; // 63
  MacroAction action;
  MacroIconType icon_type;
  int32_t button_bg, icon_color, label_color;  // 0xRRGGBB or MACRO_COLOR_UNSET
};

struct MacroScreen {
  uint8_t tmpl;  // index into the template list
  int32_t screen_bg;
  MacroButton buttons[MACROS_BUTTONS_PER_SCREEN];
};

struct MacroConfig {
  uint32_t screen_bg, button_bg, icon_color, label_color;  // defaults
  MacroScreen screens[MACROS_SCREEN_COUNT];
};

// Factory defaults: colours, round_ring_9, every button "none".
void macro_config_reset(MacroConfig *c);
// Checks and normalises a parsed POST body into *out. nullptr on success,
// else the device's 400 message ("Missing screens[]", ...).
const char *macro_config_from_json(JsonVariantConst doc, MacroConfig *out);
// The GET /api/macros document, keys in the device's order.
void macro_config_to_json(const MacroConfig &c, JsonDocument &doc);
// True if a button of type emoji/asset uses this installed icon id.
bool macro_config_uses_icon(const MacroConfig &c, const char *icon_id);
