#include "macro_config.h"

#include <string.h>
#include <strings.h>

struct Template {
  const char *id;
  const char *name;
  int8_t cells[9];  // -1 = empty place (null in JSON)
  uint8_t n;
};

static const Template kTemplates[] = {
    {"round_ring_9", "Round Ring (9)", {7, 0, 1, 6, 8, 2, 5, 4, 3}, 9},
    {"round_pie_8", "Round Pie (8 + Center)", {7, 0, 1, 6, 8, 2, 5, 4, 3}, 9},
    {"round_stack_sides_5", "Stack + Sides (5)", {-1, 0, -1, 3, 1, 4, -1, 2, -1}, 9},
    {"round_wide_sides_3", "Wide Center + Sides (3)", {2, 0, 1}, 3},
    {"round_split_sides_4", "Split Center + Sides (4)", {-1, 0, -1, 3, -1, 4, -1, 2, -1}, 9},
};
static constexpr size_t kTemplateCount = sizeof kTemplates / sizeof kTemplates[0];

static const char *const kActions[] = {"none", "send_keys", "nav_prev", "nav_next", "nav_to", "go_back", "mqtt_send"};
static const char *const kIconTypes[] = {"none", "builtin", "emoji", "asset"};

// Index of `text` in `names` (case-insensitive), else 0 ("none").
static uint8_t pick(const char *const *names, size_t n, const char *text) {
  if (text == nullptr) return 0;
  for (size_t i = 0; i < n; i++)
    if (strcasecmp(names[i], text) == 0) return (uint8_t)i;
  return 0;
}

// Copies at most cap-1 bytes, never splitting a UTF-8 sequence.
static void copy_utf8(char *dst, size_t cap, const char *src) {
  if (src == nullptr) src = "";
  size_t n = strlen(src);
  if (n > cap - 1) {
    n = cap - 1;
    while (n > 0 && ((uint8_t)src[n] & 0xC0) == 0x80) n--;
  }
  memcpy(dst, src, n);
  dst[n] = '\0';
}

static int32_t colour(JsonVariantConst v) {
  return v.is<long>() ? (int32_t)((uint32_t)v.as<long>() & 0xFFFFFFu) : MACRO_COLOR_UNSET;
}

static void clear_button(MacroButton *b) {
  memset(b, 0, sizeof *b);
  b->button_bg = b->icon_color = b->label_color = MACRO_COLOR_UNSET;
}

void macro_config_reset(MacroConfig *c) {
  c->screen_bg = 0x000000;
  c->button_bg = 0x1E1E1E;
  c->icon_color = 0xFFFFFF;
  c->label_color = 0xFFFFFF;
  for (MacroScreen &s : c->screens) {
    s.tmpl = 0;
    s.screen_bg = MACRO_COLOR_UNSET;
    for (MacroButton &b : s.buttons) clear_button(&b);
  }
}

static const char *parse_button(JsonVariantConst v, MacroButton *b) {
  if (!v.is<JsonObjectConst>()) return "buttons[] entries must be objects";
  clear_button(b);
  copy_utf8(b->label, sizeof b->label, v["label"].as<const char *>());
  copy_utf8(b->payload, sizeof b->payload, v["payload"].as<const char *>());
  copy_utf8(b->mqtt_topic, sizeof b->mqtt_topic, v["mqtt_topic"].as<const char *>());
  b->action = (MacroAction)pick(kActions, 7, v["action"].as<const char *>());
  JsonVariantConst icon = v["icon"];
  b->icon_type = (MacroIconType)pick(kIconTypes, 4, icon["type"].as<const char *>());
  copy_utf8(b->icon_id, sizeof b->icon_id, icon["id"].as<const char *>());
  copy_utf8(b->icon_display, sizeof b->icon_display, icon["display"].as<const char *>());
  b->button_bg = colour(v["button_bg"]);
  b->icon_color = colour(v["icon_color"]);
  b->label_color = colour(v["label_color"]);
  if (b->action == ACT_MQTT_SEND && b->mqtt_topic[0] == '\0') return "mqtt_send requires mqtt_topic";
  if (b->action == ACT_NONE) {
    b->icon_type = ICON_NONE;
    b->icon_id[0] = b->icon_display[0] = '\0';
  }
  if (b->action != ACT_MQTT_SEND) b->mqtt_topic[0] = '\0';
  if (b->action != ACT_SEND_KEYS && b->action != ACT_NAV_TO && b->action != ACT_MQTT_SEND) b->payload[0] = '\0';
  return nullptr;
}

