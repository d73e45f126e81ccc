// The review queue: filters, search and order, the list of defects (select several for a bulk
// decision), the selected defect in its frame (zoom, pan, brightness / contrast, golden sample side by
// side, box editing), decisions by key with undo.

import { ApiError, appUrl, getJson, lines, postJson } from "./api.js";
import {
  actorName, badge, classChip, el, fmtShort, fmtTime, formatLocation, replace, triggerText, typingInField,
} from "./dom.js";
import { drawCrop } from "./frame_view.js";
import { cropCaption, heatmapView } from "./heatmap_view.js";
import { describeError, initShell, showError, showMessage, whoAmI } from "./shell.js";
import { FrameViewer } from "./viewer.js";

const FILTERS = ["line_id", "class_name", "state", "min_confidence", "max_confidence", "since", "until", "code", "sort"];
const STATE_OF = { confirm: "confirmed", reject: "rejected", reclassify: "reclassified", add: "added", undo: "undone" };
const params = new URLSearchParams(window.location.search);
const PAGE = Math.max(1, Math.min(500, Number(params.get("limit")) || 50));

const view = {
  lines: new Map(),
  items: [],
  total: 0,
  offset: 0,
  selected: -1,
  busy: false,
  token: 0,
  inspections: new Map(),
  checked: new Set(), // defect ids picked for a bulk decision
  undo: [], // decisions made here, newest last: [defect ids]
  frame: null, // the inspection of the selected defect (all its defects)
  picker: null, // "reclassify" | "draw"
  heatmap: false, // anomaly defects: show the heat map over the crop instead of the crop
};

const $ = (id) => document.getElementById(id);
let viewer = null;
let golden = null;

function classesOf(lineId) {
  const line = view.lines.get(lineId);
  return line ? line.config.classes : [];
}

function allClasses() {
  const names = [];
  for (const line of view.lines.values()) {
    for (const name of line.config.classes) if (!names.includes(name)) names.push(name);
  }
  return names;
}

function mayReview() {
  const who = whoAmI();
  return Boolean(who && who.may_review);
}

/** Buttons that change data are disabled for a key that may not review (a viewer key browses). */
function applyRole() {
  const allowed = mayReview();
  for (const button of document.querySelectorAll(".needs-review")) {
    if (!allowed) {
      button.disabled = true;
      button.title = "needs a reviewer key (linecheck keys create --role reviewer)";
    } else if (button.title.startsWith("needs a reviewer key")) {
      button.title = "";
    }
  }
  if (allowed) refreshButtons();
}

// ---- filters -------------------------------------------------------------------------------

function dayStart(value, addDays = 0) {
  const [y, m, d] = value.split("-").map(Number);
  return new Date(y, m - 1, d + addDays).toISOString();
}

/** The queue query of the filter form; throws a message naming the field when a value is wrong. */
function queryFromForm() {
  const form = $("filters");
  const value = (name) => form.elements[name].value.trim();
  const query = {
    line_id: value("line_id"), class_name: value("class_name"), state: value("state"), code: value("code"),
    sort: value("sort") || "newest",
  };
  for (const name of ["min_confidence", "max_confidence"]) {
    const text = value(name);
    if (text === "") continue;
    const number = Number(text);
    if (!Number.isFinite(number) || number < 0 || number > 1) {
      throw new Error(`${name}=${text}: expected a number between 0 and 1`);
    }
    query[name] = number;
  }
  if (query.min_confidence !== undefined && query.max_confidence !== undefined &&
      query.min_confidence > query.max_confidence) {
    throw new Error(`min_confidence=${query.min_confidence} is above max_confidence=${query.max_confidence}`);
  }
  if (value("since")) query.since = dayStart(value("since"));
  if (value("until")) query.until = dayStart(value("until"), 1);
  if (query.since && query.until && query.since >= query.until) {
    throw new Error(`since=${value("since")} is after until=${value("until")}`);
  }
  return query;
}

