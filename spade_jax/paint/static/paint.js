// The paint page: a label map of class ids (Uint8Array, model resolution), drawn with integer
// tools, sent as a single-channel id PNG to the server on every stroke end; the result beside it.
// Everything comes from this server (GET /api/model says what the model takes).

import {encodePNG} from "./png.js";
import {stamp, line, rect, fill, same, History} from "./tools.js";
import {mountControls, el} from "./controls.js";

const $ = (id) => document.getElementById(id);
const KEYS = "1234567890";

const app = {
  model: null, w: 0, h: 0, ids: null, cls: 0, tool: "brush", size: 4,
  history: new History(), seq: 0, shown: 0, pending: 0, renders: 0, lastResult: null,
  keyHandlers: {}, controls: null, errors: 0,
};
window.paint = app; // for scripts and the browser tests

// ----- server calls -----
function showError(message) {
  app.errors++;
  const box = $("error");
  box.textContent = message;
  box.hidden = false;
}
function clearError() { $("error").hidden = true; $("error").textContent = ""; }

async function api(path, body, params = {}) {
  const qs = new URLSearchParams(params).toString();
  let res;
  try {
    const init = {};
    if (body !== undefined) { // sent as bytes (the browser's request log then shows them, too)
      init.method = "POST";
      init.headers = {"Content-Type": body.type || "application/octet-stream"};
      init.body = new Uint8Array(await body.arrayBuffer());
    }
    res = await fetch(path + (qs ? "?" + qs : ""), init);
  } catch (e) {
    showError(`${path}: the paint server does not answer (${e.message}); is paint.py still running?`);
    return null;
  }
  if (res.status === 409) return null; // superseded: a newer request of ours is on its way
  if (!res.ok) {
    let msg = `${path}: HTTP ${res.status}`;
    try { msg = (await res.json()).error || msg; } catch (e) { /* not JSON */ }
    showError(msg);
    return null;
  }
  return res;
}

function idsBlob() { return encodePNG(app.ids, app.w, app.h, 1); }

function colourPixels() {
  const out = new Uint8Array(app.w * app.h * 3);
  for (let i = 0; i < app.ids.length; i++) out.set(app.model.classes[app.ids[i]].color, i * 3);
  return out;
}

const colourPNG = () => encodePNG(colourPixels(), app.w, app.h, 3);
app.idsPNG = () => idsBlob();
app.colourPNG = colourPNG; // what the export buttons download (for scripts and the tests)

function query() { return app.controls ? app.controls.query() : {}; }

const statusParts = {render: "", variations: ""};
function setStatus(part, text) {
  const m = app.model;
  if (part) statusParts[part] = text;
  const step = m.step === null ? "" : ` · step ${m.step}`;
  const extra = [statusParts.render, statusParts.variations].filter(Boolean).join(" · ");
  $("status").textContent = `${m.family} · ${m.source}${step} · ${m.image_size[0]}×${m.image_size[1]} · ` +
    `${m.classes.length} classes${extra ? " · " + extra : ""}`;
}

function busy(delta) {
  app.pending += delta;
  $("spinner").hidden = app.pending <= 0;
}

async function render() {
  const missing = app.controls && app.controls.missing();
  if (missing) { showError(missing); return; }
  const seq = ++app.seq;
  const params = query();
  const t0 = performance.now();
  busy(1);
  try {
    const res = await api("/api/generate", await idsBlob(), params);
    if (!res || seq < app.shown) return;
    const blob = await res.blob();
    if (seq < app.shown) return;
    app.shown = seq;
    const img = $("result");
    if (img.src) URL.revokeObjectURL(img.src);
    img.src = URL.createObjectURL(blob);
    img.dataset.seq = seq;
    const seed = res.headers.get("X-Seed");
    app.lastResult = {seq, seed, params, model_ms: +res.headers.get("X-Render-Ms"),
                      server_ms: +res.headers.get("X-Server-Ms"), total_ms: performance.now() - t0};
    app.renders++;
    clearError();
    setStatus("render", `rendered in ${app.lastResult.total_ms.toFixed(0)} ms (server ${app.lastResult.server_ms.toFixed(0)} ms, ` +
              `model ${app.lastResult.model_ms.toFixed(0)} ms)${seed !== null ? " · seed " + seed : ""}`);
  } finally {
    busy(-1);
  }
}

