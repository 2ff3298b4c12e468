// heaplab dashboard: live updates (SSE and polling), chart zoom and hover,
// and API buttons. Plain JS, no framework; pages work without it.
"use strict";

function $(sel, root) { return (root || document).querySelector(sel); }
function $all(sel, root) { return Array.from((root || document).querySelectorAll(sel)); }

const fmt = {
  bytes(v) { return v == null ? "–" : v.toLocaleString("en-US") + " B"; },
  pct(v) { return v == null ? "–" : v + " %"; },
};

function setField(root, name, text) {
  for (const el of $all('[data-field="' + name + '"]', root)) el.textContent = text;
}

// --- API buttons ------------------------------------------------------------
async function callApi(method, url) {
  const headers = {};
  const token = localStorage.getItem("heaplab-token");
  if (token) headers["Authorization"] = "Bearer " + token;
  let r = await fetch(url, { method, headers });
  if (r.status === 401) {
    const t = prompt("This heaplab needs an API token for changes:");
    if (!t) return r;
    localStorage.setItem("heaplab-token", t);
    headers["Authorization"] = "Bearer " + t;
    r = await fetch(url, { method, headers });
  }
  return r;
}

for (const b of $all("[data-api-method]")) {
  b.addEventListener("click", async () => {
    if (b.dataset.confirm && !confirm(b.dataset.confirm)) return;
    const out = $(".api-result");
    b.disabled = true;
    try {
      const r = await callApi(b.dataset.apiMethod, b.dataset.apiUrl);
      const body = await r.json().catch(() => ({}));
      if (out) out.textContent = r.ok ? "Done." : "Failed: " + (body.detail || r.status);
      if (r.ok && b.dataset.apiMethod !== "POST" || (r.ok && b.dataset.apiUrl.endsWith("/soak"))) setTimeout(() => location.reload(), 400);
    } finally {
      b.disabled = false;
    }
  });
}

// --- Devices overview: poll ---------------------------------------------------
const tiles = $("[data-poll-devices]");
if (tiles) {
  const refresh = async () => {
    try {
      const r = await fetch("/api/v1/devices");
      if (!r.ok) return;
      for (const d of await r.json()) {
        const tile = $('[data-device="' + d.id + '"]', tiles);
        if (!tile) continue;
        const s = d.live.last_snapshot || {};
        tile.classList.toggle("is-online", d.online);
        tile.classList.toggle("is-offline", !d.online);
        setField(tile, "status", d.online ? "● online" : "○ offline");
        setField(tile, "firmware", d.live.firmware || "–");
        setField(tile, "hi", fmt.bytes(s.hi));
        setField(tile, "hin", fmt.bytes(s.hin));
        setField(tile, "frag", fmt.pct(s.frag));
        setField(tile, "pf", fmt.bytes(s.pf));
        const spark = $("[data-spark]", tile);
        if (spark) spark.src = "/charts/devices/" + d.id + "/spark.svg?t=" + Date.now();
      }
    } catch (e) { /* offline server: try again next tick */ }
  };
  setInterval(refresh, 3000);
}

// --- Charts: hover and drag-to-zoom -----------------------------------------
function chartUrl(img, from, to) {
  const u = new URL(img.getAttribute("src"), location.href);
  if (from == null) { u.searchParams.delete("from"); u.searchParams.delete("to"); }
  else { u.searchParams.set("from", String(Math.round(from))); u.searchParams.set("to", String(Math.round(to))); }
  return u.pathname + u.search;
}

