// Holds: containment of the units a line made while it could not be trusted. The list of holds (by line, open or
// released), the selected hold's facts and its units (each held, re-inspected or released, with its status and
// whether it may ship), a form to place a hold (a failed verification fills in since when the line is suspect),
// and the releases: one unit or the whole hold, each with its reason.

import { appUrl, getJson, lines, postJson } from "./api.js";
import { actorName, badge, el, fmtShort, fmtTime, onFilterChange, replace, statusBadge, typingInField } from "./dom.js";
import { describeError, initShell, showError, showMessage, whoAmI } from "./shell.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(window.location.search);
const PAGE = 100;
const UNIT_PAGE = 500;
const view = { items: [], selected: -1, hold: null, lines: new Map(), total: 0, unitCode: null, busy: false };
const UNIT_STATE_KIND = { held: "bad", reinspected: "reclassified", released: "ok" };
const UNIT_STATE_TEXT = { held: "held", reinspected: "re-inspected", released: "released" };

function mayReview() {
  const who = whoAmI();
  return Boolean(who && who.may_review);
}

/** A datetime-local value ("2026-12-02T09:14:05", this computer's time) of an ISO timestamp. */
function toLocalInput(iso) {
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** The ISO timestamp of a datetime-local value (local time), null when empty. */
function fromLocalInput(value) {
  if (!value) return null;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? value : d.toISOString();  // a bad value: the API names it
}

function holdOpen(hold) {
  return Boolean(hold) && !hold.released;
}

/** The hold's state in one badge: released, open with units held, or open with none left held. */
function holdBadge(hold) {
  if (hold.released) return badge("released", "ok");
  return hold.held > 0 ? badge(`open · ${hold.held} held`, "bad") : badge("open · none held", "pending");
}

function counts(hold) {
  return `${hold.units} unit(s): ${hold.held} held · ${hold.reinspected} re-inspected · ${hold.released_units} released`;
}

function period(hold) {
  return `${fmtTime(hold.since)} – ${fmtTime(hold.until)}`;
}

// ---- buttons and the key's role ------------------------------------------------------------------

/** Buttons that change data are disabled for a key that may not review (a viewer key browses). */
function applyRole() {
  const allowed = mayReview();
  for (const button of document.querySelectorAll(".needs-review")) {
    if (button.dataset.title === undefined) button.dataset.title = button.title;
    button.disabled = !allowed;
    button.title = allowed ? button.dataset.title : "needs a reviewer key (linecheck keys create --role reviewer)";
  }
  if (!allowed) return;
  $("btn-release-hold").disabled = !holdOpen(view.hold);
  $("btn-release-unit").disabled = !view.unitCode || !holdOpen(view.hold);
}

// ---- the list of holds ---------------------------------------------------------------------------

function listItem(hold, index) {
  return el("li", { class: "unread-item hold-item", role: "option", "aria-selected": "false",
    dataset: { holdId: hold.id, index, state: hold.released ? "released" : "open", held: hold.held },
    onclick: () => select(index) },
  el("div", { class: "queue-text" },
    el("strong", {}, `#${hold.id} ${hold.line_id}`, hold.product ? ` · ${hold.product}` : ""),
    el("span", { class: "muted" }, `${hold.cause} · ${fmtShort(hold.since)} – ${fmtShort(hold.until)}`),
    el("span", { class: "muted hold-reason" }, hold.reason),
    el("span", {}, holdBadge(hold), ` ${hold.units} unit(s)`)));
}

function renderList() {
  replace($("hold-list"), view.items.map(listItem));
  const what = { open: "open", released: "released", all: "in all" }[$("hold-state").value];
  $("hold-total").textContent = `${view.total} ${what}`;
  $("hold-empty").hidden = view.items.length > 0;
}

function markSelected() {
  const id = view.hold ? view.hold.id : null;
  for (const li of $("hold-list").children) {
    const on = Number(li.dataset.holdId) === id;
    li.setAttribute("aria-selected", String(on));
    if (on) li.scrollIntoView({ block: "nearest" });
  }
}

function pageUrl() {
  const query = new URLSearchParams();
  if ($("hold-line").value) query.set("line_id", $("hold-line").value);
  if ($("hold-state").value !== "open") query.set("state", $("hold-state").value);
  if (view.hold) query.set("hold", String(view.hold.id));
  const text = query.toString();
  return text ? `?${text}` : window.location.pathname;
}

/** Load the holds of the filters; show `holdId` (also when the filters leave it out), else the first. */
async function load(holdId = null) {
  $("holds").setAttribute("aria-busy", "true");
  try {
    const page = await getJson("/v1/holds",
      { line_id: $("hold-line").value, state: $("hold-state").value, limit: PAGE });
    view.items = page.items;
    view.total = page.total;
    renderList();
    let index = holdId === null ? 0 : view.items.findIndex((h) => h.id === holdId);
    if (holdId !== null && index < 0) {
      index = -1;
      await show(await getJson(`/v1/holds/${encodeURIComponent(holdId)}`));  // e.g. a released one, from a link
    } else {
      await select(index);
    }
  } catch (exc) {
    showError(exc);
  } finally {
    $("holds").setAttribute("aria-busy", "false");
  }
}

async function select(index) {
  if (!view.items.length) {
    view.selected = -1;
    await show(null);
    return;
  }
  view.selected = Math.max(0, Math.min(index, view.items.length - 1));
  await show(view.items[view.selected]);
}

// ---- the selected hold and its units -------------------------------------------------------------

function fact(name, ...value) {
  return [el("dt", {}, name), el("dd", { dataset: { fact: name } }, ...value)];
}

function renderDetail(hold) {
  const detail = $("hold-detail");
  detail.hidden = false;
  detail.dataset.holdId = hold.id;
  detail.dataset.state = hold.released ? "released" : "open";
  detail.dataset.held = hold.held;
  $("hold-title").textContent = `Hold #${hold.id} · ${hold.line_id}`;
  replace($("hold-status"), holdBadge(hold));
  replace($("hold-facts"),
    fact("line", hold.line_id),
    fact("product", hold.product || "all products"),
    fact("period", period(hold)),
    fact("cause", hold.cause),
    fact("reason", hold.reason),
    fact("placed", `by ${actorName(hold.created_by, hold.created_by_name)} at ${fmtTime(hold.created_at)}`),
    fact("units", counts(hold)),
    hold.released
      ? fact("released", `by ${actorName(hold.released.created_by, hold.released.created_by_name)} at ` +
        `${fmtTime(hold.released.created_at)} — “${hold.released.comment}”`)
      : null);
  $("hold-release").hidden = Boolean(hold.released);
}

function releaseNote(unit) {
  if (unit.release) {
    const r = unit.release;
    return `released ${r.code ? "" : "with the whole hold "}by ${actorName(r.created_by, r.created_by_name)} at ` +
      `${fmtTime(r.created_at)} — “${r.comment}”`;
  }
  if (unit.reinspected_at) return `re-inspected at ${fmtTime(unit.reinspected_at)}: its grade decides`;
  return "";
}

function unitRow(unit) {
  const trace = appUrl(`/review/trace?code=${encodeURIComponent(unit.code)}`);
  const mayRelease = unit.state === "held" && holdOpen(view.hold);
  return el("tr", { dataset: { code: unit.code, state: unit.state, status: unit.status || "", mayShip: String(unit.may_ship) } },
    el("td", {}, el("a", { href: trace, class: "code-link trace-link" }, unit.code)),
    el("td", {}, fmtTime(unit.captured_at)),
    el("td", { class: "unit-state" }, badge(UNIT_STATE_TEXT[unit.state] || unit.state, UNIT_STATE_KIND[unit.state])),
    el("td", {}, unit.status ? statusBadge(unit.status) : "—"),
    el("td", { class: "may-ship" }, unit.may_ship ? badge("may ship", "ok") : badge("may not ship", "bad")),
    el("td", { class: "muted unit-note" }, releaseNote(unit)),
    el("td", {}, mayRelease
      ? el("button", { type: "button", class: "small needs-review unit-release-button", dataset: { code: unit.code },
        onclick: () => pickUnit(unit.code) }, "release…")
      : ""));
}

/** Where the still-held units went (boxes, pallets, products made of them): what to pull back and sort. */
async function loadContainers(hold) {
  const box = $("hold-containers");
  box.dataset.holdId = "";
  if (!hold.held) {
    box.hidden = true;
    return;
  }
  try {
    const found = await getJson(`/v1/holds/${encodeURIComponent(hold.id)}/containers`);
    if (view.hold !== hold) return;
    const shown = found.items.slice(0, 20);
    replace(box, el("strong", {}, "Pull back: "),
      found.items.length
        ? shown.map((c, i) => [i ? " · " : "",
          el("a", { href: appUrl(`/review/trace?code=${encodeURIComponent(c.code)}`), class: "container-link",
            dataset: { code: c.code, held: c.held_units } }, c.code),
          ` (${c.held_units} held, ${c.relation.replace("_", " ")})`])
        : "none of the held units is packed or built into anything yet",
      found.items.length > shown.length ? ` · and ${found.items.length - shown.length} more` : "",
      el("span", { class: "muted" }, ` — ${found.packed} of ${found.held_units} held units are inside one`));
    box.hidden = false;
    box.dataset.holdId = String(hold.id);
  } catch (exc) {
    showError(exc);
  }
}

async function loadUnits() {
  const hold = view.hold;
  if (!hold) return;
  const state = $("unit-state").value;
  try {
    const page = await getJson(`/v1/holds/${encodeURIComponent(hold.id)}/units`, { state, limit: UNIT_PAGE });
    if (view.hold !== hold) return;  // another hold was chosen meanwhile
    replace($("unit-rows"), page.items.map(unitRow));
    $("unit-total").textContent = page.total > page.items.length
      ? `showing ${page.items.length} of ${page.total}` : `${page.total}`;
    $("unit-empty").hidden = page.items.length > 0;
    $("hold-detail").dataset.unitsOf = `${hold.id}:${state}`;
    await loadContainers(hold);
  } catch (exc) {
    showError(exc);
  }
  applyRole();
}

async function show(hold) {
  view.hold = hold;
  pickUnit(null);
  markSelected();
  history.replaceState(null, "", pageUrl());
  if (!hold) {
    $("hold-detail").hidden = true;
    $("hold-detail").dataset.holdId = "";
    applyRole();
    return;
  }
  renderDetail(hold);
  $("hold-detail").setAttribute("aria-busy", "true");
  await loadUnits();
  $("hold-detail").setAttribute("aria-busy", "false");
}

// ---- releases ------------------------------------------------------------------------------------

function pickUnit(code) {
  view.unitCode = code;
  $("unit-release").hidden = !code;
  $("unit-release-code").textContent = code || "";
  $("unit-comment").value = "";
  for (const row of $("unit-rows").children) row.classList.toggle("picked", Boolean(code) && row.dataset.code === code);
  applyRole();
  if (code) $("unit-comment").focus();
}

/** Release the selected unit (`code`) or, without it, the whole hold, saying why (`comment`). */
async function release(code, input) {
  const hold = view.hold;
  if (!hold || view.busy) return;
  const comment = input.value.trim();
  if (!comment && mayReview()) {
    showMessage(code ? `Say why ${code} may ship (a sorting result, an engineering decision).`
      : "Say why the hold's units may ship (a sorting result, an engineering decision).", "error");
    input.focus();
    return;
  }
  view.busy = true;
  $("hold-detail").setAttribute("aria-busy", "true");
  try {
    const done = await postJson(`/v1/holds/${encodeURIComponent(hold.id)}/release`, code ? { code, comment } : { comment });
    input.value = "";
    $("hold-detail").dataset.lastRelease = `${done.hold_id}:${done.code || "hold"}`;
    showMessage(code ? `${code} released from hold #${hold.id}.` : `Hold #${hold.id} released as a whole.`);
    await load(hold.id);
  } catch (exc) {
    showError(exc);
    $("hold-detail").dataset.lastError = describeError(exc);
  } finally {
    view.busy = false;
    $("hold-detail").setAttribute("aria-busy", "false");
  }
}

// ---- placing a hold ------------------------------------------------------------------------------

function productsOf(line) {
  if (!line) return [];
  const named = Object.keys(line.product_configs || {});
  return named.length ? named : (line.config.products || []).map((p) => p.id);
}

/** The chosen line's products, and, when its verification failed, since when it is suspect (filled in). */
async function lineChosen() {
  const lineId = $("new-line").value;
  const line = view.lines.get(lineId);
  replace($("new-product"), el("option", { value: "" }, "all products"),
    productsOf(line).map((p) => el("option", { value: p }, p)));
  const since = $("new-since");
  if (since.dataset.exact && since.value === since.dataset.filled) since.value = "";  // another line's period
  delete since.dataset.exact;
  delete since.dataset.filled;
  $("new-suspect").hidden = true;
  $("new-hold").dataset.suspectOf = "";
  if (!line || !line.config.verification) return;
  let verification;
  try {
    verification = await getJson(`/v1/lines/${encodeURIComponent(lineId)}/verification`);
  } catch (exc) {
    showError(exc);
    return;
  }
  if ($("new-line").value !== lineId || verification.state !== "failed" || !verification.suspect_since) return;
  since.value = toLocalInput(verification.suspect_since);
  since.dataset.exact = verification.suspect_since;  // to the microsecond, while the field is left as filled
  since.dataset.filled = since.value;
  $("new-cause").value = "verification";
  replace($("new-suspect"), el("strong", {}, `${lineId}'s verification FAILED`),
    verification.problem ? `: ${verification.problem}. ` : ". ",
    `It was last known good at ${fmtTime(verification.suspect_since)}: every unit made since is suspect. ` +
    "Since and the cause are filled in.");
  $("new-suspect").hidden = false;
  $("new-hold").dataset.suspectOf = lineId;
}

/** Open the form (on the line of the list's filter, if any), its line's verification checked afresh. */
function openNew() {
  if ($("new-hold").hidden) {
    $("new-hold").hidden = false;
    if ($("hold-line").value) $("new-line").value = $("hold-line").value;
    lineChosen();
  }
  $("new-line").focus();
}

function closeNew() {
  $("new-hold").hidden = true;
}

async function place(event) {
  event.preventDefault();
  if (view.busy) return;
  const since = $("new-since");
  const body = {
    line_id: $("new-line").value,
    since: since.dataset.exact && since.value === since.dataset.filled ? since.dataset.exact : fromLocalInput(since.value),
    cause: $("new-cause").value,
    reason: $("new-reason").value.trim(),
  };
  if ($("new-product").value) body.product = $("new-product").value;
  const until = fromLocalInput($("new-until").value);
  if (until) body.until = until;
  if (!body.since && mayReview()) {
    showMessage("Give since when the units are suspect (since).", "error");
    since.focus();
    return;
  }
  view.busy = true;
  $("new-hold").setAttribute("aria-busy", "true");
  try {
    const hold = await postJson("/v1/holds", body);
    $("hold-form").reset();
    closeNew();
    $("new-hold").dataset.lastPlaced = String(hold.id);
    showMessage(`Hold #${hold.id} placed on ${hold.line_id}: ${hold.held} unit(s) held.`);
    $("hold-state").value = "open";
    if ($("hold-line").value && $("hold-line").value !== hold.line_id) $("hold-line").value = hold.line_id;
    await load(hold.id);
  } catch (exc) {
    showError(exc);
    $("new-hold").dataset.lastError = describeError(exc);
  } finally {
    view.busy = false;
    $("new-hold").setAttribute("aria-busy", "false");
  }
}

// ---- keys and wiring -----------------------------------------------------------------------------

function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey || !$("help").hidden) return;
  if (typingInField(event)) return;
  const index = view.hold ? view.items.findIndex((h) => h.id === view.hold.id) : -1;
  const actions = {
    n: openNew,
    j: () => select(index + 1),
    ArrowDown: () => select(index + 1),
    k: () => select(Math.max(index - 1, 0)),
    ArrowUp: () => select(Math.max(index - 1, 0)),
    Escape: () => (view.unitCode ? pickUnit(null) : closeNew()),
  };
  if (!actions[event.key]) return;
  event.preventDefault();
  actions[event.key]();
}