function syncUrl() {
  const form = $("filters");
  const search = new URLSearchParams();
  for (const name of FILTERS) {
    const v = form.elements[name].value.trim();
    if (v && !(name === "state" && v === "pending") && !(name === "sort" && v === "newest")) search.set(name, v);
  }
  if (params.get("limit")) search.set("limit", String(PAGE));
  const text = search.toString();
  history.replaceState(null, "", text ? `?${text}` : window.location.pathname);
}

function fillClassSelect() {
  const select = $("filters").elements.class_name;
  const lineId = $("filters").elements.line_id.value;
  const current = select.value;
  const names = lineId ? classesOf(lineId) : allClasses();
  replace(select, el("option", { value: "" }, "all classes"), names.map((n) => el("option", { value: n }, n)));
  select.value = names.includes(current) ? current : "";
}

async function setUpFilters() {
  const registered = await lines();
  view.lines = new Map(registered.map((line) => [line.id, line]));
  const form = $("filters");
  replace(form.elements.line_id, el("option", { value: "" }, "all lines"),
    registered.map((l) => el("option", { value: l.id }, `${l.id} (${l.kind})`)));
  form.elements.line_id.value = params.get("line_id") || "";
  fillClassSelect();
  for (const name of FILTERS) if (params.has(name)) form.elements[name].value = params.get(name);
  $("code-search").value = form.elements.code.value;
  $("sort").value = form.elements.sort.value || "newest";
}

function toggleFilters(open) {
  const main = $("review-main");
  const show = open === undefined ? main.dataset.filters !== "open" : open;
  main.dataset.filters = show ? "open" : "closed";
  $("filters-toggle").setAttribute("aria-expanded", String(show));
  if (show) $("filters").elements.line_id.focus();
}

// ---- list ----------------------------------------------------------------------------------

function listItem(item, index) {
  const defect = item.defect;
  const thumb = el("canvas", { class: "thumb", width: 60, height: 60 });
  drawCrop(thumb, {
    cropRef: defect.crop_ref, frameRef: item.image_ref, bbox: defect.final_bbox || defect.bbox,
    width: item.image_width, height: item.image_height, maxSize: 60,
  }).catch(() => {});
  const checked = view.checked.has(defect.id);
  const box = el("input", {
    type: "checkbox", class: "pick", "aria-label": `select defect ${defect.id}`, checked,
    onclick: (event) => {
      event.stopPropagation();
      toggleChecked(defect.id);
    },
  });
  return el("li", {
    class: "queue-item", role: "option", "aria-selected": "false",
    dataset: { defectId: defect.id, state: defect.review_state, index, checked: String(checked) },
    onclick: (event) => (event.shiftKey ? toggleChecked(defect.id) : select(index)),
  }, box, thumb, el("div", { class: "queue-text" },
    el("div", {}, classChip(defect.final_class), " ", el("strong", {}, `${(100 * defect.confidence).toFixed(0)}%`),
      " ", badge(defect.review_state), defect.source === "reviewer" ? badge("drawn", "reclassified") : ""),
    el("div", { class: "muted" }, `${item.line_id} · ${item.code || "code unread"}`),
    el("div", { class: "muted" }, `${item.station} · ${fmtShort(item.captured_at)}`)));
}

function renderList() {
  const list = $("queue-list");
  replace(list, view.items.map(listItem));
  const first = view.items.length ? view.offset + 1 : 0;
  const approx = view.totalExact === false ? "more than " : "";
  $("queue-count").textContent = `${first}–${view.offset + view.items.length} of ${approx}${view.total}`;
  $("page-prev").disabled = view.offset === 0;
  $("page-next").disabled = view.offset + view.items.length >= view.total;
  $("queue-empty").hidden = view.items.length > 0;
  renderBulk();
  for (const li of list.children) li.setAttribute("aria-selected", String(Number(li.dataset.index) === view.selected));
}