function setupChart(fig) {
  const img = $("img", fig);
  if (!img) return;
  let hover = null;
  const tip = document.createElement("div");
  tip.className = "tip"; tip.hidden = true; tip.setAttribute("role", "status");
  fig.appendChild(tip);
  const sel = document.createElement("div");
  sel.className = "sel"; sel.hidden = true;
  fig.appendChild(sel);

  const loadHover = async () => {
    const u = new URL(img.src, location.href);
    u.pathname = u.pathname.replace(/\.svg$/, ".json");
    try { const r = await fetch(u); hover = r.ok ? await r.json() : null; } catch (e) { hover = null; }
  };
  img.addEventListener("load", loadHover);
  if (img.complete) loadHover();

  // Pixel in the image → SVG user units → x value.
  const toSvgX = (clientX) => {
    const rect = img.getBoundingClientRect();
    return (clientX - rect.left) * (img.naturalWidth || rect.width) / rect.width;
  };
  const xValue = (svgX) => {
    if (!hover) return null;
    const a = hover.plot, x0 = hover.x_min, x1 = hover.x_max;
    const f = Math.min(1, Math.max(0, (svgX - a.left) / (a.right - a.left)));
    return x0 + f * (x1 - x0);
  };

  img.addEventListener("mousemove", (ev) => {
    if (!hover || !hover.points || !hover.points.length) return;
    const x = xValue(toSvgX(ev.clientX));
    let best = null, bd = Infinity;
    for (const p of hover.points) { const d = Math.abs(p.x - x); if (d < bd) { bd = d; best = p; } }
    if (!best) return;
    const when = new Date(best.x_us / 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC";
    tip.textContent = when + " · " + best.metric + " " + (best.metric === "frag" ? fmt.pct(best.y) : fmt.bytes(best.y)) + " · tag " + best.tag;
    const rect = fig.getBoundingClientRect();
    tip.style.left = Math.min(ev.clientX - rect.left + 12, rect.width - 260) + "px";
    tip.style.top = (ev.clientY - rect.top + 12) + "px";
    tip.hidden = false;
  });
  img.addEventListener("mouseleave", () => { tip.hidden = true; });

  let start = null;
  img.addEventListener("mousedown", (ev) => { ev.preventDefault(); start = ev.clientX; });
  window.addEventListener("mousemove", (ev) => {
    if (start == null) return;
    const rect = img.getBoundingClientRect(), fr = fig.getBoundingClientRect();
    const l = Math.min(start, ev.clientX), r = Math.max(start, ev.clientX);
    Object.assign(sel.style, { left: (l - fr.left) + "px", width: (r - l) + "px", top: (rect.top - fr.top) + "px", height: rect.height + "px" });
    sel.hidden = false;
  });
  window.addEventListener("mouseup", (ev) => {
    if (start == null) return;
    const a = toSvgX(Math.min(start, ev.clientX)), b = toSvgX(Math.max(start, ev.clientX));
    start = null; sel.hidden = true;
    if (b - a < 5) return;
    const from = xValue(a), to = xValue(b);
    if (from == null || to == null) return;
    zoom(from, to);
  });
  const zoom = (from, to) => {
    img.src = chartUrl(img, from, to);
    const page = new URL(location.href);
    if (from == null) { page.searchParams.delete("from"); page.searchParams.delete("to"); }
    else { page.searchParams.set("from", String(Math.round(from))); page.searchParams.set("to", String(Math.round(to))); }
    history.replaceState(null, "", page);
    fig.dataset.zoomed = from == null ? "" : "1";
  };
  const reset = $("[data-zoom-reset]", fig);
  if (reset) reset.addEventListener("click", () => zoom(null, null));
  // Keyboard: zoom in/out around the centre with + and -.
  img.tabIndex = 0;
  img.addEventListener("keydown", (ev) => {
    if (!hover) return;
    const x0 = hover.x_min, x1 = hover.x_max, mid = (x0 + x1) / 2, half = (x1 - x0) / 2;
    if (ev.key === "+") zoom(mid - half / 2, mid + half / 2);
    if (ev.key === "-") zoom(mid - half * 2, mid + half * 2);
    if (ev.key === "0") zoom(null, null);
  });
}
$all("figure[data-chart]").forEach(setupChart);

// --- Device page: live over SSE ----------------------------------------------
const liveRoot = $("[data-live-device]");
if (liveRoot && window.EventSource) {
  const id = liveRoot.dataset.liveDevice;
  const es = new EventSource("/api/v1/devices/" + id + "/live");
  const charts = $all("[data-live-chart] img", liveRoot);
  let lastChart = 0;
  // Re-request the (server-rendered) charts as snapshots arrive, at most
  // every 1.5 s, unless the user zoomed in.
  const refreshChart = (force) => {
    const now = Date.now();
    if (!force && now - lastChart < 1500) return;
    lastChart = now;
    for (const chart of charts) {
      const fig = chart.closest("figure");
      if (fig && fig.dataset.zoomed) continue;
      const u = new URL(chart.src, location.href);
      if (fig && fig.dataset.run) u.pathname = u.pathname.replace(/\/charts\/runs\/\d+\.svg$/, "/charts/runs/" + fig.dataset.run + ".svg");
      u.searchParams.set("t", String(now));
      chart.src = u.pathname + u.search;
    }
  };
  // A scenario or a reboot ends the run the page opened with: the charts
  // follow the device to its new run, and a zoom into the old one resets.
  const followRun = (run) => {
    let moved = false;
    for (const chart of charts) {
      const fig = chart.closest("figure");
      if (!fig || fig.dataset.run === String(run)) continue;
      fig.dataset.run = String(run);
      const reset = $("[data-zoom-reset]", fig);
      if (fig.dataset.zoomed && reset) reset.click();
      moved = true;
    }
    if (moved) refreshChart(true);
  };
  es.addEventListener("snapshot", (ev) => {
    const s = JSON.parse(ev.data).data;
    if (s.run_id != null) followRun(s.run_id);
    setField(liveRoot, "hi", fmt.bytes(s.hi));
    setField(liveRoot, "hin", fmt.bytes(s.hin));
    setField(liveRoot, "frag", fmt.pct(s.frag));
    setField(liveRoot, "pf", fmt.bytes(s.pf));
    liveRoot.dataset.snapshots = String(Number(liveRoot.dataset.snapshots || 0) + 1);
    refreshChart();
  });
  es.addEventListener("status", (ev) => {
    const d = JSON.parse(ev.data);
    const live = d.data || d;
    const online = live.serial_online || live.health_online;
    setField(liveRoot, "status", online ? "● online" : "○ offline");
    if (live.ip) setField(liveRoot, "ip", live.ip);
    if (live.firmware) setField(liveRoot, "firmware", live.firmware);
  });
  es.addEventListener("event", (ev) => {
    const d = JSON.parse(ev.data).data;
    if (!["tripwire", "crash", "alloc_failed", "ip", "boot"].includes(d.kind)) return;
    const list = $("[data-events]", liveRoot);
    if (!list) return;
    const li = document.createElement("li");
    li.className = "ev-" + d.kind;
    const tag = document.createElement("span");
    tag.className = "tag"; tag.textContent = d.kind === "boot" ? "reboot" : d.kind;
    li.append(tag, " ", new Date().toISOString().slice(11, 19) + " UTC ", d.message || "");
    list.prepend(li);
  });
}

// --- Forms that talk to the JSON API (add/edit experiments, link runs) -----
for (const form of $all("form[data-api-form]")) {
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = {};
    for (const el of Array.from(form.elements)) {
      if (!el.name) continue;
      if (el.name === "baseline_id") { body.baseline_id = el.value === "" ? null : Number(el.value); continue; }
      if (el.dataset.number !== undefined) { if (el.value !== "") body[el.name] = Number(el.value); continue; }
      body[el.name] = el.value;
    }
    const out = $(".api-result", form);
    const headers = { "Content-Type": "application/json" };
    const token = localStorage.getItem("heaplab-token");
    if (token) headers["Authorization"] = "Bearer " + token;
    const r = await fetch(form.dataset.url, { method: form.dataset.method || "POST", headers, body: JSON.stringify(body) });
    if (r.ok) { location.reload(); return; }
    const err = await r.json().catch(() => ({}));
    if (out) out.textContent = "Failed: " + (err.detail || r.status);
  });
}

