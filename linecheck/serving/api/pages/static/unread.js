// Frames whose code could not be read: look at the label (zoom, pan, brightness), type the code, assign it.

import { getJson, lines, postJson } from "./api.js";
import { el, fmtShort, fmtTime, onFilterChange, replace, typingInField } from "./dom.js";
import { drawCrop } from "./frame_view.js";
import { initShell, showError, showMessage, whoAmI } from "./shell.js";
import { FrameViewer } from "./viewer.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(window.location.search);
const view = { items: [], selected: -1, lines: new Map(), total: 0 };
let viewer = null;

function listItem(item, index) {
  const thumb = el("canvas", { class: "thumb", width: 60, height: 60 });
  drawCrop(thumb, { cropRef: null, frameRef: item.image_ref, bbox: [0, 0, item.image_width, item.image_height],
    width: item.image_width, height: item.image_height, maxSize: 60 }).catch(() => {});
  return el("li", { class: "unread-item", role: "option", "aria-selected": "false",
    dataset: { inspectionId: item.id, index }, onclick: () => select(index) },
  thumb, el("div", { class: "queue-text" }, el("strong", {}, `${item.line_id} · ${item.station}`),
    el("span", { class: "muted" }, fmtShort(item.captured_at)),
    el("span", { class: "muted" }, `${item.verdict}${item.defect_count ? ` · ${item.defect_count} defect(s)` : ""}`)));
}

async function select(index) {
  if (!view.items.length) {
    view.selected = -1;
    $("unread-detail").hidden = true;
    return;
  }
  view.selected = Math.max(0, Math.min(index, view.items.length - 1));
  for (const li of $("unread-list").children) li.setAttribute("aria-selected", String(Number(li.dataset.index) === view.selected));
  const item = view.items[view.selected];
  const line = view.lines.get(item.line_id);
  $("unread-detail").hidden = false;
  $("unread-detail").dataset.inspectionId = item.id;
  $("unread-title").textContent = `Frame ${item.id}`;
  $("unread-facts").textContent = `${item.line_id} / ${item.station} · captured ${fmtTime(item.captured_at)} · ` +
    `${item.verdict}${item.reason ? ` · ${item.reason}` : ""}`;
  $("assign-pattern").textContent = line ? `pattern ${line.config.code_pattern || "(any)"}` : "";
  $("assign-code").pattern = line && line.config.code_pattern ? line.config.code_pattern.replace(/^\^|\$$/g, "") : ".*";
  $("assign-code").value = "";
  await viewer.show({ ref: item.image_ref, width: item.image_width, height: item.image_height, boxes: [] }).catch(showError);
  $("assign-code").focus();
}

async function load(selectId) {
  const lineId = $("unread-line").value;
  try {
    const page = await getJson("/v1/inspections", { code_status: "code_unread", line_id: lineId, limit: 200 });
    view.items = page.items;
    view.total = page.total;
    replace($("unread-list"), view.items.map(listItem));
    $("unread-total").textContent = `${page.total}${page.total_exact ? "" : "+"} waiting`;
    $("unread-empty").hidden = view.items.length > 0;
    const at = selectId ? view.items.findIndex((i) => i.id === selectId) : 0;
    await select(Math.max(0, at));
  } catch (exc) {
    showError(exc);
  }
}

async function assign(event) {
  event.preventDefault();
  const item = view.items[view.selected];
  const code = $("assign-code").value.trim();
  if (!item || !code) return;
  try {
    const done = await postJson(`/v1/inspections/${encodeURIComponent(item.id)}/code`, { code });
    showMessage(`Frame ${done.id} now belongs to ${done.code}.`);
    $("unread").dataset.lastAssigned = `${done.id}:${done.code}`;
    const index = view.selected;
    await load();
    await select(Math.min(index, view.items.length - 1));
  } catch (exc) {
    showError(exc);
  }
}

function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey || typingInField(event)) return;
  const actions = {
    j: () => select(view.selected + 1),
    k: () => select(view.selected - 1),
    "+": () => viewer.zoomBy(1.25),
    "-": () => viewer.zoomBy(0.8),
    0: () => viewer.fit(),
  };
  if (!actions[event.key]) return;
  event.preventDefault();
  actions[event.key]();
}

async function start(who) {
  $("assign-button").disabled = !(who && who.may_review);
  if (!(who && who.may_review)) $("assign-button").title = "needs a reviewer key";
  try {
    const registered = await lines();
    view.lines = new Map(registered.map((l) => [l.id, l]));
    replace($("unread-line"), el("option", { value: "" }, "all lines"), registered.map((l) => el("option", { value: l.id }, l.id)));
    $("unread-line").value = params.get("line_id") || "";
  } catch (exc) {
    showError(exc);
    return;
  }
  await load(params.get("inspection"));
  document.body.dataset.ready = "true";
}

viewer = new FrameViewer($("unread-canvas"));
$("u-zoom-in").addEventListener("click", () => viewer.zoomBy(1.25));
$("u-zoom-out").addEventListener("click", () => viewer.zoomBy(0.8));
$("u-zoom-fit").addEventListener("click", () => viewer.fit());
const filter = () => viewer.setFilter(Number($("u-brightness").value), Number($("u-contrast").value));
$("u-brightness").addEventListener("input", filter);
$("u-contrast").addEventListener("input", filter);
onFilterChange($("unread-line"), () => load());
$("assign-form").addEventListener("submit", assign);
document.addEventListener("keydown", onKey);
initShell((who) => start(who || whoAmI()));
