// The demo's story in real headless Chromium: start `heaplab demo` with a
// quick schedule, follow the links it prints, and check that each page
// shows what docs/demo.md promises. Screenshots go to
// target/browser-screenshots/demo-*.png for review.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const bin = process.env.HEAPLAB_BIN
  || join(process.env.CARGO_TARGET_DIR || join(root, "target"), "debug/heaplab");
const shots = join(root, "target/browser-screenshots");
mkdirSync(shots, { recursive: true });

let server, browser, work, base;
const printed = [];

async function waitFor(what, fn, timeoutMs = 60000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error("timed out waiting for " + what + "\n" + printed.join("\n"));
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The first printed line containing `needle`. */
const line = (needle) => waitFor(needle, async () => printed.find((l) => l.includes(needle)));

async function api(path) {
  const r = await fetch(base + path);
  if (!r.ok) throw new Error(path + " → " + r.status);
  return r.json();
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), "heaplab-demo-browser-"));
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith("HEAPLAB_")) delete env[k];
  server = spawn(bin, ["--db", join(work, "demo.db"), "demo", "--bind", "127.0.0.1:0",
    "--hb-interval", "300", "--repeat", "2", "--settle", "500ms", "--every", "1h"],
    { stdio: ["ignore", "pipe", "inherit"], env });
  let exited = null;
  server.on("exit", (code) => { exited = code; });
  createInterface({ input: server.stdout }).on("line", (l) => printed.push(l));
  const banner = await waitFor("the banner", async () => {
    if (exited !== null) throw new Error("heaplab demo exited with " + exited);
    return printed.find((l) => l.startsWith("heaplab demo: open "));
  });
  base = banner.slice("heaplab demo: open ".length).trim();
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

/** A page that fails the test on any dialog or JS error. */
async function page() {
  const p = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  p.on("dialog", (d) => { d.dismiss(); throw new Error("a dialog opened: " + d.message()); });
  p.errors = [];
  p.on("pageerror", (e) => p.errors.push(String(e)));
  return p;
}

test("the banner says where to look and how to stop", async () => {
  const text = printed.join("\n");
  for (const board of ["demo-baseline", "demo-tuned", "demo-leak", "demo-crash", "demo-flaky"]) {
    assert.match(text, new RegExp(board));
  }
  assert.match(text, /Ctrl-C/);
});

test("the S2 groups compare as FAIL → PASS and a real change", async () => {
  const announced = await line("round 1, S2:");
  const url = announced.slice(announced.indexOf("compare: ") + "compare: ".length).trim();
  const p = await page();
  assert.equal((await p.goto(url)).status(), 200);
  const body = await p.locator("main").innerText();
  assert.match(body, /\(0 of 2 pass\)/);
  assert.match(body, /\(2 of 2 pass\)/);
  const hin = p.locator("tr", { has: p.locator("td", { hasText: /^hin_min$/ }) }).first();
  assert.match(await hin.innerText(), /real change \(better\)/);
  await p.screenshot({ path: join(shots, "demo-compare-groups.png"), fullPage: true });
  assert.deepEqual(p.errors, []);
  await p.close();
});

test("a baseline S2 run fails on its tripwire and shows the task dump", async () => {
  await line("round 1, S2:");
  const devices = await api("/api/v1/devices");
  const id = devices.find((d) => d.name === "demo-baseline").id;
  const runs = await api(`/api/v1/runs?device=${id}&scenario=s2`);
  const run = runs.find((r) => r.kind === "scenario" && r.status !== "active");
  const p = await page();
  assert.equal((await p.goto(base + "/runs/" + run.id)).status(), 200);
  const body = await p.locator("main").innerText();
  assert.match(body, /FAIL/);
  assert.match(body, /fired at http_root/);
  // The task dump that followed the tripwire: ipc0's 76 B margin at http_root.
  const ipc0 = p.locator("tr", { has: p.locator("td", { hasText: /^ipc0$/ }) }).first();
  const dumped = await ipc0.innerText();
  assert.match(dumped, /76 B/);
  assert.match(dumped, /http_root/);
  await p.screenshot({ path: join(shots, "demo-tripwire-run.png"), fullPage: true });
  assert.deepEqual(p.errors, []);
  await p.close();
});

test("the crash run decodes its backtrace to firmware/src", async () => {
  const announced = await line("demo-crash crashed");
  const url = announced.slice(announced.indexOf("http")).trim();
  const p = await page();
  assert.equal((await p.goto(url)).status(), 200);
  const frames = p.locator("table.frames");
  await frames.first().waitFor();
  const text = await frames.first().innerText();
  assert.match(text, /macro_config_uses_icon/);
  assert.match(text, /firmware\/src\/icon_store\.cpp:110/);
  assert.match(text, /handle_gc/);
  await p.screenshot({ path: join(shots, "demo-crash-run.png"), fullPage: true });
  assert.deepEqual(p.errors, []);
  await p.close();
});

test("the experiments log starts from the example, filled from the groups", async () => {
  await line("round 1, S6:");
  const p = await page();
  assert.equal((await p.goto(base + "/experiments")).status(), 200);
  const row = p.locator("tbody tr")
    .filter({ has: p.locator("td", { hasText: /^demo-baseline$/ }) })
    .filter({ has: p.locator("td", { hasText: /^S2 \(portal load\)$/ }) });
  assert.equal(await row.count(), 1);
  const hin = await row.locator('[data-cell="hin_min"]').innerText();
  assert.match(hin, /\d+/);
  assert.match(hin, /⚙/, "computed from the linked group");
  await p.screenshot({ path: join(shots, "demo-experiments.png"), fullPage: true });
  assert.deepEqual(p.errors, []);
  await p.close();
});

test("the leak alert is in the alert history", async () => {
  await waitFor("the leak alert", async () => {
    const a = await api("/api/v1/alerts");
    return a.alerts.some((x) => x.kind === "leak_above" && x.device_name === "demo-leak");
  });
  const p = await page();
  assert.equal((await p.goto(base + "/alerts")).status(), 200);
  assert.match(await p.locator("main").innerText(), /demo-leak: leaking/);
  await p.screenshot({ path: join(shots, "demo-alerts.png"), fullPage: true });
  assert.deepEqual(p.errors, []);
  await p.close();
});