async function variations() {
  busy(1);
  try {
    const res = await api("/api/variations", await idsBlob(), query());
    if (!res) return;
    const data = await res.json();
    const box = $("variations");
    box.replaceChildren();
    data.seeds.forEach((seed, k) => {
      const img = el("img", {src: "data:image/png;base64," + data.images[k], alt: `seed ${seed}`});
      box.append(el("figure", {"data-seed": seed, title: "use this seed",
                               onclick: () => { app.controls.get("seed").set(seed); render(); }},
                    img, el("figcaption", {}, `seed ${seed}`)));
    });
    box.hidden = false;
    setStatus("variations", `${data.seeds.length} variations in ${data.server_ms.toFixed(0)} ms`);
  } finally {
    busy(-1);
  }
}

// ----- drawing -----
let lut = null;
function redraw() {
  const ctx = $("draw").getContext("2d");
  const img = ctx.createImageData(app.w, app.h);
  for (let i = 0; i < app.ids.length; i++) img.data.set(lut[app.ids[i]], i * 4);
  ctx.putImageData(img, 0, 0);
}

function setIds(ids, {record = true, draw = true} = {}) {
  if (ids.length !== app.ids.length) throw new Error(`label map of ${ids.length} pixels, expected ${app.ids.length}`);
  if (record && !same(ids, app.ids)) app.history.push(app.ids.slice());
  app.ids = Uint8Array.from(ids);
  redraw();
  if (draw) render();
}
app.getIds = () => Array.from(app.ids);
app.setIds = (ids) => setIds(ids);

function selectClass(id) {
  app.cls = id;
  const c = app.model.classes[id];
  $("current-swatch").style.background = `rgb(${c.color.join(",")})`;
  $("current-name").textContent = c.name;
  for (const tr of document.querySelectorAll("#legend tbody tr")) tr.classList.toggle("selected", +tr.dataset.class === id);
}

function selectTool(tool) {
  app.tool = tool;
  for (const b of document.querySelectorAll("#tool-buttons button")) b.classList.toggle("active", b.dataset.tool === tool);
}

function setSize(size) {
  app.size = Math.max(1, Math.min(+$("size").max, size));
  $("size").value = app.size;
  $("size-out").textContent = app.size;
}

function point(ev) {
  const r = $("draw").getBoundingClientRect();
  return [(ev.clientX - r.left) / r.width * app.w, (ev.clientY - r.top) / r.height * app.h];
}

let op = null; // the stroke in progress: {tool, cls, before, start, last}
function pickAt(x, y) {
  const xi = Math.floor(x), yi = Math.floor(y);
  if (xi >= 0 && xi < app.w && yi >= 0 && yi < app.h) selectClass(app.ids[yi * app.w + xi]);
}

function onDown(ev) {
  if (ev.button !== 0) return;
  const [x, y] = point(ev);
  if (ev.altKey || app.tool === "picker") { pickAt(x, y); return; }
  $("draw").setPointerCapture(ev.pointerId);
  const cls = app.tool === "eraser" ? app.model.eraser : app.cls;
  op = {tool: app.tool, cls, before: app.ids.slice(), start: [x, y], last: [x, y]};
  if (op.tool === "fill") { fill(app.ids, app.w, app.h, x, y, cls); return finish(); }
  apply(x, y);
}

function apply(x, y) {
  const {tool, cls, start, last} = op;
  if (tool === "brush" || tool === "eraser") line(app.ids, app.w, app.h, last[0], last[1], x, y, app.size, cls);
  else {
    app.ids.set(op.before); // preview from the state at the press
    if (tool === "line") line(app.ids, app.w, app.h, start[0], start[1], x, y, app.size, cls);
    else if (tool === "rect") rect(app.ids, app.w, app.h, start[0], start[1], x, y, cls);
  }
  op.last = [x, y];
  redraw();
}

function finish() {
  const before = op.before;
  op = null;
  redraw();
  if (!same(before, app.ids)) { app.history.push(before); render(); }
}

function undo() {
  if (op) return;
  const prev = app.history.back(app.ids);
  if (prev) { app.ids = prev; redraw(); render(); }
}
function redo() {
  if (op) return;
  const next = app.history.forward(app.ids);
  if (next) { app.ids = next; redraw(); render(); }
}

// ----- import / export -----
function b64ids(s) { return Uint8Array.from(atob(s), (ch) => ch.charCodeAt(0)); }

async function loadIdsFrom(res) {
  if (!res) return;
  const data = await res.json();
  setIds(b64ids(data.ids));
  return data;
}