function toggleChecked(defectId) {
  if (view.checked.has(defectId)) view.checked.delete(defectId);
  else view.checked.add(defectId);
  const li = document.querySelector(`#queue-list li[data-defect-id='${defectId}']`);
  if (li) {
    li.dataset.checked = String(view.checked.has(defectId));
    li.querySelector(".pick").checked = view.checked.has(defectId);
  }
  renderBulk();
}

function renderBulk() {
  const n = view.checked.size;
  $("bulk-bar").hidden = n === 0;
  $("bulk-count").textContent = `${n} selected`;
}

// ---- detail --------------------------------------------------------------------------------

async function inspection(id) {
  if (!view.inspections.has(id)) {
    const pending = getJson(`/v1/inspections/${encodeURIComponent(id)}`);
    pending.catch(() => view.inspections.delete(id));
    view.inspections.set(id, pending);
  }
  return view.inspections.get(id);
}

function reviewHistory(defect) {
  if (!defect.reviews.length) return el("p", { class: "muted" }, "not reviewed yet");
  return el("ol", { class: "history" }, defect.reviews.map((r) => el("li", { dataset: { decision: r.decision } },
    badge(STATE_OF[r.decision] || r.decision), r.new_class ? ` → ${r.new_class}` : "",
    r.bbox ? " (box corrected)" : "",
    el("span", { class: "reviewer" }, ` by ${actorName(r.reviewer, r.reviewer_name)}`), ` at ${fmtTime(r.at)}`,
    r.comment ? ` — “${r.comment}”` : "")));
}

function boxesOf(frame, selectedId) {
  return frame.defects.map((d) => ({
    id: d.id, bbox: d.final_bbox || d.bbox, class_name: d.final_class, confidence: d.confidence,
    selected: d.id === selectedId, rejected: d.review_state === "rejected",
  }));
}

function renderFacts(item) {
  const defect = item.defect;
  const trace = item.code
    ? el("a", { href: appUrl(`/review/trace?code=${encodeURIComponent(item.code)}`), id: "detail-code" }, item.code)
    : el("a", { href: appUrl(`/review/unread?line_id=${encodeURIComponent(item.line_id)}&inspection=${encodeURIComponent(defect.inspection_id)}`),
      id: "detail-code", class: "unread" }, "code unread: assign it");
  const box = defect.final_bbox || defect.bbox;
  replace($("detail-facts"),
    el("dt", {}, "line"), el("dd", {}, `${item.line_id} / ${item.station}`),
    el("dt", {}, "unit"), el("dd", {}, trace),
    el("dt", {}, "captured"), el("dd", {}, fmtTime(item.captured_at)),
    el("dt", {}, "model"), el("dd", {}, item.model_name ? `${item.model_name} v${item.model_version}` : "—"),
    item.trigger_id ? [el("dt", {}, "trigger"), el("dd", { id: "detail-trigger" },
      triggerText(item))] : null,
    el("dt", {}, "location"), el("dd", { id: "detail-location" }, formatLocation(defect.final_location || defect.location)),
    el("dt", {}, "box"), el("dd", {}, `${box.map((v) => Math.round(v)).join(", ")}${defect.final_bbox ? " (corrected)" : ""}`));
}

/** The crop pane of `item`'s defect: its crop, or its heat map over the crop when toggled on. */
function drawCropPane(item) {
  const defect = item.defect;
  const heat = heatmapView(defect, view.heatmap);
  const toggle = $("heatmap-toggle");
  toggle.hidden = !heat.available;
  toggle.setAttribute("aria-pressed", String(heat.shown));
  drawCrop($("crop-canvas"), {
    cropRef: defect.crop_ref, heatmapRef: heat.heatmapRef, frameRef: item.image_ref,
    bbox: defect.final_bbox || defect.bbox, width: item.image_width, height: item.image_height, maxSize: 200,
  }).then((origin) => {
    $("crop-caption").textContent = cropCaption(origin);
  }).catch((exc) => showError(exc));
}

function toggleHeatmap() {
  const item = view.items[view.selected];
  if (!item || !heatmapView(item.defect, true).available) return;
  view.heatmap = !view.heatmap;
  drawCropPane(item);
}

