// The dashboard in real headless Chromium against `heaplab demo` (three
// device twins) plus hostile strings in every place a person can put text:
// an imported log's tag, task name and firmware, a device's name, a group's
// label and an experiment's cells. Every page is checked with axe-core (no
// serious or critical violation) and saved to docs/img/ for the README;
// other screenshots go to target/browser-screenshots/ for review.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import net from "node:net";
import { chromium } from "playwright-core";
import { createRequire } from "node:module";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
// The binary `cargo build` made: HEAPLAB_BIN, else under CARGO_TARGET_DIR
// (relative to the repository, as cargo reads it), else target/.
const targetDir = resolve(root, process.env.CARGO_TARGET_DIR || "target");
const bin = process.env.HEAPLAB_BIN || join(targetDir, "debug/heaplab");
const shots = join(targetDir, "browser-screenshots");
mkdirSync(shots, { recursive: true });
const docsImg = join(root, "docs/img");
mkdirSync(docsImg, { recursive: true });
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

const XSS_TAG = "<script>alert(1)</script>";
const XSS_TASK = '"><img src=x onerror=alert(1)>';
const XSS_DEVICE = "<img src=x onerror=alert(2)>";
const XSS_LABEL = "</title><script>alert(3)</script>";
const XSS_TEXT = '<svg onload=alert(4)>"\'&';

let server, base, browser, work;
/** Ids of what before() made with hostile strings. */
const hostile = {};

async function freePort() {
  return new Promise((res) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => res(p)); });
  });
}

async function waitFor(what, fn, timeoutMs = 30000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try { const v = await fn(); if (v) return v; } catch (e) { if (/exited/.test(String(e))) throw e; }
    if (Date.now() > end) throw new Error("timed out waiting for " + what);
    await new Promise((r) => setTimeout(r, 150));
  }
}

