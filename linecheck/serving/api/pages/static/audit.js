// Pass audit: the passed frames the inspector kept for audit (samples and near misses), one at a time. "o"
// records that nothing was missed; "d" draws the defect the model missed (a reviewer-drawn defect), then "x"
// records the escape. A near miss (a detection just under its threshold) carries a badge.

import { getJson, lines, postJson } from "./api.js";
import {
  actorName, badge, classChip, el, fmtShort, fmtTime, onFilterChange, replace, typingInField,
} from "./dom.js";
import { drawCrop } from "./frame_view.js";
import { describeError, initShell, showError, showMessage, whoAmI } from "./shell.js";
import { FrameViewer } from "./viewer.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(window.location.search);
const PAGE = 200;
const view = { items: [], selected: -1, lines: new Map(), total: 0, busy: false, picking: false };
let viewer = null;

function mayReview() {
  const who = whoAmI();
  return Boolean(who && who.may_review);
}

/** Drawn defects that still count (a rejected one does not make an escape). */
function kept(item) {
  return item.drawn_defects.filter((d) => d.review_state !== "rejected");
}

function classesOf(item) {
  const line = view.lines.get(item.line_id);
  return line ? line.config.classes : [];
}

/** The "near miss" badge of a frame kept because a detection came close to its threshold (else nothing). */
function nearMiss(item) {
  return item.audit_borderline
    ? [" ", el("span", { class: "badge badge-near", title: "a detection came just under its threshold: not in the escape rate" }, "near miss")]
    : null;
}

function listItem(item, index) {
  const thumb = el("canvas", { class: "thumb", width: 60, height: 60 });
  drawCrop(thumb, { cropRef: null, frameRef: item.image_ref, bbox: [0, 0, item.image_width, item.image_height],
    width: item.image_width, height: item.image_height, maxSize: 60 }).catch(() => {});
  const state = item.audit ? item.audit.outcome : "pending";
  return el("li", { class: "unread-item", role: "option", "aria-selected": "false",
    dataset: { inspectionId: item.inspection_id, index, state, nearMiss: String(item.audit_borderline) },
    onclick: () => select(index) },
  thumb, el("div", { class: "queue-text" }, el("strong", {}, item.code || item.inspection_id, nearMiss(item)),
    el("span", { class: "muted" }, `${item.station} · ${fmtShort(item.captured_at)}`),
    el("span", {}, badge(state === "pending" ? "to audit" : state, state === "escape" ? "bad" : state === "ok" ? "ok" : "pending"),
      kept(item).length ? ` ${kept(item).length} drawn` : "")));
}

function boxes(item) {
  return item.drawn_defects.map((d) => ({
    id: d.id, bbox: d.final_bbox || d.bbox, class_name: d.final_class, rejected: d.review_state === "rejected",
  }));
}

function refreshButtons() {
  const item = view.items[view.selected];
  const allowed = mayReview();
  const drawn = item ? kept(item).length : 0;
  for (const button of document.querySelectorAll(".needs-review")) {
    if (button.dataset.title === undefined) button.dataset.title = button.title;
    button.disabled = !allowed || !item;
    button.title = allowed ? button.dataset.title : "needs a reviewer key (linecheck keys create --role reviewer)";
  }
  if (allowed && item) {
    $("btn-ok").disabled = drawn > 0;
    $("btn-escape").disabled = drawn === 0;
  }
  $("audit-detail").dataset.drawn = String(drawn);
}

function renderDetail(item) {
  $("audit-detail").hidden = false;
  $("audit-detail").dataset.inspectionId = item.inspection_id;
  $("audit-title").textContent = item.code ? `Unit ${item.code}` : `Frame ${item.inspection_id}`;
  replace($("audit-status"), item.audit ? badge(item.audit.outcome, item.audit.outcome === "escape" ? "bad" : "ok")
    : badge("to audit", "pending"));
  replace($("audit-facts"), `${item.line_id} / ${item.station}${item.product ? ` · ${item.product}` : ""} · ` +
    `captured ${fmtTime(item.captured_at)} · passed by ${item.model_name ? `${item.model_name} v${item.model_version}` : "—"}`,
  nearMiss(item));
  replace($("audit-drawn"), item.drawn_defects.length
    ? item.drawn_defects.map((d) => el("li", { dataset: { defectId: d.id } }, classChip(d.final_class), " ",
      badge(d.review_state), ` #${d.id}`))
    : el("li", { class: "muted" }, "none"));
  $("audit-done").textContent = item.audit
    ? `${item.audit.outcome} by ${actorName(item.audit.actor, item.audit.actor_name)} at ${fmtTime(item.audit.at)}` +
      (item.audit.comment ? ` — “${item.audit.comment}”` : "")
    : "not audited yet";
  refreshButtons();
}