async function renderDetail(item) {
  const token = ++view.token;
  const detail = $("detail");
  const defect = item.defect;
  detail.dataset.defectId = defect.id;
  detail.hidden = false;
  $("detail-title").textContent = `Defect #${defect.id}`;
  replace($("detail-class"), classChip(defect.final_class),
    defect.final_class !== defect.class_name ? ` (model said ${defect.class_name})` : "",
    ` · ${(100 * defect.confidence).toFixed(1)}% · `, badge(defect.review_state));
  renderFacts(item);
  replace($("detail-history"), reviewHistory(defect));
  closePicker();
  setMode("view");
  drawCropPane(item);
  let frame = { id: defect.inspection_id, defects: [defect] };
  try {
    frame = await inspection(defect.inspection_id);
  } catch (exc) {
    showError(exc);
  }
  if (token !== view.token) return;
  view.frame = frame;
  await viewer.show({ ref: item.image_ref, width: item.image_width, height: item.image_height, boxes: boxesOf(frame, defect.id) })
    .catch((exc) => showError(exc));
  if (token !== view.token) return;
  $("frame-canvas").dataset.defectId = defect.id;
  refreshButtons();
  if (!$("golden-pane").hidden) loadGolden(item);
}

function refreshButtons() {
  const allowed = mayReview();
  const frame = view.frame;
  const pendingOnFrame = frame ? frame.defects.filter((d) => d.review_state === "pending").length : 0;
  $("btn-confirm-frame").disabled = !allowed || pendingOnFrame === 0;
  $("btn-confirm-frame").dataset.pending = String(pendingOnFrame);
  $("btn-undo").disabled = !allowed || view.undo.length === 0;
  $("btn-merge").disabled = !allowed || viewer.picked.size === 0;
  $("btn-merge").textContent = viewer.picked.size ? `merge ${viewer.picked.size + 1}` : "merge";
}

function select(index) {
  if (!view.items.length) {
    view.selected = -1;
    $("detail").hidden = true;
    return;
  }
  view.selected = Math.max(0, Math.min(index, view.items.length - 1));
  for (const li of $("queue-list").children) {
    const on = Number(li.dataset.index) === view.selected;
    li.setAttribute("aria-selected", String(on));
    if (on) li.scrollIntoView({ block: "nearest" });
  }
  renderDetail(view.items[view.selected]);
}

/** Next defect; after the last one of the page, the first of the next page. */
function next() {
  if (view.selected < view.items.length - 1) {
    select(view.selected + 1);
  } else if (view.offset + view.items.length < view.total) {
    view.offset += PAGE;
    loadQueue(0);
  } else {
    showMessage("That was the last defect of the queue.");
  }
}

function previous() {
  if (view.selected > 0) {
    select(view.selected - 1);
  } else if (view.offset > 0) {
    view.offset = Math.max(0, view.offset - PAGE);
    loadQueue(PAGE - 1);
  }
}

async function loadQueue(selectIndex = 0) {
  let query;
  try {
    query = queryFromForm();
  } catch (exc) {
    showMessage(exc.message, "error");
    return;
  }
  syncUrl();
  $("queue").setAttribute("aria-busy", "true");
  try {
    const page = await getJson("/v1/review/queue", { ...query, limit: PAGE, offset: view.offset });
    view.items = page.items;
    view.total = page.total;
    view.totalExact = page.total_exact;
    const unread = $("unread-count");
    replace(unread, page.unread_inspections
      ? el("a", { href: appUrl("/review/unread") }, `${page.unread_inspections} frame(s) wait for a code`) : "");
    renderList();
    select(Math.min(selectIndex, view.items.length - 1));
  } catch (exc) {
    showError(exc);
  } finally {
    $("queue").setAttribute("aria-busy", "false");
  }
}

// ---- decisions ----------------------------------------------------------------------------