async function api(path, init) {
  const r = await fetch(base + path, init);
  if (!r.ok) throw new Error(path + " → " + r.status);
  return r.json();
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), "heaplab-browser-"));
  const port = await freePort();
  base = "http://127.0.0.1:" + port;
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith("HEAPLAB_")) delete env[k];
  server = spawn(bin, ["--db", join(work, "browser.db"), "demo", "--bind", "127.0.0.1:" + port, "--hb-interval", "300ms"],
    { stdio: ["ignore", "inherit", "inherit"], env });
  let exited = null;
  server.on("exit", (code) => { exited = code; });
  // No binary there: say where it was looked for, at once.
  server.on("error", (e) => { exited = `${e.message} (build it: cargo build --bin heaplab; set CARGO_TARGET_DIR or HEAPLAB_BIN)`; });
  await waitFor("the server", async () => {
    if (exited !== null) throw new Error("heaplab demo exited with " + exited);
    return (await fetch(base + "/healthz")).ok;
  }, 90000);
  await waitFor("the demo's five boards with snapshots", async () => {
    const ds = await api("/api/v1/devices");
    return ds.length === 5 && ds.every((d) => d.live.last_snapshot);
  });

  // A serial log with a hostile tag and task name, imported like any log.
  const log = [
    "ESP-ROM:esp32s3-20210327",
    "rst:0x1 (POWERON),boot:0x8 (SPI_FAST_FLASH_BOOT)",
    "[System Boot] Starting...",
    "  Firmware: v9<b>bold</b>",
    "[Mem] boot hf=250000 hm=249000 hl=200000 hi=250000 hin=249000 frag=20 pf=8300000 pm=8300000 pl=8200000",
    `[Mem] ${XSS_TAG} hf=120000 hm=118000 hl=60000 hi=120000 hin=118000 frag=50 pf=8270000 pm=8268000 pl=8180000`,
    `[Mem] TRIPWIRE fired tag=${XSS_TAG} hin=21000B < 30720B (hf=28000B hl=9000B frag=67% pf=8190000B pl=8090000B)`,
    `[Mem] Task dump (1 tasks, sorted by stack margin) tag=${XSS_TAG}`,
    `[Task] name=${XSS_TASK} prio=1 core=-1 stack_rem=76B`,
    "[Mem] hb hf=170000 hm=21000 hl=100000 hi=170000 hin=21000 frag=41 pf=8275000 pm=8268000 pl=8185000",
    "",
  ].join("\r\n");
  const r = await fetch(base + "/api/v1/import?name=hostile.log", { method: "POST", body: log });
  assert.equal(r.status, 201);
  const imported = await r.json();
  const json = (body) => ({ method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  // A device named like markup (offline: nothing listens on port 9, and it is never polled).
  const dev = await fetch(base + "/api/v1/devices", json({ name: XSS_DEVICE, url: "http://127.0.0.1:9", health_interval_s: 0 }));
  assert.equal(dev.status, 201, await dev.clone().text());
  hostile.device = (await dev.json()).id;
  // A group with a hostile label: the hostile run with a demo device's run.
  const demoRun = (await api("/api/v1/devices")).find((d) => d.name === "demo-baseline").live.active_run;
  const group = await fetch(base + "/api/v1/groups", json({ runs: [imported.run_id, demoRun], scenario: "S4", label: XSS_LABEL }));
  assert.equal(group.status, 201, await group.clone().text());
  hostile.group = (await group.json()).id;
  hostile.run = imported.run_id;
  hostile.demoRun = demoRun;
  // An experiment whose every text cell is hostile, linked to the group.
  const exp = await fetch(base + "/api/v1/experiments", json({ date: "2026-01-09", change: XSS_TEXT, board: XSS_DEVICE, notes: XSS_LABEL, branch_commit: XSS_TAG }));
  assert.equal(exp.status, 201, await exp.clone().text());
  hostile.experiment = (await exp.json()).id;
  const link = await fetch(base + "/api/v1/experiments/" + hostile.experiment + "/groups", json({ group_id: hostile.group }));
  assert.equal(link.status, 200);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  if (browser) await browser.close();
  if (server) server.kill("SIGTERM");
  if (work) rmSync(work, { recursive: true, force: true });
});

/** The experiments table's row whose Change cell is `change` (its text
 * also sits in every row's baseline choices, so match the cell). */
function experimentRow(p, change) {
  return p.locator("tr[data-experiment]").filter({ has: p.locator("td.change", { hasText: change }) });
}

/** A page that fails the test on any dialog (an executed alert) or JS error. */
async function page(width = 1280) {
  const p = await browser.newPage({ viewport: { width, height: 900 } });
  p.on("dialog", (d) => { d.dismiss(); throw new Error("a dialog opened: " + d.message()); });
  p.errors = [];
  p.on("pageerror", (e) => p.errors.push(String(e)));
  return p;
}

async function hostileRun() {
  const runs = await api("/api/v1/runs");
  return runs.find((r) => r.label === "hostile.log").id;
}

test("every page loads, at desktop and phone width", async () => {
  const devices = await api("/api/v1/devices");
  const demo = devices.find((d) => d.name === "demo-baseline");
  const run = demo.live.active_run;
  const runs = await api("/api/v1/runs?limit=5");
  const paths = ["/", "/devices/" + demo.id, "/runs", "/runs/" + run, "/compare?a=" + runs[1].id + "&b=" + runs[0].id,
    "/experiments", "/alerts", "/firmware"];
  for (const width of [1280, 390]) {
    const p = await page(width);
    for (const path of paths) {
      const resp = await p.goto(base + path);
      assert.equal(resp.status(), 200, path);
      assert.ok((await p.title()).includes("heaplab"), path);
      const inline = await p.evaluate(() => Array.from(document.scripts).filter((s) => !s.src).length);
      assert.equal(inline, 0, path + ": scripts come from /static/app.js only");
      const name = (path.replace(/[^a-z0-9]+/gi, "_") || "root") + "-" + width + ".png";
      await p.screenshot({ path: join(shots, name), fullPage: true });
    }
    assert.deepEqual(p.errors, []);
    await p.close();
  }
});

