// Line dashboard: units by their verdict after review, fail rate, throughput over running time, SPC charts
// (p-chart, Pareto, trend by station), the model version in use, the error-proofing verification of a line with
// challenge parts, the escape rate of a line that keeps passed frames for audit, reviewers, and the defects as CSV.

import { appUrl, getFile, getJson, lines } from "./api.js";
import { actorName, el, fmtDuration, fmtPct, fmtTime, replace, saveBlob } from "./dom.js";
import { drawShiftChart } from "./chart.js";
import { initShell, showError, showMessage } from "./shell.js";
import { drawPChart, drawPareto, drawStationTrend } from "./spc.js";

const $ = (id) => document.getElementById(id);
const HOURS = { "24h": 24, "7d": 24 * 7, "31d": 24 * 31 };
const RECENT = 200;
let loads = 0;

function hoursOf(shift) {
  return (new Date(shift.shift_end) - new Date(shift.shift_start)) / 3.6e6;
}

/** A rate with two significant digits below 10 ("0.042"), one decimal up to 100, whole numbers above. */
function rate(value) {
  if (value >= 100) return String(Math.round(value));
  return value >= 10 ? value.toFixed(1) : String(Number(value.toPrecision(2)));
}

function tile(id, label, value, note) {
  return el("div", { class: "tile", id }, el("div", { class: "tile-label" }, label),
    el("div", { class: "tile-value" }, value), note ? el("div", { class: "tile-note muted" }, note) : "");
}

/** The tiles come from the API's period totals: each unit counted once, by its grade after review. */
function renderTiles(stats, models, line, verification, audits, holds, msa) {
  const t = stats.totals;
  const by = t.units_by_status;
  const latest = models.latest;
  const configured = line.config.model ? `${line.config.model.name} @ ${line.config.model.version}` : "—";
  replace($("tiles"),
    tile("kpi-inspections", "frames inspected", String(t.inspections), `${t.not_inspected} not inspected`),
    tile("kpi-units", "units", String(t.units),
      `${by.accepted} accepted · ${by.released} released by review · ${by.failed} failed` +
      (by.not_inspected ? ` · ${by.not_inspected} not inspected` : "")),
    tile("kpi-fail-rate", "fail rate", fmtPct(t.fail_rate), `${t.failed_units} of ${t.units} units not accepted after review`),
    tile("kpi-defects", "defects", String(t.defects), "not rejected by review"),
    tile("kpi-throughput", "throughput", t.frames_per_hour !== null ? `${rate(t.frames_per_hour)} frames/h` : "—",
      t.running_s ? `${rate(t.frames_per_hour / 3600)} frames/s · ${rate(t.units_per_hour)} units/h over ` +
        `${fmtDuration(t.running_s)} running` : "the line did not run"),
    tile("kpi-model", "model in use", latest ? `${latest.model_name} v${latest.model_version}` : "—",
      latest ? `last frame ${fmtTime(latest.captured_at)}; configured ${configured}` : `configured ${configured}`),
    verification ? verificationTile(verification) : null,
    msa ? msaTile(msa) : null,
    audits ? escapeTile(audits) : null,
    holds ? holdsTile(line.id, holds) : null);
  $("kpi-model").dataset.version = latest ? latest.model_version : "";
  $("kpi-fail-rate").dataset.rate = t.fail_rate === null ? "" : String(t.fail_rate);
  $("kpi-throughput").dataset.framesPerHour = t.frames_per_hour === null ? "" : String(t.frames_per_hour);
}

/**
 * The station as an attribute gauge over its challenge parts (GET /v1/lines/{id}/msa, the last 30 days):
 * AIAG's verdict, the effectiveness, and the misses with the upper end of their 95 % interval.
 */