/** After decisions on `updated` defects: keep or drop them from the page, then move on. */
async function afterDecision(updated, { advance = true } = {}) {
  const filter = $("filters").elements.state.value;
  const byId = new Map(updated.map((d) => [d.id, d]));
  const current = view.items[view.selected];
  view.inspections.clear();
  let index = view.selected;
  const kept = [];
  for (const [i, item] of view.items.entries()) {
    const fresh = byId.get(item.defect.id);
    if (fresh && filter !== "all" && filter !== fresh.review_state) {
      if (i < view.selected) index -= 1;
      continue;
    }
    if (fresh) item.defect = fresh;
    kept.push(item);
  }
  const dropped = view.items.length - kept.length;
  view.items = kept;
  view.total -= dropped;
  for (const id of byId.keys()) view.checked.delete(id);
  const stayed = current && kept.includes(current);
  if (!view.items.length) {
    if (view.total > view.offset || view.offset > 0) {
      if (view.total <= view.offset) view.offset = Math.max(0, view.offset - PAGE);
      await loadQueue(0);
      return;
    }
    renderList();
    select(0);
    return;
  }
  renderList();
  const more = view.offset + view.items.length < view.total;
  if (!advance) {
    select(Math.max(0, index));
  } else if (stayed && index >= view.items.length - 1 && more) {
    view.offset += PAGE;  // the last of the page was decided: on to the next page
    await loadQueue(0);
  } else if (!stayed && index >= view.items.length && more) {
    await loadQueue(index);  // the page shifted up: the next defect is the one that moved in
  } else {
    select(stayed ? index + 1 : index);
  }
}

async function run(action, describe) {
  if (view.busy) return;
  if (!mayReview()) {
    // the API answers 403 for a viewer key: say so (the buttons are disabled already)
    try {
      await action();
    } catch (exc) {
      showError(exc);
      $("detail").dataset.lastError = describeError(exc);
    }
    return;
  }
  view.busy = true;
  $("detail").setAttribute("aria-busy", "true");
  try {
    const updated = await action();
    showMessage(describe(updated));
    return updated;
  } catch (exc) {
    showError(exc);
    $("detail").dataset.lastError = describeError(exc);
  } finally {
    view.busy = false;
    $("detail").setAttribute("aria-busy", "false");
    refreshButtons();
  }
  return null;
}

function takeComment() {
  const comment = $("comment").value.trim();
  $("comment").value = "";
  return comment || undefined;
}

async function decide(decision, newClass, extra = {}) {
  const item = view.items[view.selected];
  if (!item) return;
  const body = { decision, ...extra };
  if (newClass) body.new_class = newClass;
  const comment = extra.comment || $("comment").value.trim();
  if (comment) body.comment = comment;
  const updated = await run(() => postJson(`/v1/defects/${item.defect.id}/review`, body), (d) => {
    const verb = newClass ? `reclassified as ${newClass}` : STATE_OF[decision];
    return `Defect #${d.id} ${verb}${body.bbox ? " with its box corrected" : ""}.`;
  });
  if (!updated) return;
  $("comment").value = "";
  view.undo.push([updated.id]);
  await afterDecision([updated]);
}

async function bulk(decision, ids) {
  if (!ids.length) return;
  const body = { decision, defect_ids: ids };
  const comment = takeComment();
  if (comment) body.comment = comment;
  const updated = await run(() => postJson("/v1/defects/review", body),
    (found) => `${found.length} defect(s) ${STATE_OF[decision]}.`);
  if (!updated) return;
  view.undo.push(updated.map((d) => d.id));
  await afterDecision(updated);
}

function confirmFrame() {
  const frame = view.frame;
  if (!frame) return;
  bulk("confirm", frame.defects.filter((d) => d.review_state === "pending").map((d) => d.id));
}

