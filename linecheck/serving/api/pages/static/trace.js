// Trace view: search a code; its unit, grade (and whether it may ship: the holds it is in, ON HOLD while one holds
// it), genealogy, defect map and timeline.

import { ApiError, appUrl, getJson, lines } from "./api.js";
import {
  actorName, badge, classChip, el, fmtNum, fmtTime, formatLocation, replace, statusBadge, triggerText,
  typingInField,
} from "./dom.js";
import { drawDefectMap } from "./defect_map.js";
import { drawFrame } from "./frame_view.js";
import { initShell, showError, showMessage } from "./shell.js";

const $ = (id) => document.getElementById(id);
let current = null;

function codeLink(code) {
  return el("a", { href: appUrl(`/review/trace?code=${encodeURIComponent(code)}`), class: "code-link", dataset: { code },
    onclick: (event) => {
      event.preventDefault();
      go(code);
    } }, code);
}

function gradeDetail(grade) {
  const d = grade.detail || {};
  const facts = (grade.facts || []).map(([k, v]) => [k, v]);  // the kind's own figures, from the API
  for (const reason of d.reasons || []) facts.push(["reason", reason]);
  facts.push(["as inspected", `${grade.inspected_grade} (${grade.frames_failed} frame(s) judged fail)`],
    ["defects counted", String(grade.defects_counted)], ["rejected by review", String(grade.defects_excluded)]);
  if (grade.defects_added) facts.push(["drawn by reviewers", String(grade.defects_added)]);
  if (grade.defects_pending) facts.push(["not reviewed yet", String(grade.defects_pending)]);
  facts.push(["frames", `${grade.inspections} (${grade.not_inspected} not inspected)`]);
  return el("dl", { class: "facts-list" }, facts.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

const HOLD_STATE_KIND = { held: "bad", reinspected: "reclassified", released: "ok" };

function holdLink(hold) {
  return el("a", { href: appUrl(`/review/holds?hold=${encodeURIComponent(hold.id)}`), class: "hold-link",
    dataset: { holdId: hold.id } }, `hold #${hold.id}`);
}

/** Whether the unit may ship, and the holds it is in (each: its cause, reason, period and where the unit stands). */
function shipping(grade) {
  const holds = grade.holds || [];
  const mayShip = grade.may_ship !== false;
  return el("div", { class: "shipping" },
    el("p", {}, el("span", { id: "may-ship", class: `badge badge-${mayShip ? "ok" : "bad"} may-ship`,
      dataset: { mayShip: String(mayShip) } }, mayShip ? "may ship" : "may NOT ship")),
    holds.length
      ? el("ul", { id: "grade-holds", class: "history" }, holds.map((h) => el("li", { dataset: { holdId: h.id, state: h.state } },
        holdLink(h), " ", badge(h.state === "reinspected" ? "re-inspected" : h.state, HOLD_STATE_KIND[h.state]),
        ` ${h.cause}: ${h.reason} `, el("span", { class: "muted" }, `(made ${fmtTime(h.since)} – ${fmtTime(h.until)})`))))
      : null,
    grade.reworked_at
      ? el("p", { id: "grade-rework", class: "muted", dataset: { reworkedAt: grade.reworked_at } },
        `reworked ${fmtTime(grade.reworked_at)}: graded on the ${grade.inspections} inspection(s) since; ` +
        `${grade.frames_superseded} earlier not counted (listed below)`)
      : null);
}

/** A clear banner over the trace while a hold holds the unit (hidden otherwise). */
function renderHoldAlert(grade) {
  const alert = $("hold-alert");
  const held = grade ? (grade.holds || []).filter((h) => h.state === "held") : [];
  alert.hidden = held.length === 0;
  alert.dataset.holds = held.map((h) => h.id).join(",");
  replace(alert, held.length ? [el("strong", { class: "on-hold" }, "ON HOLD"), " — may not ship until it is inspected again or released: ",
    held.map((h, i) => [i ? "; " : "", holdLink(h), ` (${h.cause}) ${h.reason}`])] : null);
}

function renderUnit(trace, grade, line) {
  const unit = trace.unit;
  const card = $("unit-card");
  if (!unit) {
    replace(card, el("h3", {}, trace.code), el("p", { class: "muted" },
      "not an inspected unit (known from genealogy or process events only)"));
  } else {
    replace(card, el("h3", {}, unit.code),
      el("dl", { class: "facts-list" },
        el("dt", {}, "kind"), el("dd", {}, unit.kind),
        el("dt", {}, "line"), el("dd", {}, line ? `${line.id} — ${line.name}` : unit.line_id),
        el("dt", {}, "first seen"), el("dd", {}, fmtTime(unit.created_at)),
        el("dt", {}, "models"), el("dd", {}, trace.model_versions.map((v) => `${v.model_name} v${v.model_version} (${v.inspections})`).join(", ") || "—")));
  }
  const gradeCard = $("grade-card");
  renderHoldAlert(grade);
  if (!grade) {
    replace(gradeCard, el("p", { class: "muted" }, "no grade (the code was never inspected)"));
    gradeCard.dataset.grade = "";
    gradeCard.dataset.mayShip = "";
    return;
  }
  gradeCard.dataset.grade = grade.grade;
  gradeCard.dataset.status = grade.status;
  gradeCard.dataset.mayShip = String(grade.may_ship !== false);
  replace(gradeCard, el("div", { class: "grade-head" },
    el("span", { id: "grade-value", class: `grade grade-${grade.accepted ? "ok" : "bad"}` }, grade.grade),
    statusBadge(grade.status, grade.status_text, "grade-status"),
    el("a", { href: appUrl(`/review/certificate?code=${encodeURIComponent(grade.code)}`), id: "certificate-link", class: "small" },
      "certificate")), shipping(grade), gradeDetail(grade));
}

function linkRow(link, other) {
  // the API words the link in its own direction ("RL… packed in BOX-7"); older answers lack it
  const phrase = link.phrase || `${link.parent} ${link.relation.replace("_", " ")} ${link.child}`;
  return el("li", { class: "link-row", dataset: { depth: link.depth, relation: link.relation } },
    el("span", { class: "depth" }, "·".repeat(link.depth)), " ", codeLink(other), " ",
    el("span", { class: "muted link-phrase" }, `${phrase} · ${fmtTime(link.at)}`));
}

function renderGenealogy(trace) {
  const { parents, children } = trace.genealogy;
  replace($("parents"), parents.length ? parents.map((l) => linkRow(l, l.parent)) : el("li", { class: "muted" }, "none"));
  replace($("children"), children.length ? children.map((l) => linkRow(l, l.child)) : el("li", { class: "muted" }, "none"));
}

function inspectionEntry(inspection, classes, grade) {
  const frameBox = el("div", { class: "timeline-frame", hidden: true });
  const toggle = el("button", { type: "button", class: "small", onclick: async () => {
    frameBox.hidden = !frameBox.hidden;
    if (frameBox.hidden || frameBox.firstChild) return;
    const canvas = el("canvas", { class: "frame-canvas" });
    frameBox.append(canvas);
    await drawFrame(canvas, {
      ref: inspection.image_ref, width: inspection.image_width, height: inspection.image_height, classes,
      boxes: inspection.defects.map((d) => ({ bbox: d.final_bbox || d.bbox, class_name: d.final_class, confidence: d.confidence,
        selected: d.review_state !== "rejected", rejected: d.review_state === "rejected" })),
      maxWidth: 520, maxHeight: 360,
    }).catch(showError);
  } }, "frame");
  const defects = inspection.defects.map((d) => el("li", { dataset: { defectId: d.id } },
    classChip(d.final_class, classes), ` ${(100 * d.confidence).toFixed(0)}% `, badge(d.review_state),
    d.source === "reviewer" ? badge("drawn by a reviewer", "reclassified") : "",
    d.class_name !== d.final_class ? el("span", { class: "muted" }, ` (model: ${d.class_name})`) : "",
    el("span", { class: "muted" }, ` · ${formatLocation(d.final_location || d.location)}`),
    d.reviews.length ? el("span", { class: "muted review-note" },
      ` ${d.reviews.map((r) => `${r.decision}${r.new_class ? `→${r.new_class}` : ""} by ${actorName(r.reviewer, r.reviewer_name)}`).join("; ")}`) : ""));
  const where = inspection.roll_offset_m !== null ? ` at ${fmtNum(inspection.roll_offset_m)} m` : "";
  // the PLC's name for the unit (its MeasId) and the encoder count, to match the PLC's own log
  const trigger = inspection.trigger_id
    ? el("span", { class: "muted trigger", dataset: { trigger: inspection.trigger_id } },
      `trigger ${triggerText(inspection)} `)
    : "";
  // the product (recipe) the unit was judged as, on a line that makes several
  const product = inspection.product
    ? el("span", { class: "muted product", dataset: { product: inspection.product } }, `product ${inspection.product} `)
    : "";
  // a frame that failed as inspected, of a unit review released, says so next to its verdict
  const released = grade && grade.status === "released" && inspection.verdict === "fail";
  return el("li", { class: "timeline-item timeline-inspection", dataset: { inspectionId: inspection.id, released: String(released) } },
    el("time", {}, fmtTime(inspection.captured_at)),
    el("div", {}, el("strong", {}, "inspected "), badge(inspection.verdict),
      released ? [" ", statusBadge("released", "failed as inspected, accepted after review")] : "",
      ` ${inspection.line_id}/${inspection.station}${where} · ${inspection.model_name || "—"} v${inspection.model_version || "—"} `,
      product, trigger, inspection.image_ref ? toggle : "",
      inspection.image_expired_at ? el("span", { class: "muted image-expired" }, " image expired") : "",
      inspection.reason ? el("div", { class: "muted" }, released ? `at inspection: ${inspection.reason}` : inspection.reason) : "",
      defects.length ? el("ul", { class: "defect-list" }, defects) : "", frameBox));
}

function eventEntry(event) {
  return el("li", { class: "timeline-item timeline-event", dataset: { type: event.type } },
    el("time", {}, fmtTime(event.at)),
    el("div", {}, el("strong", {}, event.type), event.code !== current ? [" of ", codeLink(event.code)] : "",
      event.location ? ` at ${event.location}` : "", event.line_id ? ` on ${event.line_id}` : "",
      el("span", { class: "muted" }, ` · ${actorName(event.created_by, event.created_by_name)}`)));
}

function renderTimeline(trace, classes) {
  const entries = [
    ...trace.inspections.map((i) => ({ at: i.captured_at, node: inspectionEntry(i, classes, trace.grade) })),
    ...trace.events.map((e) => ({ at: e.at, node: eventEntry(e) })),
  ].sort((a, b) => new Date(a.at) - new Date(b.at));
  replace($("timeline"), entries.length ? entries.map((e) => e.node) : el("li", { class: "muted" }, "nothing recorded"));
}

async function trace(code) {
  current = code;
  $("code").value = code;
  $("result").hidden = true;
  $("result").dataset.code = "";
  document.title = `linecheck · trace ${code}`;
  let data;
  try {
    data = await getJson(`/v1/trace/${encodeURIComponent(code)}`);
  } catch (exc) {
    if (exc instanceof ApiError && exc.status === 404) showMessage(`Nothing is known about ${code}.`, "error");
    else showError(exc);
    return;
  }
  if (current !== code) return;
  const grade = data.grade || null;  // the same verdict as GET /v1/units/{code}/grade, in the same answer
  const registered = await lines().catch(() => []);
  const line = data.unit ? registered.find((l) => l.id === data.unit.line_id) : null;
  const classes = line ? line.config.classes : [];
  renderUnit(data, grade, line);
  renderGenealogy(data);
  renderTimeline(data, classes);
  const mapBox = $("defect-map");
  if (line && data.inspections.length) {
    $("map-section").hidden = false;
    // drawn as the unit was graded: with its product's geometry and grade rules (a 6x12 module)
    const { drawn } = drawDefectMap(mapBox,
      { kind: line.kind, config: line.config, inspections: data.inspections, product: grade ? grade.product : null, productConfigs: line.product_configs });
    // the map names itself (its aria-label): no list of kinds here
    const named = mapBox.querySelector("svg[aria-label]");
    const what = named ? named.getAttribute("aria-label") : "defect map";
    $("map-title").textContent = `${what[0].toUpperCase()}${what.slice(1)} · ${drawn} defect(s)`;
  } else {
    $("map-section").hidden = true;
    mapBox.replaceChildren();
  }
  $("result").hidden = false;
  $("result").dataset.code = code;
}

/** The unit a PLC triggered as `triggerId` on `lineId` (its MeasId, as the PLC's own log names it). */
async function findTrigger(lineId, triggerId) {
  let page;
  try {
    page = await getJson("/v1/inspections", { line_id: lineId, trigger_id: triggerId, limit: 1 });
  } catch (exc) {
    showError(exc);
    return;
  }
  const found = page.items[0];
  if (!found) {
    showMessage(`No inspection of ${lineId} was triggered as ${triggerId}.`, "error");
  } else if (found.code) {
    go(found.code);
  } else {
    showMessage(`The frame triggered as ${triggerId} has no code yet: assign it on the unread page.`, "error");
  }
}

async function fillTriggerLines(selected) {
  const registered = await lines().catch(() => []);
  replace($("trigger-line"), registered.map((l) => el("option", { value: l.id, selected: l.id === selected }, l.id)));
}

function go(code, push = true) {
  const value = code.trim();
  if (!value) {
    showMessage("Type a code, e.g. RL0000000042.", "error");
    return;
  }
  if (push) history.pushState({ code: value }, "", appUrl(`/review/trace?code=${encodeURIComponent(value)}`));
  trace(value);
}

function wire() {
  $("trace-form").addEventListener("submit", (event) => {
    event.preventDefault();
    go($("code").value);
  });
  $("trigger-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const triggerId = $("trigger-id").value.trim();
    if (triggerId) findTrigger($("trigger-line").value, triggerId);
    else showMessage("Type the PLC's trigger id (MeasId), e.g. M-1001.", "error");
  });
  window.addEventListener("popstate", () => {
    const code = new URLSearchParams(window.location.search).get("code");
    if (code) trace(code);
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "/" && !typingInField(event)) {
      event.preventDefault();
      $("code").focus();
      $("code").select();
    }
  });
}

wire();
initShell(async () => {
  const query = new URLSearchParams(window.location.search);
  const code = query.get("code");
  // an HMI can link a unit by the PLC's name for it: /review/trace?line_id=pv-01&trigger_id=M-1001
  const [lineId, triggerId] = [query.get("line_id"), query.get("trigger_id")];
  await fillTriggerLines(lineId);
  if (code) trace(code);
  else if (lineId && triggerId) {
    $("trigger-id").value = triggerId;
    await findTrigger(lineId, triggerId);
  } else $("code").focus();
  document.body.dataset.ready = "true";
});