function msaTile(m) {
  const value = m.effectiveness === null ? "—" : `${pct(m.effectiveness)} %`;
  const misses = m.misses.of ? `${m.misses.count} miss${m.misses.count === 1 ? "" : "es"} in ${m.misses.of} (≤ ${pct(m.misses.high)} %)` : "no bad part run";
  const alarms = m.false_alarms.of ? `${m.false_alarms.count} false alarm${m.false_alarms.count === 1 ? "" : "s"} in ${m.false_alarms.of}` : "no good part run";
  const box = el("div", { class: "tile", id: "kpi-msa" }, el("div", { class: "tile-label" }, "gauge (MSA, 30 days)"),
    el("div", { class: "tile-value" }, value),
    el("div", { class: "tile-note muted" }, `${m.verdict} · ${misses} · ${alarms}`));
  box.dataset.verdict = m.verdict;
  if (m.verdict === "unacceptable") box.classList.add("tile-failed");
  box.title = m.problems.join("; ");
  return box;
}

/** The line's open holds (containment): the units they still hold, linked to the Holds page. */
function holdsTile(lineId, page) {
  const held = page.items.reduce((sum, h) => sum + h.held, 0);
  const count = page.total_exact ? String(page.total) : `${page.total}+`;
  const note = page.total
    ? `${count} open hold${page.total === 1 ? "" : "s"} · ${page.items.reduce((s, h) => s + h.reinspected, 0)} re-inspected · `
    : "no open hold · ";
  const box = el("div", { class: "tile", id: "kpi-holds" }, el("div", { class: "tile-label" }, "holds"),
    el("div", { class: "tile-value" }, `${held} held`),
    el("div", { class: "tile-note muted" }, note,
      el("a", { href: appUrl(`/review/holds?line_id=${encodeURIComponent(lineId)}`) }, "holds")));
  box.dataset.held = String(held);
  if (held) box.classList.add("tile-failed");
  return box;
}

/** The line's error-proofing verification (its challenge parts), when its YAML lists any. */
function verificationTile(v) {
  const value = { verified: "verified", due: "due", failed: "FAILED" }[v.state];
  const suspect = v.state === "failed" && v.suspect_since ? `; suspect since ${fmtTime(v.suspect_since)}` : "";
  const note = v.state === "verified" ? `until ${fmtTime(v.due_at)} (every ${v.every_h} h)` : v.problem + suspect;
  const box = tile("kpi-verification", "error-proofing", value, note);
  box.dataset.state = v.state;
  box.classList.add(`tile-${v.state}`);
  return box;
}

/** A percentage with one decimal, without its unit ("0.5"), for an interval's bounds. */
function pct(value) {
  return (100 * value).toFixed(1);
}

/**
 * The escape rate measured by the pass audits (GET /v1/lines/{id}/audit), with its 95 % interval:
 * "0.5 %", "95 %: 0.1–2.7 % · 2 escapes in 400 audited · 13 pending"; and, when the line keeps near misses,
 * their audits apart: "near misses: 5 audited, 1 escape (not in the rate)".
 */
function escapeTile(a) {
  const interval = a.escape_rate === null ? "nothing audited yet" : `95 %: ${pct(a.low)}–${pct(a.high)} %`;
  const counted = `${a.escapes} escape${a.escapes === 1 ? "" : "s"} in ${a.audited} audited`;
  const samples = appUrl(`/review/audit?line_id=${encodeURIComponent(a.line_id)}&reason=sample`);
  const pending = el("a", { href: samples }, `${a.pending} pending`);
  const box = el("div", { class: "tile", id: "kpi-escape-rate" }, el("div", { class: "tile-label" }, "escape rate"),
    el("div", { class: "tile-value" }, fmtPct(a.escape_rate)),
    el("div", { class: "tile-note muted" }, `${interval} · ${counted} · `, pending),
    a.borderline.kept ? el("div", { class: "tile-note muted", id: "kpi-near-misses" }, nearMisses(a.borderline)) : null,
    a.last_escape ? lastEscape(a.line_id, a.last_escape) : null);
  box.dataset.rate = a.escape_rate === null ? "" : String(a.escape_rate);
  return box;
}

/** The newest escape and, when an audit found the line clean before it, a hold of the units made since. */
function lastEscape(lineId, e) {
  const note = el("div", { class: "tile-note", id: "kpi-last-escape" },
    `last escape: ${e.code || e.inspection_id} at ${fmtTime(e.captured_at)}`);
  if (e.suspect_since) {
    const query = new URLSearchParams({ new: "1", line_id: lineId, since: e.suspect_since, cause: "escape",
      reason: `escape found by audit on ${e.code || e.inspection_id}` });
    if (e.product) query.set("product", e.product);
    note.append(" · ", el("a", { href: appUrl(`/review/holds?${query}`), id: "hold-since-clean" },
      `hold the units since the last clean audit (${fmtTime(e.suspect_since)})`));
  }
  return note;
}