async function undo() {
  const ids = view.undo[view.undo.length - 1];
  if (!ids) {
    showMessage("Nothing to undo in this session.", "error");
    return;
  }
  const updated = await run(async () => {
    const out = [];
    for (const id of ids) out.push(await postJson(`/v1/defects/${id}/undo`, {}));
    return out;
  }, (found) => `Undone: ${found.map((d) => `#${d.id} is ${d.review_state} again`).join(", ")}.`);
  if (!updated) return;
  view.undo.pop();
  const first = updated[0];
  const index = view.items.findIndex((i) => i.defect.id === first.id);
  if (index >= 0) {
    view.items[index].defect = first;
    view.inspections.clear();
    renderList();
    select(index);
  } else {
    await loadQueue(Math.max(0, view.selected));
    const at = view.items.findIndex((i) => i.defect.id === first.id);
    if (at >= 0) select(at);
  }
}

async function saveBox() {
  const draft = viewer.draft;
  const item = view.items[view.selected];
  if (!draft || !item) return;
  const decision = item.defect.review_state === "reclassified" ? "reclassify" : "confirm";
  await decide(decision, decision === "reclassify" ? item.defect.final_class : undefined, { bbox: draft });
}

async function addDrawn(className) {
  const draft = viewer.draft;
  const item = view.items[view.selected];
  if (!draft || !item) return;
  const body = { class_name: className, bbox: draft };
  const comment = takeComment();
  if (comment) body.comment = comment;
  const added = await run(() => postJson(`/v1/inspections/${item.defect.inspection_id}/defects`, body),
    (d) => `Missed defect #${d.id} (${d.final_class}) added to this frame.`);
  viewer.clearDraft();
  setMode("view");
  if (!added) return;
  view.undo.push([added.id]);
  view.inspections.clear();
  renderDetail(item);
}

async function merge() {
  const item = view.items[view.selected];
  const others = [...viewer.picked];
  if (!item || !others.length) return;
  const body = { defect_ids: [item.defect.id, ...others] };
  const comment = takeComment();
  if (comment) body.comment = comment;
  const updated = await run(() => postJson(`/v1/inspections/${item.defect.inspection_id}/merge`, body),
    (found) => `Merged ${found.length} boxes into #${found[0].id}.`);
  if (!updated) return;
  view.undo.push(updated.map((d) => d.id));
  await afterDecision(updated, { advance: false });
}

// ---- modes, picker, golden ------------------------------------------------------------------

function setMode(mode) {
  viewer.setMode(mode);
  viewer.clearDraft();
  $("mode-move").setAttribute("aria-pressed", String(mode === "move"));
  $("mode-draw").setAttribute("aria-pressed", String(mode === "draw"));
  $("btn-save-box").hidden = true;
}

function onDraft(box, how) {
  if (how === "draw") {
    openPicker("draw");
  } else {
    $("btn-save-box").hidden = false;
  }
}

function openPicker(purpose = "reclassify") {
  const item = view.items[view.selected];
  if (!item) return;
  view.picker = purpose;
  const classes = classesOf(item.line_id);
  $("picker-title").textContent = purpose === "draw"
    ? "Class of the defect you drew (press a digit, Esc to cancel):"
    : "Reclassify as (press a digit, Esc to cancel):";
  replace($("picker-list"), classes.map((name, i) => el("li", {},
    el("button", {
      type: "button", class: "picker-choice", dataset: { className: name },
      disabled: purpose === "reclassify" && name === item.defect.final_class, onclick: () => pick(name),
    }, el("kbd", {}, String(i + 1)), " ", classChip(name)))));
  $("picker").hidden = false;
}

function closePicker() {
  $("picker").hidden = true;
  if (view.picker === "draw") {
    viewer.clearDraft();
  }
  view.picker = null;
}

function pick(name) {
  const purpose = view.picker;
  const item = view.items[view.selected];
  if (purpose === "reclassify" && item && name === item.defect.final_class) {
    showMessage(`It already is ${name}: confirm it instead (c).`, "error");
    return;
  }
  $("picker").hidden = true;
  view.picker = null;
  if (purpose === "draw") addDrawn(name);
  else decide("reclassify", name);
}

function pickerDigit(key) {
  const item = view.items[view.selected];
  const classes = item ? classesOf(item.line_id) : [];
  const index = Number(key) - 1;
  if (Number.isInteger(index) && index >= 0 && index < classes.length) pick(classes[index]);
}

async function loadGolden(item) {
  const caption = $("golden-caption");
  $("golden-set").hidden = !mayReview();
  try {
    const sample = await getJson(`/v1/lines/${encodeURIComponent(item.line_id)}/golden`, { station: item.station });
    await golden.show({ ref: sample.image_ref, width: sample.image_width || item.image_width,
      height: sample.image_height || item.image_height, boxes: [] });
    golden.syncFrom(viewer);
    caption.textContent = sample.source === "chosen"
      ? `golden sample of ${item.station}, chosen by ${actorName(sample.chosen_by, sample.chosen_by_name)}`
      : `golden sample: newest good frame of ${item.station}`;
    $("golden-canvas").dataset.source = sample.source;
  } catch (exc) {
    if (!(exc instanceof ApiError && exc.status === 404)) showError(exc);
    await golden.show({ ref: null, width: item.image_width, height: item.image_height, boxes: [] });
    caption.textContent = `no golden sample for ${item.station} yet`;
    $("golden-canvas").dataset.source = "none";
  }
}

function toggleGolden() {
  const pane = $("golden-pane");
  pane.hidden = !pane.hidden;
  $("golden-toggle").setAttribute("aria-pressed", String(!pane.hidden));
  $("viewer").dataset.golden = String(!pane.hidden);
  const item = view.items[view.selected];
  if (!pane.hidden && item) loadGolden(item);
  requestAnimationFrame(() => viewer.render());
}

async function useAsGolden() {
  const item = view.items[view.selected];
  if (!item) return;
  const sample = await run(() => postJson(`/v1/lines/${encodeURIComponent(item.line_id)}/golden`,
    { inspection_id: item.defect.inspection_id }), () => `This frame is now the golden sample of ${item.station}.`);
  if (sample) loadGolden(item);
}

function trace() {
  const item = view.items[view.selected];
  if (!item) return;
  if (item.code) {
    window.location.assign(appUrl(`/review/trace?code=${encodeURIComponent(item.code)}`));
    return;
  }
  showMessage(`Frame ${item.defect.inspection_id} has no code (it could not be read): assign one on the Unread page (link under "unit").`, "error");
  const link = $("detail-code");
  if (link) link.focus();
}

// ---- keys and wiring ----------------------------------------------------------------------

function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey || typingInField(event)) return;
  if (!$("help").hidden) return;
  const key = event.key;
  if (!$("picker").hidden) {
    if (key === "Escape") closePicker();
    else if (/^[1-9]$/.test(key)) pickerDigit(key);
    else return;
    event.preventDefault();
    return;
  }
  const actions = {
    c: () => decide("confirm"),
    r: () => decide("reject"),
    e: () => openPicker(),
    x: () => openPicker(),
    a: confirmFrame,
    u: undo,
    " ": () => view.items[view.selected] && toggleChecked(view.items[view.selected].defect.id),
    j: next,
    n: next,
    ArrowDown: next,
    k: previous,
    p: previous,
    ArrowUp: previous,
    "]": () => $("page-next").click(),
    "[": () => $("page-prev").click(),
    t: trace,
    f: () => toggleFilters(),
    "/": () => $("code-search").focus(),
    g: toggleGolden,
    h: toggleHeatmap,
    m: () => setMode(viewer.mode === "move" ? "view" : "move"),
    d: () => setMode(viewer.mode === "draw" ? "view" : "draw"),
    Delete: () => decide("reject", undefined, { comment: $("comment").value.trim() || "duplicate" }),
    Enter: () => viewer.draft && viewer.mode === "move" && saveBox(),
    Escape: () => setMode("view"),
    "+": () => viewer.zoomBy(1.25),
    "=": () => viewer.zoomBy(1.25),
    "-": () => viewer.zoomBy(0.8),
    0: () => viewer.fit(),
  };
  if (!actions[key]) return;
  event.preventDefault();
  actions[key]();
}