test("the devices overview shows every device with units and a status word", async () => {
  const p = await page();
  await p.goto(base + "/");
  const tiles = p.locator(".tile");
  assert.equal(await tiles.count(), (await api("/api/v1/devices")).length, "a tile per device, the hostile one too");
  const text = await tiles.filter({ hasText: "demo-baseline" }).innerText();
  assert.match(text, /online|offline/);
  assert.match(text, /\d[\d,]* B/);
  assert.match(text, /floor/);
  await p.close();
});

/** The run a live chart's image shows, and its number of hover points. */
async function chartRunPoints(src) {
  const run = Number(/\/charts\/runs\/(\d+)\.svg/.exec(src)[1]);
  const hover = await (await fetch(base + src.replace(/\.svg/, ".json"))).json();
  return { run, points: hover.points.length };
}

test("the live chart grows as snapshots arrive", async () => {
  const devices = await api("/api/v1/devices");
  const d = devices.find((x) => x.name === "demo-tuned");
  const p = await page();
  await p.goto(base + "/devices/" + d.id);
  const chart = p.locator("[data-live-chart] img").first();
  const firstSrc = await chart.getAttribute("src");
  // The schedule's scenarios start new runs on this board; growth counts
  // within whichever run the chart shows.
  const first = new Map();
  const seen = await chartRunPoints(firstSrc);
  first.set(seen.run, seen.points);
  await waitFor("two live snapshots over SSE", async () => Number(await p.locator("[data-live-device]").getAttribute("data-snapshots") || 0) >= 2);
  await waitFor("the chart image to be re-requested", async () => (await chart.getAttribute("src")) !== firstSrc);
  await waitFor("more points in the chart", async () => {
    const now = await chartRunPoints(await chart.getAttribute("src"));
    if (!first.has(now.run)) { first.set(now.run, now.points); return false; }
    return now.points > first.get(now.run);
  });
  assert.notEqual(await p.locator('[data-field="hi"]').first().innerText(), "–");
  await p.screenshot({ path: join(shots, "live-device.png"), fullPage: true });
  await p.close();
});

test("the live chart follows the device into its next run", async () => {
  const devices = await api("/api/v1/devices");
  const d = devices.find((x) => x.name === "demo-flaky");
  const p = await page();
  await p.goto(base + "/devices/" + d.id);
  const charts = p.locator("[data-live-chart] img");
  const opened = (await chartRunPoints(await charts.first().getAttribute("src"))).run;
  // A reboot ends a live run and the next line opens another. This board's
  // HTTP sometimes answers 503 by design, so ask until it reboots.
  const next = await waitFor("demo-flaky to reboot into a new run", async () => {
    const active = (await api("/api/v1/devices/" + d.id)).live?.active_run;
    if (active != null && active !== opened) return active;
    await fetch(base + "/api/v1/devices/" + d.id + "/reboot", { method: "POST" });
    await new Promise((r) => setTimeout(r, 3000));
    return null;
  }, 60000);
  for (const img of await charts.all()) {
    await waitFor("the chart to show run " + next, async () => {
      const now = await chartRunPoints(await img.getAttribute("src"));
      return now.run === next && now.points > 0;
    });
  }
  assert.equal(await p.locator("figure[data-live-chart]").first().getAttribute("data-run"), String(next));
  assert.deepEqual(p.errors ?? [], []);
  await p.close();
});

/** The newest `n` runs that hold snapshots: the demo keeps opening live
 * runs, and one opened a moment ago has nothing to compare yet. */