static uint8_t template_index(const char *id) {
  if (id == nullptr) return 0;
  for (size_t i = 0; i < kTemplateCount; i++)
    if (strcasecmp(kTemplates[i].id, id) == 0) return (uint8_t)i;
  return 0;
}

const char *macro_config_from_json(JsonVariantConst doc, MacroConfig *out) {
  JsonArrayConst screens = doc["screens"].as<JsonArrayConst>();
  if (screens.isNull()) return "Missing screens[]";
  if (screens.size() != MACROS_SCREEN_COUNT) return "screens[] has wrong length";
  macro_config_reset(out);
  JsonVariantConst d = doc["defaults"];
  if (d["screen_bg"].is<long>()) out->screen_bg = (uint32_t)colour(d["screen_bg"]);
  if (d["button_bg"].is<long>()) out->button_bg = (uint32_t)colour(d["button_bg"]);
  if (d["icon_color"].is<long>()) out->icon_color = (uint32_t)colour(d["icon_color"]);
  if (d["label_color"].is<long>()) out->label_color = (uint32_t)colour(d["label_color"]);
  size_t i = 0;
  for (JsonVariantConst sv : screens) {
    if (!sv.is<JsonObjectConst>()) return "screens[] entries must be objects";
    JsonArrayConst buttons = sv["buttons"].as<JsonArrayConst>();
    if (buttons.isNull()) return "Each screen must have buttons[]";
    if (buttons.size() != MACROS_BUTTONS_PER_SCREEN) return "buttons[] has wrong length";
    MacroScreen &s = out->screens[i++];
    s.tmpl = template_index(sv["template"].as<const char *>());
    s.screen_bg = colour(sv["screen_bg"]);
    size_t j = 0;
    for (JsonVariantConst bv : buttons) {
      const char *err = parse_button(bv, &s.buttons[j++]);
      if (err) return err;
    }
  }
  return nullptr;
}

static void put_colour(JsonObject o, const char *key, int32_t c) {
  if (c != MACRO_COLOR_UNSET) o[key] = (uint32_t)c;
}

void macro_config_to_json(const MacroConfig &c, JsonDocument &doc) {
  doc["success"] = true;
  doc["version"] = MACROS_CONFIG_VERSION;
  doc["buttons_per_screen"] = MACROS_BUTTONS_PER_SCREEN;
  JsonObject d = doc["defaults"].to<JsonObject>();
  d["screen_bg"] = c.screen_bg;
  d["button_bg"] = c.button_bg;
  d["icon_color"] = c.icon_color;
  d["label_color"] = c.label_color;
  JsonArray templates = doc["templates"].to<JsonArray>();
  for (const Template &t : kTemplates) {
    JsonObject o = templates.add<JsonObject>();
    o["id"] = t.id;
    o["name"] = t.name;
    JsonObject layout = o["selector_layout"].to<JsonObject>();
    layout["columns"] = 3;
    JsonArray cells = layout["cells"].to<JsonArray>();
    for (uint8_t k = 0; k < t.n; k++) {
      if (t.cells[k] < 0) {
        cells.add(nullptr);
      } else {
        cells.add(t.cells[k]);
      }
    }
  }
  JsonArray screens = doc["screens"].to<JsonArray>();
  for (const MacroScreen &s : c.screens) {
    JsonObject so = screens.add<JsonObject>();
    so["template"] = kTemplates[s.tmpl < kTemplateCount ? s.tmpl : 0].id;
    put_colour(so, "screen_bg", s.screen_bg);
    JsonArray buttons = so["buttons"].to<JsonArray>();
    for (const MacroButton &b : s.buttons) {
      JsonObject bo = buttons.add<JsonObject>();
      bo["label"] = (const char *)b.label;  // const char*: copied into the document
      bo["action"] = kActions[b.action];
      bo["payload"] = (const char *)b.payload;
      bo["mqtt_topic"] = (const char *)b.mqtt_topic;
      JsonObject icon = bo["icon"].to<JsonObject>();
      icon["type"] = kIconTypes[b.icon_type];
      icon["id"] = (const char *)b.icon_id;
      icon["display"] = (const char *)b.icon_display;
      put_colour(bo, "button_bg", b.button_bg);
      put_colour(bo, "icon_color", b.icon_color);
      put_colour(bo, "label_color", b.label_color);
    }
  }
}

bool macro_config_uses_icon(const MacroConfig &c, const char *icon_id) {
  for (const MacroScreen &s : c.screens)
    for (const MacroButton &b : s.buttons)
      if ((b.icon_type == ICON_EMOJI || b.icon_type == ICON_ASSET) && strcmp(b.icon_id, icon_id) == 0) return true;
  return false;
}