async function select(index) {
  closePicker();
  setDraw(false);
  if (!view.items.length) {
    view.selected = -1;
    $("audit-detail").hidden = true;
    return;
  }
  view.selected = Math.max(0, Math.min(index, view.items.length - 1));
  for (const li of $("audit-list").children) {
    const on = Number(li.dataset.index) === view.selected;
    li.setAttribute("aria-selected", String(on));
    if (on) li.scrollIntoView({ block: "nearest" });
  }
  const item = view.items[view.selected];
  renderDetail(item);
  await viewer.show({ ref: item.image_ref, width: item.image_width, height: item.image_height, boxes: boxes(item) })
    .catch(showError);
  $("audit-canvas").dataset.inspectionId = item.inspection_id;
}

function renderList() {
  replace($("audit-list"), view.items.map(listItem));
  const what = { pending: "to audit", audited: "audited", all: "kept for audit" }[$("audit-state").value];
  $("audit-total").textContent = `${view.total} ${what}`;
  $("audit-empty").hidden = view.items.length > 0;
}

async function load(selectIndex = 0) {
  const lineId = $("audit-line").value;
  const state = $("audit-state").value;
  const reason = $("audit-reason").value;
  history.replaceState(null, "", `?line_id=${encodeURIComponent(lineId)}${state === "pending" ? "" : `&state=${state}`}` +
    (reason ? `&reason=${reason}` : ""));
  $("audit").setAttribute("aria-busy", "true");
  try {
    const page = await getJson("/v1/review/audit", { line_id: lineId, state, reason, limit: PAGE });
    view.items = page.items;
    view.total = page.total;
    renderList();
    await select(selectIndex);
  } catch (exc) {
    showError(exc);
  } finally {
    $("audit").setAttribute("aria-busy", "false");
  }
}

async function audit(outcome) {
  const item = view.items[view.selected];
  if (!item || view.busy) return;
  if (outcome === "escape" && !kept(item).length && mayReview()) {
    showMessage("Draw the missed defect first (d), then press x: an escape names what the model missed.", "error");
    return;
  }
  const body = { outcome };
  const comment = $("audit-comment").value.trim();
  if (comment) body.comment = comment;
  view.busy = true;
  $("audit-detail").setAttribute("aria-busy", "true");
  try {
    const done = await postJson(`/v1/inspections/${encodeURIComponent(item.inspection_id)}/audit`, body);
    $("audit-comment").value = "";
    $("audit").dataset.lastAudit = `${done.inspection_id}:${done.outcome}`;
    showMessage(outcome === "ok" ? `${item.code}: OK, nothing missed.` : `${item.code}: escape recorded.`);
    if ($("audit-state").value === "pending") {
      view.items.splice(view.selected, 1);
      view.total -= 1;
      if (!view.items.length && view.total > 0) {
        await load(0);  // the page is done: the next frames kept for audit
        return;
      }
      renderList();
      await select(view.selected);
    } else {
      item.audit = done;
      renderList();
      await select(view.selected + 1);
    }
  } catch (exc) {
    showError(exc);
    $("audit-detail").dataset.lastError = describeError(exc);
  } finally {
    view.busy = false;
    $("audit-detail").setAttribute("aria-busy", "false");
  }
}

// ---- drawing the missed defect ---------------------------------------------------------------

function setDraw(on) {
  viewer.setMode(on ? "draw" : "view");
  viewer.clearDraft();
  $("btn-draw").setAttribute("aria-pressed", String(on));
}

function openPicker() {
  const item = view.items[view.selected];
  if (!item) return;
  view.picking = true;
  replace($("picker-list"), classesOf(item).map((name, i) => el("li", {},
    el("button", { type: "button", class: "picker-choice", dataset: { className: name }, onclick: () => addDrawn(name) },
      el("kbd", {}, String(i + 1)), " ", classChip(name)))));
  $("picker").hidden = false;
}