async function runsWithSnapshots(n) {
  return waitFor(n + " runs with snapshots", async () => {
    const found = [];
    for (const r of await api("/api/v1/runs?limit=20")) {
      const detail = await api("/api/v1/runs/" + r.id);
      if ((detail.derived?.snapshots ?? 0) > 0) found.push(r.id);
      if (found.length === n) return found;
    }
    return null;
  });
}

test("picking two runs follows a comparison", async () => {
  const [newer, older] = await runsWithSnapshots(2);
  const p = await page();
  await p.goto(base + "/runs");
  const a = p.locator(`input[name="a"][value="${older}"]`);
  const b = p.locator(`input[name="b"][value="${newer}"]`);
  await a.check();
  await b.check();
  await p.getByRole("button", { name: /Compare A/ }).click();
  await p.waitForURL(/\/compare\?[ab]=\d+&[ab]=\d+/);
  assert.ok(await p.locator("table.deltas tbody tr").count() > 0);
  assert.match(await p.locator("main").innerText(), /better|worse|same/);
  await p.screenshot({ path: join(shots, "compare.png"), fullPage: true });
  await p.close();
});

test("dragging across a chart zooms it", async () => {
  const devices = await api("/api/v1/devices");
  const run = devices.find((x) => x.name === "demo-leak").live.active_run;
  const p = await page();
  await p.goto(base + "/runs/" + run);
  const img = p.locator("figure[data-chart] img").first();
  await img.scrollIntoViewIfNeeded();
  await waitFor("hover data", async () => (await p.evaluate(() => performance.getEntriesByType("resource").some((e) => e.name.includes(".json")))));
  const box = await img.boundingBox();
  await p.mouse.move(box.x + box.width * 0.35, box.y + box.height / 2);
  const tip = p.locator("figure[data-chart] .tip").first();
  await waitFor("a hover tooltip", async () => !(await tip.isHidden()));
  assert.match(await tip.innerText(), /UTC .* (B|%) · tag /);
  await p.mouse.down();
  await p.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2, { steps: 5 });
  await p.mouse.up();
  await waitFor("the zoomed chart", async () => /from=\d+&to=\d+/.test(await img.getAttribute("src")));
  assert.match(p.url(), /from=\d+&to=\d+/);
  await p.screenshot({ path: join(shots, "zoomed.png"), fullPage: true });
  await p.close();
});

test("hostile tags, task names and firmware strings render inert everywhere", async () => {
  const run = await hostileRun();
  const devices = await api("/api/v1/devices");
  const p = await page();
  for (const path of ["/runs/" + run, "/runs", "/compare?a=" + run + "&b=" + devices.find((d) => d.name === "demo-baseline").live.active_run, "/runs/" + run + "?q=script"]) {
    await p.goto(base + path);
    assert.equal(await p.locator("img[src='x']").count(), 0, path);
    const injected = await p.evaluate(() => Array.from(document.scripts).filter((s) => !s.src).length);
    assert.equal(injected, 0, path + ": no inline script");
    assert.equal(await p.locator("b:text('bold')").count(), 0, path + ": firmware markup is text");
  }
  await p.goto(base + "/runs/" + run);
  const text = await p.locator("main").innerText();
  assert.ok(text.includes(XSS_TAG), "the tag is shown as text");
  assert.ok(text.includes(XSS_TASK), "the task name is shown as text");
  for (const svg of ["/charts/runs/" + run + ".svg?metric=hi,hin", "/charts/compare.svg?a=" + run + "&b=" + run + "&metric=hin&align=tag"]) {
    const body = await (await fetch(base + svg)).text();
    assert.ok(body.startsWith("<svg") || body.startsWith("<?xml"), svg);
    assert.ok(!body.includes("<script"), svg + " has no script element");
    assert.ok(!body.includes("<img"), svg + " has no img element");
    assert.ok(body.includes("&lt;script&gt;"), svg + " shows the tag escaped");
  }
  // Open the SVG on its own too: nothing runs.
  await p.goto(base + "/charts/runs/" + run + ".svg?metric=hi,hin");
  await p.screenshot({ path: join(shots, "hostile-chart.png") });
  assert.deepEqual(p.errors, []);
  await p.close();
});