/** The near misses' audits, never in the escape rate: they were chosen by the model's own scores. */
function nearMisses(b) {
  const pending = b.pending ? `, ${b.pending} pending` : "";
  return `near misses: ${b.audited} audited, ${b.escapes} escape${b.escapes === 1 ? "" : "s"}${pending} (not in the rate)`;
}

function renderModels(models) {
  replace($("models"), models.counts.length
    ? models.counts.map(([name, n]) => el("li", {}, `${name}: ${n} of the last ${models.seen} frames`))
    : el("li", { class: "muted" }, "no inspections yet"));
}

function renderTable(shifts) {
  replace($("shift-rows"), shifts.slice().reverse().map((s) => {
    const defects = Object.values(s.defects_by_class).reduce((a, b) => a + b, 0);
    const by = s.units_by_status || {};
    return el("tr", { dataset: { shift: s.shift_start } },
      el("td", {}, `${fmtTime(s.shift_start)} (${s.shift})`), el("td", { class: "num" }, s.inspections),
      el("td", { class: "num" }, s.units), el("td", { class: "num" }, by.accepted ?? "—"),
      el("td", { class: "num" }, by.released ?? "—"), el("td", { class: "num" }, s.failed_units),
      el("td", { class: "num" }, fmtPct(s.fail_rate)), el("td", { class: "num" }, defects),
      el("td", { class: "num" }, s.running_s ? fmtDuration(s.running_s) : "—"),
      el("td", { class: "num" }, s.frames_per_hour !== null ? rate(s.frames_per_hour) : "—"));
  }));
}

function renderReviewers(stats) {
  $("agreement").textContent = stats.defects_compared
    ? `Two or more reviewers decided ${stats.defects_compared} defect(s); they agreed on ${stats.defects_agreed} ` +
      `(${fmtPct(stats.agreement)}).`
    : `${stats.reviews} decision(s); no defect was decided by two reviewers.`;
  $("agreement").dataset.agreement = stats.agreement === null ? "" : String(stats.agreement);
  const known = ["confirm", "reject", "reclassify", "undo"];
  replace($("reviewer-rows"), stats.reviewers.length ? stats.reviewers.map((r) => {
    const total = Object.values(r.decisions).reduce((a, b) => a + b, 0);
    const other = total - known.reduce((a, k) => a + (r.decisions[k] || 0), 0);
    return el("tr", { dataset: { reviewer: r.reviewer } },
      el("td", {}, actorName(r.reviewer, r.name)), el("td", { class: "num" }, total),
      known.map((k) => el("td", { class: "num" }, r.decisions[k] || 0)), el("td", { class: "num" }, other),
      el("td", { class: "num" }, r.defects), el("td", { class: "num" }, r.compared ? `${r.agreed} / ${r.compared}` : "—"));
  }) : el("tr", {}, el("td", { colspan: 9, class: "muted" }, "no decisions in this period")));
}

async function exportCsv() {
  const lineId = $("line").value;
  const board = $("dashboard");
  try {
    const { blob, name } = await getFile(`/v1/lines/${encodeURIComponent(lineId)}/defects.csv`,
      { since: board.dataset.since, until: board.dataset.until });
    saveBlob(blob, name);
    $("export-csv").dataset.downloaded = `${name}:${blob.size}`;
    showMessage(`Saved ${name}.`);
  } catch (exc) {
    showError(exc);
  }
}

function renderLocations(shifts) {
  const counts = new Map();
  for (const s of shifts) for (const { location, defects } of s.top_locations) counts.set(location, (counts.get(location) || 0) + defects);
  const top = [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8);
  replace($("locations"), top.length ? top.map(([loc, n]) => el("li", {}, `${loc}: ${n}`)) : el("li", { class: "muted" }, "none"));
}