function onEnter(input, action) {
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      action();
    } else if (event.key === "Escape") {
      input.blur();
    }
  });
}

let started = false;

async function start() {
  applyRole();
  if (started) return;
  started = true;
  try {
    const registered = await lines();
    view.lines = new Map(registered.map((l) => [l.id, l]));
    replace($("hold-line"), el("option", { value: "" }, "all lines"),
      registered.map((l) => el("option", { value: l.id }, `${l.id} (${l.kind})`)));
    replace($("new-line"), registered.map((l) => el("option", { value: l.id }, `${l.id} — ${l.name}`)));
    if (view.lines.has(params.get("line_id"))) $("hold-line").value = params.get("line_id");
    if (["open", "released", "all"].includes(params.get("state"))) $("hold-state").value = params.get("state");
  } catch (exc) {
    started = false;
    showError(exc);
    return;
  }
  const wanted = Number(params.get("hold"));
  await load(Number.isInteger(wanted) && wanted > 0 ? wanted : null);
  await openFromAddress();
  document.body.dataset.ready = "true";
}

/**
 * `?new=1&line_id=…&since=…&cause=…&product=…&reason=…` (the dashboard's "hold the units since the last clean
 * audit") opens the form filled in; the reviewer checks it and places the hold.
 */
async function openFromAddress() {
  if (params.get("new") !== "1") return;
  $("new-hold").hidden = false;
  if (view.lines.has(params.get("line_id"))) $("new-line").value = params.get("line_id");
  await lineChosen();
  const since = params.get("since");
  if (since && !Number.isNaN(new Date(since).getTime())) {
    const field = $("new-since");
    field.value = toLocalInput(since);
    field.dataset.exact = since;  // to the microsecond, while the field is left as filled
    field.dataset.filled = field.value;
  }
  if (["verification", "escape", "complaint", "other"].includes(params.get("cause"))) $("new-cause").value = params.get("cause");
  if (params.get("product")) $("new-product").value = params.get("product");
  if (params.get("reason")) $("new-reason").value = params.get("reason");
  $("new-hold").dataset.prefilled = "true";
}

for (const id of ["hold-line", "hold-state"]) onFilterChange($(id), () => load(null));
onFilterChange($("unit-state"), () => {
  pickUnit(null);
  loadUnits();
});
$("new-line").addEventListener("change", lineChosen);
$("btn-new").addEventListener("click", openNew);
$("btn-new-cancel").addEventListener("click", closeNew);
$("hold-form").addEventListener("submit", place);
$("btn-release-hold").addEventListener("click", () => release(null, $("hold-comment")));
$("btn-release-unit").addEventListener("click", () => release(view.unitCode, $("unit-comment")));
$("btn-unit-cancel").addEventListener("click", () => pickUnit(null));
onEnter($("hold-comment"), () => release(null, $("hold-comment")));
onEnter($("unit-comment"), () => view.unitCode && release(view.unitCode, $("unit-comment")));
document.addEventListener("keydown", onKey);
initShell(start);