test("experiments: add a row, link a run, see the metric cells fill in", async () => {
  const devices = await api("/api/v1/devices");
  const run = devices.find((x) => x.name === "demo-baseline").live.active_run;
  const p = await page();
  await p.goto(base + "/experiments");
  const add = p.locator("details.add");
  if (!(await add.evaluate((d) => d.open))) await add.locator("summary").click();
  const form = p.locator('form[aria-label="Add an experiment"]');
  await form.locator('input[name="change"]').fill("Browser-made row: move JSON docs to PSRAM");
  await form.locator('input[name="board"]').fill("virtual");
  await form.locator('input[name="scenarios"]').fill("S1");
  await form.getByRole("button", { name: "Add" }).click();
  await p.waitForLoadState("load");
  const row = experimentRow(p, "Browser-made row");
  await waitFor("the new row", async () => (await row.count()) === 1);
  const hinCell = row.locator('[data-cell="hin_min"]');
  assert.equal((await hinCell.innerText()).trim(), "", "no runs, no metric yet");

  await row.locator("summary", { hasText: "Edit / link" }).click();
  await row.locator('input[name="run_id"]').fill(String(run));
  await row.getByRole("button", { name: "Link run" }).click();
  await waitFor("the computed hin_min cell", async () => {
    const text = (await experimentRow(p, "Browser-made row").locator('[data-cell="hin_min"]').innerText()).trim();
    return /^\d+/.test(text);
  });
  const filled = experimentRow(p, "Browser-made row");
  assert.match(await filled.locator('[data-cell="tripwire"]').innerText(), /fired|not fired/);
  assert.equal(await filled.locator(`a[href="/runs/${run}"]`).count(), 1, "the row links to its run");
  await p.screenshot({ path: join(shots, "experiments.png"), fullPage: true });

  // "Add to experiment" from another run's page.
  const other = devices.find((x) => x.name === "demo-tuned").live.active_run;
  await p.goto(base + "/runs/" + other);
  const link = p.locator("form[data-link-experiment]");
  const value = await link.locator("option", { hasText: "Browser-made row" }).getAttribute("value");
  await link.locator("select").selectOption(value);
  await link.getByRole("button", { name: "Add" }).click();
  await waitFor("the confirmation", async () => /Added to/.test(await link.locator(".api-result").innerText()));
  await p.goto(base + "/experiments");
  const both = experimentRow(p, "Browser-made row");
  assert.equal(await both.locator(`a[href="/runs/${other}"]`).count(), 1, "the second run is linked");
  assert.match(await both.locator('[data-cell="hin_min"]').innerText(), /–.*\(avg \d+\)/, "two runs: min–max (avg N)");
  assert.deepEqual(p.errors, []);
  await p.close();
});

/** Every page a person opens, by the name its screenshot gets in docs/img/. */
async function everyPage() {
  const devices = await api("/api/v1/devices");
  const baseline = devices.find((d) => d.name === "demo-baseline");
  const leak = devices.find((d) => d.name === "demo-leak");
  return [
    ["devices", "/"],
    ["device", "/devices/" + baseline.id],
    ["device-hostile", "/devices/" + hostile.device],
    ["runs", "/runs"],
    ["run", "/runs/" + leak.live.active_run],
    ["run-hostile", "/runs/" + hostile.run],
    ["compare", "/compare?a=" + hostile.run + "&b=" + hostile.demoRun],
    ["compare-picker", "/compare?q=hostile"],
    ["compare-groups", "/compare?a=g" + hostile.group + "&b=" + hostile.demoRun],
    ["group", "/groups/" + hostile.group],
    ["experiments", "/experiments"],
    ["alerts", "/alerts"],
    ["firmware", "/firmware"],
    ["login", "/login"],
  ];
}

