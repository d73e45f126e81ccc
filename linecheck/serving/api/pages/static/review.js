// The review queue: filters, the list of defects, the selected defect in its frame, decisions by key.

import { getJson, lines, postJson } from "./api.js";
import { badge, classChip, el, fmtTime, replace, typingInField } from "./dom.js";
import { drawCrop, drawFrame } from "./frame_view.js";
import { describeError, initShell, showError, showMessage } from "./shell.js";

const PAGE = 50;
const FILTERS = ["line_id", "class_name", "state", "min_confidence", "max_confidence", "since", "until"];
const STATE_OF = { confirm: "confirmed", reject: "rejected", reclassify: "reclassified" };

const view = {
  lines: new Map(),
  items: [],
  total: 0,
  offset: 0,
  selected: -1,
  busy: false,
  token: 0,
  inspections: new Map(),
};

const $ = (id) => document.getElementById(id);

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

// ---- filters -------------------------------------------------------------------------------

function dayStart(value, addDays = 0) {
  const [y, m, d] = value.split("-").map(Number);
  return new Date(y, m - 1, d + addDays).toISOString();
}

/** The queue query of the filter form; throws a message naming the field when a value is wrong. */
function queryFromForm() {
  const form = $("filters");
  const value = (name) => form.elements[name].value.trim();
  const query = { line_id: value("line_id"), class_name: value("class_name"), state: value("state") };
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
  const params = new URLSearchParams();
  for (const name of FILTERS) {
    const v = form.elements[name].value.trim();
    if (v && !(name === "state" && v === "pending")) params.set(name, v);
  }
  const search = params.toString();
  history.replaceState(null, "", search ? `?${search}` : window.location.pathname);
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
  const params = new URLSearchParams(window.location.search);
  form.elements.line_id.value = params.get("line_id") || "";
  fillClassSelect();
  for (const name of FILTERS) if (params.has(name)) form.elements[name].value = params.get(name);
}

// ---- list and detail ---------------------------------------------------------------------

function listItem(item, index) {
  const defect = item.defect;
  const classes = classesOf(item.line_id);
  const thumb = el("canvas", { class: "thumb", width: 72, height: 72 });
  drawCrop(thumb, {
    cropRef: defect.crop_ref, frameRef: item.image_ref, bbox: defect.bbox,
    width: item.image_width, height: item.image_height, maxSize: 72,
  }).catch(() => {});
  return el("li", {
    class: "queue-item", role: "option", "aria-selected": "false",
    dataset: { defectId: defect.id, state: defect.review_state, index },
    onclick: () => select(index),
  }, thumb, el("div", { class: "queue-text" },
    el("div", {}, classChip(defect.final_class, classes), " ", el("strong", {}, `${(100 * defect.confidence).toFixed(0)}%`),
      " ", badge(defect.review_state)),
    el("div", { class: "muted" }, `${item.line_id} · ${item.station} · ${item.code || "code unread"}`),
    el("div", { class: "muted" }, fmtTime(item.captured_at))));
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
}

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
  return el("ol", { class: "history" }, defect.reviews.map((r) => el("li", {},
    badge(STATE_OF[r.decision] || r.decision), r.new_class ? ` → ${r.new_class}` : "",
    ` by ${r.reviewer} at ${fmtTime(r.at)}`, r.comment ? ` — “${r.comment}”` : "")));
}

async function renderDetail(item) {
  const token = ++view.token;
  const detail = $("detail");
  const defect = item.defect;
  const classes = classesOf(item.line_id);
  detail.dataset.defectId = defect.id;
  detail.hidden = false;
  $("detail-title").textContent = `Defect #${defect.id}`;
  replace($("detail-class"), classChip(defect.final_class, classes),
    defect.final_class !== defect.class_name ? ` (model said ${defect.class_name})` : "",
    ` · ${(100 * defect.confidence).toFixed(1)}% · `, badge(defect.review_state));
  const trace = item.code
    ? el("a", { href: `/review/trace?code=${encodeURIComponent(item.code)}`, id: "detail-code" }, item.code)
    : el("span", { class: "muted" }, "code unread");
  replace($("detail-facts"),
    el("dt", {}, "line"), el("dd", {}, `${item.line_id} / ${item.station}`),
    el("dt", {}, "unit"), el("dd", {}, trace),
    el("dt", {}, "captured"), el("dd", {}, fmtTime(item.captured_at)),
    el("dt", {}, "model"), el("dd", {}, item.model_name ? `${item.model_name} v${item.model_version}` : "—"),
    el("dt", {}, "location"), el("dd", {}, defect.location ? JSON.stringify(defect.location) : "—"),
    el("dt", {}, "box"), el("dd", {}, defect.bbox.map((v) => Math.round(v)).join(", ")));
  replace($("detail-history"), reviewHistory(defect));
  closePicker();
  const crop = $("crop-canvas");
  drawCrop(crop, {
    cropRef: defect.crop_ref, frameRef: item.image_ref, bbox: defect.bbox,
    width: item.image_width, height: item.image_height,
  }).then((origin) => {
    $("crop-caption").textContent = origin === "stored" ? "stored crop" : origin === "frame" ? "cut from the frame" : "no image";
  }).catch((exc) => showError(exc));
  let boxes = [{ ...defect, class_name: defect.final_class, selected: true }];
  try {
    const full = await inspection(defect.inspection_id);
    if (token !== view.token) return;
    boxes = full.defects.map((d) => ({
      bbox: d.bbox, class_name: d.final_class, confidence: d.confidence,
      selected: d.id === defect.id, rejected: d.review_state === "rejected",
    }));
  } catch (exc) {
    showError(exc);
  }
  if (token !== view.token) return;
  const canvas = $("frame-canvas");
  const frame = $("frame-figure").getBoundingClientRect();
  await drawFrame(canvas, {
    ref: item.image_ref, width: item.image_width, height: item.image_height, boxes, classes,
    maxWidth: Math.max(240, frame.width - 4), maxHeight: 460,
  }).catch((exc) => showError(exc));
  if (token === view.token) canvas.dataset.defectId = defect.id;
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
    $("unread-count").textContent = page.unread_inspections
      ? `${page.unread_inspections} frame(s) wait for a code` : "";
    renderList();
    select(selectIndex);
  } catch (exc) {
    showError(exc);
  } finally {
    $("queue").setAttribute("aria-busy", "false");
  }
}