async function modelsInUse(lineId) {
  const page = await getJson("/v1/inspections", { line_id: lineId, limit: RECENT });
  const counts = new Map();
  for (const i of page.items) {
    if (!i.model_name) continue;
    const name = `${i.model_name} v${i.model_version}`;
    counts.set(name, (counts.get(name) || 0) + 1);
  }
  const latest = page.items.find((i) => i.model_name) || null;
  return { latest, counts: [...counts.entries()].sort((a, b) => b[1] - a[1]), seen: page.items.length };
}

async function load() {
  const token = ++loads;
  const lineId = $("line").value;
  const registered = await lines();
  const line = registered.find((l) => l.id === lineId);
  if (!line) return;
  const until = new Date();
  const since = new Date(until.getTime() - HOURS[$("period").value] * 3.6e6);
  let subgroup = $("subgroup").value;
  if (subgroup === "hour" && HOURS[$("period").value] > 24 * 7) {
    subgroup = "shift";
    showMessage("Hourly subgroups cover at most 7 days: the p-chart uses shifts.", "error");
  }
  history.replaceState(null, "", `?line=${encodeURIComponent(lineId)}&period=${$("period").value}&subgroup=${$("subgroup").value}`);
  $("kiosk-link").href = appUrl(`/review/kiosk?line=${encodeURIComponent(lineId)}`);
  $("dashboard").setAttribute("aria-busy", "true");
  const range = { since: since.toISOString(), until: until.toISOString() };
  const statsPath = `/v1/lines/${encodeURIComponent(lineId)}/stats`;
  try {
    const verificationPath = `/v1/lines/${encodeURIComponent(lineId)}/verification`;
    const audited = line.config.audit && (line.config.audit.pass_sample > 0 || line.config.audit.borderline > 0);
    const [stats, models, reviewers, verification, audits, holds, msa] = await Promise.all([
      getJson(statsPath, range), modelsInUse(lineId), getJson("/v1/review/stats", range),
      line.config.verification ? getJson(verificationPath) : null,
      audited ? getJson(`/v1/lines/${encodeURIComponent(lineId)}/audit`, range) : null,
      getJson("/v1/holds", { line_id: lineId, state: "open", limit: 500 }),
      line.config.verification ? getJson(`/v1/lines/${encodeURIComponent(lineId)}/msa`) : null,
    ]);
    const groups = subgroup === "hour" ? await getJson(statsPath, { ...range, bucket: "hour" }) : stats;
    if (token !== loads) return;
    $("line-title").textContent = `${line.name || line.id} (${line.kind})`;
    renderTiles(stats, models, line, verification, audits, holds, msa);
    drawShiftChart($("chart"), stats.shifts, line.config.classes);
    $("pchart-subgroup").textContent = subgroup === "hour" ? "per hour" : "per shift";
    drawPChart($("pchart"), groups.shifts);
    drawPareto($("pareto"), stats.totals.defects_by_class);
    drawStationTrend($("stations"), groups.shifts);
    renderTable(stats.shifts);
    renderLocations(stats.shifts);
    renderModels(models);
    renderReviewers(reviewers);
    $("dashboard").dataset.line = lineId;
    $("dashboard").dataset.since = stats.since;
    $("dashboard").dataset.until = stats.until;
    $("dashboard").dataset.subgroup = subgroup;
  } catch (exc) {
    showError(exc);
  } finally {
    $("dashboard").setAttribute("aria-busy", "false");
  }
}

async function start() {
  let registered;
  try {
    registered = await lines();
  } catch (exc) {
    showError(exc);
    return;
  }
  const params = new URLSearchParams(window.location.search);
  replace($("line"), registered.map((l) => el("option", { value: l.id }, `${l.id} (${l.kind})`)));
  if (params.get("line")) $("line").value = params.get("line");
  if (params.get("period") in HOURS) $("period").value = params.get("period");
  if (["shift", "hour"].includes(params.get("subgroup"))) $("subgroup").value = params.get("subgroup");
  await load();
  document.body.dataset.ready = "true";
}

$("dash-form").addEventListener("change", load);
$("dash-form").addEventListener("submit", (event) => {
  event.preventDefault();
  load();
});
$("export-csv").addEventListener("click", exportCsv);
initShell(start);
