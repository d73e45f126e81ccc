// Line dashboard: fail rate and defects per class per shift, throughput, the model version in use.

import { getJson, lines } from "./api.js";
import { el, fmtNum, fmtPct, fmtTime, replace } from "./dom.js";
import { drawShiftChart } from "./chart.js";
import { initShell, showError } from "./shell.js";

const $ = (id) => document.getElementById(id);
const HOURS = { "24h": 24, "7d": 24 * 7, "31d": 24 * 31 };
const RECENT = 200;
let loads = 0;

function hoursOf(shift) {
  return (new Date(shift.shift_end) - new Date(shift.shift_start)) / 3.6e6;
}

/** Totals over the period: inspections, units, failed units, defects, hours. */
export function totals(shifts) {
  const sum = (f) => shifts.reduce((acc, s) => acc + f(s), 0);
  return {
    inspections: sum((s) => s.inspections),
    units: sum((s) => s.units),
    failed: sum((s) => s.failed_units),
    defects: sum((s) => Object.values(s.defects_by_class).reduce((a, b) => a + b, 0)),
    notInspected: sum((s) => s.by_verdict.not_inspected || 0),
    hours: sum(hoursOf),
  };
}

/** A rate with two significant digits below 10 ("0.042"), one decimal above. */
function rate(value) {
  return value >= 10 ? value.toFixed(1) : String(Number(value.toPrecision(2)));
}

function tile(id, label, value, note) {
  return el("div", { class: "tile", id }, el("div", { class: "tile-label" }, label),
    el("div", { class: "tile-value" }, value), note ? el("div", { class: "tile-note muted" }, note) : "");
}

function renderTiles(stats, models, line) {
  const t = totals(stats.shifts);
  const latest = models.latest;
  const configured = line.config.model ? `${line.config.model.name} @ ${line.config.model.version}` : "—";
  replace($("tiles"),
    tile("kpi-inspections", "frames inspected", String(t.inspections), `${t.notInspected} not inspected`),
    tile("kpi-units", "units", String(t.units), `${t.failed} failed`),
    tile("kpi-fail-rate", "fail rate", t.units ? fmtPct(t.failed / t.units) : "—", "failed units / units"),
    tile("kpi-defects", "defects", String(t.defects)),
    tile("kpi-throughput", "throughput", t.hours ? `${rate(t.inspections / t.hours)} frames/h` : "—",
      t.hours ? `${rate(t.units / t.hours)} units/h over ${fmtNum(t.hours, 1)} h` : ""),
    tile("kpi-model", "model in use", latest ? `${latest.model_name} v${latest.model_version}` : "—",
      latest ? `last frame ${fmtTime(latest.captured_at)}; configured ${configured}` : `configured ${configured}`));
  $("kpi-model").dataset.version = latest ? latest.model_version : "";
}

function renderModels(models) {
  replace($("models"), models.counts.length
    ? models.counts.map(([name, n]) => el("li", {}, `${name}: ${n} of the last ${models.seen} frames`))
    : el("li", { class: "muted" }, "no inspections yet"));
}

function renderTable(shifts) {
  replace($("shift-rows"), shifts.slice().reverse().map((s) => {
    const defects = Object.values(s.defects_by_class).reduce((a, b) => a + b, 0);
    const hours = hoursOf(s);
    return el("tr", { dataset: { shift: s.shift_start } },
      el("td", {}, `${fmtTime(s.shift_start)} (${s.shift})`), el("td", { class: "num" }, s.inspections),
      el("td", { class: "num" }, s.units), el("td", { class: "num" }, s.failed_units),
      el("td", { class: "num" }, fmtPct(s.fail_rate)), el("td", { class: "num" }, defects),
      el("td", { class: "num" }, hours ? rate(s.inspections / hours) : "—"));
  }));
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
  history.replaceState(null, "", `?line=${encodeURIComponent(lineId)}&period=${$("period").value}`);
  $("dashboard").setAttribute("aria-busy", "true");
  try {
    const [stats, models] = await Promise.all([
      getJson(`/v1/lines/${encodeURIComponent(lineId)}/stats`, { since: since.toISOString(), until: until.toISOString() }),
      modelsInUse(lineId),
    ]);
    if (token !== loads) return;
    $("line-title").textContent = `${line.name || line.id} (${line.kind})`;
    renderTiles(stats, models, line);
    drawShiftChart($("chart"), stats.shifts, line.config.classes);
    renderTable(stats.shifts);
    renderLocations(stats.shifts);
    renderModels(models);
    $("dashboard").dataset.line = lineId;
    $("dashboard").dataset.since = stats.since;
    $("dashboard").dataset.until = stats.until;
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
  await load();
  document.body.dataset.ready = "true";
}

$("dash-form").addEventListener("change", load);
$("dash-form").addEventListener("submit", (event) => {
  event.preventDefault();
  load();
});
initShell(start);