// --- Device page: start a scenario and follow its steps -------------------
(() => {
  const box = document.querySelector("[data-scenario-form]");
  if (!box) return;
  const id = box.dataset.deviceId, out = box.querySelector(".scenario-result");
  const steps = box.querySelector("[data-scenario-steps]");
  box.querySelector("[data-run-scenario]").addEventListener("click", async (ev) => {
    const button = ev.currentTarget;
    button.disabled = true;
    const headers = { "Content-Type": "application/json" };
    const token = localStorage.getItem("heaplab-token");
    if (token) headers["Authorization"] = "Bearer " + token;
    try {
      const r = await fetch("/api/v1/devices/" + id + "/scenario", { method: "POST", headers,
        body: JSON.stringify({ scenario: box.querySelector("select").value }) });
      const body = await r.json().catch(() => ({}));
      out.innerHTML = "";
      if (r.ok) {
        const a = document.createElement("a");
        a.href = "/runs/" + body.run_id; a.textContent = "run #" + body.run_id;
        out.append("Started ", a, ".");
        steps.textContent = "";
      } else {
        out.textContent = "Failed: " + (body.detail || r.status);
      }
    } finally {
      button.disabled = false;
    }
  });
  if (!window.EventSource) return;
  const es = new EventSource("/api/v1/devices/" + id + "/live");
  es.addEventListener("event", (ev) => {
    const d = JSON.parse(ev.data).data || {};
    if (d.kind !== "step" && d.kind !== "note") return;
    const li = document.createElement("li");
    const s = d.data || {};
    li.className = "ev-step step-" + (s.status || "note");
    if (d.kind === "step") {
      li.textContent = "[" + s.index + "] " + s.name + " — " + s.status +
        (s.status === "running" ? "" : " in " + (s.ms / 1000).toFixed(2) + " s" + (s.detail ? ": " + s.detail : ""));
    } else {
      li.textContent = d.message || "";
    }
    steps.append(li);
  });
})();