function closePicker() {
  $("picker").hidden = true;
  if (view.picking) viewer.clearDraft();
  view.picking = false;
}

async function addDrawn(className) {
  const item = view.items[view.selected];
  const draft = viewer.draft;
  $("picker").hidden = true;
  view.picking = false;
  if (!item || !draft) return;
  try {
    const added = await postJson(`/v1/inspections/${encodeURIComponent(item.inspection_id)}/defects`,
      { class_name: className, bbox: draft, comment: "missed by the model (pass audit)" });
    item.drawn_defects.push(added);
    showMessage(`Missed ${added.final_class} drawn on ${item.code}: press x to record the escape.`);
  } catch (exc) {
    showError(exc);
  }
  setDraw(false);
  viewer.setBoxes(boxes(item));
  renderDetail(item);
  renderList();
  for (const li of $("audit-list").children) li.setAttribute("aria-selected", String(Number(li.dataset.index) === view.selected));
}

function onDraft(_box, how) {
  if (how === "draw") openPicker();
}

function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey || typingInField(event)) return;
  if (!$("help").hidden) return;
  if (!$("picker").hidden) {
    const item = view.items[view.selected];
    const classes = item ? classesOf(item) : [];
    const index = Number(event.key) - 1;
    if (event.key === "Escape") closePicker();
    else if (Number.isInteger(index) && index >= 0 && index < classes.length) addDrawn(classes[index]);
    else return;
    event.preventDefault();
    return;
  }
  const actions = {
    o: () => audit("ok"),
    x: () => audit("escape"),
    d: () => setDraw(viewer.mode !== "draw"),
    Escape: () => setDraw(false),
    j: () => select(view.selected + 1),
    ArrowDown: () => select(view.selected + 1),
    k: () => select(view.selected - 1),
    ArrowUp: () => select(view.selected - 1),
    "+": () => viewer.zoomBy(1.25),
    "=": () => viewer.zoomBy(1.25),
    "-": () => viewer.zoomBy(0.8),
    0: () => viewer.fit(),
  };
  if (!actions[event.key]) return;
  event.preventDefault();
  actions[event.key]();
}

let started = false;

async function start() {
  refreshButtons();
  if (started) return;
  started = true;
  try {
    const registered = await lines();
    view.lines = new Map(registered.map((l) => [l.id, l]));
    replace($("audit-line"), registered.map((l) => el("option", { value: l.id }, `${l.id} (${l.kind})`)));
    const sampling = registered.find((l) => l.config.audit && (l.config.audit.pass_sample > 0 || l.config.audit.borderline > 0));
    $("audit-line").value = params.get("line_id") || (sampling ? sampling.id : registered.length ? registered[0].id : "");
    if (["pending", "audited", "all"].includes(params.get("state"))) $("audit-state").value = params.get("state");
    if (["sample", "borderline"].includes(params.get("reason"))) $("audit-reason").value = params.get("reason");
  } catch (exc) {
    started = false;
    showError(exc);
    return;
  }
  await load(0);
  document.body.dataset.ready = "true";
}

viewer = new FrameViewer($("audit-canvas"), { onDraft });
$("a-zoom-in").addEventListener("click", () => viewer.zoomBy(1.25));
$("a-zoom-out").addEventListener("click", () => viewer.zoomBy(0.8));
$("a-zoom-fit").addEventListener("click", () => viewer.fit());
const filter = () => viewer.setFilter(Number($("a-brightness").value), Number($("a-contrast").value));
$("a-brightness").addEventListener("input", filter);
$("a-contrast").addEventListener("input", filter);
for (const id of ["audit-line", "audit-state", "audit-reason"]) onFilterChange($(id), () => load(0));
$("btn-ok").addEventListener("click", () => audit("ok"));
$("btn-escape").addEventListener("click", () => audit("escape"));
$("btn-draw").addEventListener("click", () => setDraw(viewer.mode !== "draw"));
$("audit-prev").addEventListener("click", () => select(view.selected - 1));
$("audit-next").addEventListener("click", () => select(view.selected + 1));
$("picker-cancel").addEventListener("click", closePicker);
document.addEventListener("keydown", onKey);
initShell(start);