function wire() {
  viewer = new FrameViewer($("frame-canvas"), { onDraft, onPick: () => refreshButtons() });
  golden = new FrameViewer($("golden-canvas"));
  viewer.follow(golden);
  const form = $("filters");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    view.offset = 0;
    loadQueue(0);
    document.activeElement.blur();
  });
  form.elements.line_id.addEventListener("change", fillClassSelect);
  $("filters-reset").addEventListener("click", () => {
    form.reset();
    $("code-search").value = "";
    $("sort").value = "newest";
    fillClassSelect();
    view.offset = 0;
    loadQueue(0);
  });
  $("filters-toggle").addEventListener("click", () => toggleFilters());
  $("queue-tools").addEventListener("submit", (event) => {
    event.preventDefault();
    form.elements.code.value = $("code-search").value.trim();
    view.offset = 0;
    loadQueue(0);
    document.activeElement.blur();
  });
  $("code-search").addEventListener("search", () => $("queue-tools").requestSubmit());
  $("sort").addEventListener("change", () => {
    form.elements.sort.value = $("sort").value;
    view.offset = 0;
    loadQueue(0);
    document.activeElement.blur();
  });
  $("page-prev").addEventListener("click", () => {
    view.offset = Math.max(0, view.offset - PAGE);
    loadQueue(0);
  });
  $("page-next").addEventListener("click", () => {
    if (view.offset + view.items.length < view.total) {
      view.offset += PAGE;
      loadQueue(0);
    }
  });
  $("bulk-confirm").addEventListener("click", () => bulk("confirm", [...view.checked]));
  $("bulk-reject").addEventListener("click", () => bulk("reject", [...view.checked]));
  $("bulk-clear").addEventListener("click", () => {
    view.checked.clear();
    renderList();
  });
  $("btn-confirm").addEventListener("click", () => decide("confirm"));
  $("btn-reject").addEventListener("click", () => decide("reject"));
  $("btn-reclassify").addEventListener("click", () => openPicker());
  $("btn-confirm-frame").addEventListener("click", confirmFrame);
  $("btn-undo").addEventListener("click", undo);
  $("btn-prev").addEventListener("click", previous);
  $("btn-next").addEventListener("click", next);
  $("picker-cancel").addEventListener("click", closePicker);
  $("zoom-in").addEventListener("click", () => viewer.zoomBy(1.25));
  $("zoom-out").addEventListener("click", () => viewer.zoomBy(0.8));
  $("zoom-fit").addEventListener("click", () => viewer.fit());
  const filter = () => viewer.setFilter(Number($("brightness").value), Number($("contrast").value));
  $("brightness").addEventListener("input", filter);
  $("contrast").addEventListener("input", filter);
  $("filter-reset").addEventListener("click", () => {
    $("brightness").value = "1";
    $("contrast").value = "1";
    filter();
  });
  $("golden-toggle").addEventListener("click", toggleGolden);
  $("heatmap-toggle").addEventListener("click", toggleHeatmap);
  $("golden-set").addEventListener("click", useAsGolden);
  $("mode-move").addEventListener("click", () => setMode(viewer.mode === "move" ? "view" : "move"));
  $("mode-draw").addEventListener("click", () => setMode(viewer.mode === "draw" ? "view" : "draw"));
  $("btn-save-box").addEventListener("click", saveBox);
  $("btn-duplicate").addEventListener("click", () => decide("reject", undefined, { comment: $("comment").value.trim() || "duplicate" }));
  $("btn-merge").addEventListener("click", merge);
  document.addEventListener("keydown", onKey);
}

let started = false;

async function start() {
  applyRole();
  if (started) return;
  started = true;
  try {
    await setUpFilters();
  } catch (exc) {
    started = false;
    showError(exc);
    return;
  }
  await loadQueue(0);
  applyRole();
  document.body.dataset.ready = "true";
}

wire();
initShell(start);