// --- Device page: flash firmware (the server, or the device's agent, uploads
// it and waits for the reboot; the answer comes when that is done) ----------
for (const form of $all("form[data-flash-form]")) {
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (form.dataset.confirm && !confirm(form.dataset.confirm)) return;
    const out = $(".flash-result", form), button = $("button", form);
    const headers = {};
    const token = localStorage.getItem("heaplab-token");
    if (token) headers["Authorization"] = "Bearer " + token;
    button.disabled = true;
    out.textContent = "Flashing… (upload, then the reboot into the new version)";
    try {
      const r = await fetch(form.action, { method: "POST", headers, body: new FormData(form) });
      const body = await r.json().catch(() => ({}));
      out.textContent = r.ok
        ? "Flashed v" + body.version + ", confirmed on " + body.confirmed_by + "; build #" + body.build_id +
          (body.elf_attached ? " recorded with its ELF." : " recorded, no ELF attached.")
        : "Failed: " + (body.detail || r.status);
    } catch (e) {
      out.textContent = "Failed: " + e;
    } finally {
      button.disabled = false;
    }
  });
}

// --- Run page: add this run to an experiment --------------------------------
for (const form of $all("form[data-link-experiment]")) {
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const experiment = form.elements.experiment.value;
    const out = $(".api-result", form);
    const headers = { "Content-Type": "application/json" };
    const token = localStorage.getItem("heaplab-token");
    if (token) headers["Authorization"] = "Bearer " + token;
    const r = await fetch("/api/v1/experiments/" + experiment + "/runs",
      { method: "POST", headers, body: JSON.stringify({ run_id: Number(form.dataset.run) }) });
    if (r.ok) {
      out.textContent = "";
      const a = document.createElement("a");
      a.href = "/experiments#exp-" + experiment; a.textContent = "experiment #" + experiment;
      out.append("Added to ", a, ".");
    } else {
      const err = await r.json().catch(() => ({}));
      out.textContent = "Failed: " + (err.detail || r.status);
    }
  });
}

// --- Firmware page: upload an ELF for a version -------------------------------
const elfForm = document.getElementById("elf-upload");
if (elfForm) {
  elfForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const out = $(".api-result", elfForm);
    const file = elfForm.elf.files[0];
    if (!file) return;
    out.textContent = "uploading…";
    const headers = {};
    const token = localStorage.getItem("heaplab-token");
    if (token) headers["Authorization"] = "Bearer " + token;
    const r = await fetch("/api/v1/firmware/" + encodeURIComponent(elfForm.version.value) + "/elf", { method: "PUT", headers, body: file });
    const body = await r.json().catch(() => ({}));
    out.textContent = r.ok ? "stored " + body.version : "failed: " + (body.detail || r.status);
    if (r.ok) setTimeout(() => location.reload(), 500);
  });
}

// --- Compare: copy the page's link, and search the picker as you type ------
for (const b of $all("[data-copy-link]")) {
  b.hidden = false;
  b.addEventListener("click", async () => {
    const url = new URL(b.dataset.copyLink, location.href).href;
    const out = $(".api-result", b.parentElement);
    try {
      await navigator.clipboard.writeText(url);
      if (out) out.textContent = "Copied.";
    } catch (e) {
      // No clipboard (plain HTTP off loopback): select the link to copy by hand.
      const a = $("[data-permalink]", b.parentElement);
      if (a) window.getSelection().selectAllChildren(a);
      if (out) out.textContent = "Press Ctrl+C to copy.";
    }
  });
}

(() => {
  const form = $("form[data-picker]");
  const search = form && $("[data-picker-search]", form);
  if (!search) return;
  let timer = null, seq = 0;
  // The server renders the lists; typing swaps in the lists of the same
  // GET the form would make, and the address bar follows.
  const refresh = async () => {
    const params = new URLSearchParams(new FormData(form));
    params.delete("after"); params.delete("gafter");
    const url = "/compare?" + params.toString();
    const mine = ++seq;
    try {
      const r = await fetch(url, { headers: { Accept: "text/html" } });
      if (!r.ok || mine !== seq) return;
      const doc = new DOMParser().parseFromString(await r.text(), "text/html");
      const fresh = $("[data-picker-results]", doc), old = $("[data-picker-results]", form);
      if (fresh && old) old.replaceWith(fresh);
      history.replaceState(null, "", url);
    } catch (e) { /* the form still works by submitting it */ }
  };
  search.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(refresh, 250); });
})();