/** Nothing a hostile string carried became markup or ran. */
async function assertInert(p, path) {
  assert.equal(await p.locator("img[src='x']").count(), 0, path + ": no injected img");
  assert.equal(await p.locator("svg[onload]").count(), 0, path + ": no injected svg");
  assert.equal(await p.locator("b:text('bold')").count(), 0, path + ": firmware markup is text");
  const inline = await p.evaluate(() => Array.from(document.scripts).filter((s) => !s.src).length);
  assert.equal(inline, 0, path + ": no inline script");
  assert.match(await p.title(), /heaplab$/, path + ": the title is whole (no markup closed it)");
}

test("every page: hostile strings inert, axe clean, screenshot in docs/img", async () => {
  const p = await page(1400);
  const serious = [];
  for (const [name, path] of await everyPage()) {
    const resp = await p.goto(base + path);
    assert.equal(resp.status(), 200, path);
    await p.waitForLoadState("networkidle").catch(() => {});
    await assertInert(p, path);
    const text = await p.locator("main").innerText();
    if (name === "devices" || name === "device-hostile") assert.ok(text.includes(XSS_DEVICE), path + " shows the device name as text");
    if (name === "group") assert.ok(text.includes(XSS_LABEL), path + " shows the label as text");
    if (name === "experiments") {
      assert.ok(text.includes(XSS_TEXT), path + " shows the change as text");
      assert.ok(text.includes(XSS_TAG), path + " shows branch@commit as text");
    }
    if (name === "run-hostile") assert.ok(text.includes(XSS_TAG) && text.includes(XSS_TASK), path);
    await p.screenshot({ path: join(docsImg, name + ".png") });
    // axe last: its script is the one inline script the page ever gets.
    await p.addScriptTag({ content: axeSource });
    const result = await p.evaluate(async () => await window.axe.run(document, { resultTypes: ["violations"] }));
    for (const v of result.violations) {
      if (v.impact === "serious" || v.impact === "critical") {
        serious.push(`${path}: ${v.id} (${v.impact}) ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`);
      }
    }
  }
  assert.deepEqual(serious, [], "axe: serious or critical violations");
  assert.deepEqual(p.errors, []);
  await p.close();
});

test("every chart SVG, sparklines included, carries hostile strings as text", async () => {
  const devices = await api("/api/v1/devices");
  const svgs = [
    ["/charts/runs/" + hostile.run + ".svg?metric=hi,hin", XSS_TAG],
    ["/charts/compare.svg?a=" + hostile.run + "&b=" + hostile.run + "&metric=hin&align=tag", XSS_TAG],
    ["/charts/compare.svg?a=" + hostile.run + "&b=" + hostile.demoRun + "&metric=hi&align=boot", null],
    ["/charts/groups/" + hostile.group + ".svg?metric=hin&align=tag", XSS_LABEL],
    ["/charts/groups/" + hostile.group + ".svg?metric=hi&align=boot", XSS_LABEL],
    ...devices.map((d) => ["/charts/devices/" + d.id + "/spark.svg", null]),
  ];
  const escaped = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  for (const [path, shown] of svgs) {
    const r = await fetch(base + path);
    assert.equal(r.status, 200, path);
    assert.match(r.headers.get("content-type"), /image\/svg\+xml/, path);
    const body = await r.text();
    assert.ok(body.startsWith("<svg") || body.startsWith("<?xml"), path);
    for (const bad of ["<script", "<img", "onerror=", "onload=", "<foreignObject"]) {
      assert.ok(!body.includes(bad), path + " has no " + bad);
    }
    if (shown) assert.ok(body.includes(escaped(shown).slice(0, 14)), path + " shows " + shown + " escaped");
  }
  // Opened on their own, the SVGs run nothing.
  const p = await page();
  for (const [path] of svgs) await p.goto(base + path);
  assert.deepEqual(p.errors, []);
  await p.close();
});