function download(blob, name) {
  const a = el("a", {href: URL.createObjectURL(blob), download: name});
  document.body.append(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}

// ----- set-up -----
function buildLegend() {
  const body = document.querySelector("#legend tbody");
  for (const c of app.model.classes) {
    const tr = el("tr", {"data-class": c.id, onclick: () => selectClass(c.id)},
                  el("td", {class: "key"}, c.id < KEYS.length ? KEYS[c.id] : ""),
                  el("td", {}, el("span", {class: "swatch", style: `background: rgb(${c.color.join(",")})`})),
                  el("td", {class: "name"}, c.name + (c.id === app.model.eraser ? " (eraser)" : "")));
    body.append(tr);
  }
}

function bindKeys() {
  const tools = {b: "brush", l: "line", r: "rect", f: "fill", e: "eraser", i: "picker"};
  document.addEventListener("keydown", (ev) => {
    if (ev.target.tagName === "INPUT" && ["number", "text"].includes(ev.target.type)) return; // typing a value
    const k = ev.key.toLowerCase();
    if ((ev.ctrlKey || ev.metaKey) && k === "z") { ev.preventDefault(); return ev.shiftKey ? redo() : undo(); }
    if ((ev.ctrlKey || ev.metaKey) && k === "y") { ev.preventDefault(); return redo(); }
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const n = KEYS.indexOf(ev.key);
    if (n >= 0 && n < app.model.classes.length) return selectClass(n);
    if (tools[k]) return selectTool(tools[k]);
    if (ev.key === "[") return setSize(app.size - 1);
    if (ev.key === "]") return setSize(app.size + 1);
    if (app.keyHandlers[k]) app.keyHandlers[k]();
  });
}

async function main() {
  const res = await api("/api/model");
  if (!res) return;
  const m = app.model = await res.json();
  [app.h, app.w] = m.image_size;
  lut = m.classes.map((c) => [...c.color, 255]);
  const canvas = $("draw");
  canvas.width = app.w;
  canvas.height = app.h;
  canvas.style.aspectRatio = `${app.w} / ${app.h}`;
  $("result").style.aspectRatio = `${app.w} / ${app.h}`;
  app.ids = new Uint8Array(app.w * app.h).fill(m.eraser);
  $("size").max = Math.max(2, Math.floor(Math.max(app.w, app.h) / 2));
  setSize(Math.max(1, Math.round(Math.max(app.w, app.h) / 16)));
  buildLegend();
  const cells = new Map([...document.querySelectorAll("#legend tbody tr")].map((tr) => [+tr.dataset.class, tr]));
  app.controls = mountControls(m, {
    model: m, panel: $("controls"), render, variations, api,
    onKey: (k, fn) => { app.keyHandlers[k] = fn; },
    legendHeader: (text) => document.querySelector("#legend thead tr").append(el("th", {}, text)),
    legendCell: (id) => { const td = el("td"); cells.get(id).append(td); return td; },
  });
  selectClass(Math.min(m.classes.length - 1, m.eraser === 0 ? 1 : 0));
  selectTool("brush");
  bindKeys();

  canvas.addEventListener("pointerdown", onDown);
  canvas.addEventListener("pointermove", (ev) => { if (op) apply(...point(ev)); });
  canvas.addEventListener("pointerup", () => { if (op) finish(); });
  canvas.addEventListener("pointercancel", () => { if (op) finish(); });
  for (const b of document.querySelectorAll("#tool-buttons button")) b.addEventListener("click", () => selectTool(b.dataset.tool));
  $("size").addEventListener("input", () => setSize(+$("size").value));
  $("undo").addEventListener("click", undo);
  $("redo").addEventListener("click", redo);
  $("clear").addEventListener("click", () => setIds(new Uint8Array(app.ids.length).fill(m.eraser)));
  $("example").addEventListener("click", async () => loadIdsFrom(await api("/api/example")));
  $("import").addEventListener("change", async () => {
    const file = $("import").files[0];
    $("import").value = "";
    if (file) await loadIdsFrom(await api("/api/labels", file));
  });
  $("export-ids").addEventListener("click", async () => download(await idsBlob(), "labels.png"));
  $("export-colours").addEventListener("click", async () => download(await colourPNG(), "labels_colour.png"));
  $("export-result").addEventListener("click", async () => {
    const r = await api("/api/export", await idsBlob(), query());
    if (r) download(await r.blob(), "paint_export.zip");
  });
  redraw();
  await render();
  app.ready = true;
}

main().catch((e) => showError(`paint page: ${e.message}`));