// ---- decisions ----------------------------------------------------------------------------

async function decide(decision, newClass) {
  const item = view.items[view.selected];
  if (!item || view.busy) return;
  view.busy = true;
  $("detail").setAttribute("aria-busy", "true");
  const body = { decision };
  if (newClass) body.new_class = newClass;
  const comment = $("comment").value.trim();
  if (comment) body.comment = comment;
  try {
    const updated = await postJson(`/v1/defects/${item.defect.id}/review`, body);
    view.inspections.delete(item.defect.inspection_id);
    $("comment").value = "";
    const verb = newClass ? `reclassified as ${newClass}` : STATE_OF[decision];
    showMessage(`Defect #${updated.id} ${verb}.`);
    const filter = $("filters").elements.state.value;
    if (filter !== "all" && filter !== updated.review_state) {
      view.items.splice(view.selected, 1);
      view.total -= 1;
      if (!view.items.length && (view.total > view.offset || view.offset > 0)) {
        if (view.total <= view.offset) view.offset = Math.max(0, view.offset - PAGE);
        await loadQueue(0);
        return;
      }
      renderList();
      select(view.selected);
    } else {
      item.defect = updated;
      renderList();
      select(view.selected + 1);
    }
  } catch (exc) {
    showError(exc);
    $("detail").dataset.lastError = describeError(exc);
  } finally {
    view.busy = false;
    $("detail").setAttribute("aria-busy", "false");
  }
}

function openPicker() {
  const item = view.items[view.selected];
  if (!item) return;
  const classes = classesOf(item.line_id);
  replace($("picker-list"), classes.map((name, i) => el("li", {},
    el("button", {
      type: "button", class: "picker-choice", dataset: { className: name },
      disabled: name === item.defect.final_class, onclick: () => decide("reclassify", name),
    }, el("kbd", {}, String(i + 1)), " ", classChip(name, classes)))));
  $("picker").hidden = false;
}

function closePicker() {
  $("picker").hidden = true;
}

function pickerDigit(key) {
  const item = view.items[view.selected];
  const classes = item ? classesOf(item.line_id) : [];
  const index = Number(key) - 1;
  if (!Number.isInteger(index) || index < 0 || index >= classes.length) return;
  if (classes[index] === item.defect.final_class) {
    showMessage(`It already is ${classes[index]}: confirm it instead (c).`, "error");
    return;
  }
  closePicker();
  decide("reclassify", classes[index]);
}

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
  const item = view.items[view.selected];
  const actions = {
    c: () => decide("confirm"),
    r: () => decide("reject"),
    e: openPicker,
    x: openPicker,
    j: () => select(view.selected + 1),
    n: () => select(view.selected + 1),
    ArrowDown: () => select(view.selected + 1),
    k: () => select(view.selected - 1),
    p: () => select(view.selected - 1),
    ArrowUp: () => select(view.selected - 1),
    "]": () => $("page-next").click(),
    "[": () => $("page-prev").click(),
    t: () => item && item.code && window.location.assign(`/review/trace?code=${encodeURIComponent(item.code)}`),
    f: () => $("filters").elements.line_id.focus(),
  };
  if (!actions[key]) return;
  event.preventDefault();
  actions[key]();
}

function wire() {
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
    fillClassSelect();
    view.offset = 0;
    loadQueue(0);
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
  $("btn-confirm").addEventListener("click", () => decide("confirm"));
  $("btn-reject").addEventListener("click", () => decide("reject"));
  $("btn-reclassify").addEventListener("click", openPicker);
  $("btn-prev").addEventListener("click", () => select(view.selected - 1));
  $("btn-next").addEventListener("click", () => select(view.selected + 1));
  $("picker-cancel").addEventListener("click", closePicker);
  document.addEventListener("keydown", onKey);
}

async function start() {
  try {
    await setUpFilters();
  } catch (exc) {
    showError(exc);
    return;
  }
  await loadQueue(0);
  document.body.dataset.ready = "true";
}

wire();
initShell(start);