test("the compare picker finds a run as you type and copies its link", async () => {
  const p = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  p.errors = [];
  p.on("pageerror", (e) => p.errors.push(String(e)));
  await p.context().grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
  await p.goto(base + "/compare");
  await p.locator("[data-picker-search]").fill("hostile");
  assert.ok((await p.locator('form[data-picker] input[type="radio"][name="a"]').count()) > 2);
  await waitFor("the list to narrow to the hostile run", async () =>
    (await p.locator('form[data-picker] input[type="radio"][name="a"]').count()) === 1);
  assert.match(p.url(), /q=hostile/, "the address follows the search");
  await p.locator(`input[name="a"][value="${hostile.run}"]`).check();
  await p.locator("[data-picker-search]").fill("");
  await waitFor("the full list again", async () =>
    (await p.locator('form[data-picker] input[type="radio"][name="b"]').count()) > 2);
  // The demo boards' runs are still recording, and the picker says so:
  // their tags (the per-tag rows) keep growing between two page loads.
  assert.ok((await p.locator("form[data-picker] tr[data-active]").count()) > 0, "recording runs are marked");
  // B: the newest finished run listed other than A (the demo's schedule
  // keeps adding runs, so any given older run may be on a later page).
  const bRadio = p.locator(`form[data-picker] tr:not([data-active]) input[type="radio"][name="b"]:not([value="${hostile.run}"])`).first();
  const b = await bRadio.getAttribute("value");
  await bRadio.check();
  await p.getByRole("button", { name: "Compare A → B" }).click();
  await p.waitForURL(/\/compare\?/);
  assert.ok(await p.locator("table.deltas tbody tr").count() > 0);
  const copy = p.locator("[data-copy-link]");
  assert.ok(await copy.isVisible(), "the copy button shows once scripts run");
  await copy.click();
  await waitFor("the copied confirmation", async () => /Copied|Ctrl\+C/.test(await p.locator(".permalink .api-result").innerText()));
  const copied = await p.evaluate(() => navigator.clipboard.readText()).catch(() => null);
  if (copied !== null) assert.equal(copied, base + `/compare?a=${hostile.run}&b=${b}`);
  // The link opens the same comparison.
  const again = await browser.newPage();
  await again.goto(base + `/compare?a=${hostile.run}&b=${b}`);
  assert.equal(await again.locator("table.deltas tbody tr").count(), await p.locator("table.deltas tbody tr").count());
  // At 1400 px, nothing but the tables' own wrappers scrolls sideways.
  const wide = await p.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
  assert.equal(wide, false, "the page does not scroll sideways at 1400 px");
  const inWraps = await p.evaluate(() => Array.from(document.querySelectorAll("table.deltas td.nowrap")).every((td) => {
    const range = document.createRange();
    range.selectNodeContents(td);
    return new Set(Array.from(range.getClientRects()).map((r) => Math.round(r.top))).size === 1;
  }));
  assert.ok(inWraps, "the In column reads on one line");
  assert.deepEqual(p.errors, []);
  await again.close();
  await p.close();
});

test("a group page adds its group to a new experiment without JavaScript", async () => {
  const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1400, height: 900 } });
  const p = await context.newPage();
  await p.goto(base + "/groups/" + hostile.group);
  const form = p.locator('form[aria-label="Add this group to an experiment"]');
  await form.locator("select").selectOption("new");
  await form.locator('input[name="change"]').fill("Browser-made group row");
  await form.getByRole("button", { name: /Add group/ }).click();
  await p.waitForURL(/\/experiments#exp-\d+/);
  const row = experimentRow(p, "Browser-made group row");
  assert.equal(await row.count(), 1);
  assert.equal(await row.locator(`a[href="/groups/${hostile.group}"]`).count(), 1, "the row links the group");
  assert.match(await row.locator('[data-cell="hin_min"]').innerText(), /\d/, "metric cells come from the group's runs");
  await context.close();
});
