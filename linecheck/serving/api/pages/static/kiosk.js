// Line-side kiosk: the newest unit and its verdict after review, the current shift's figures and the
// latest units, refreshed every few seconds (?line=ID&refresh=SECONDS).

import { getJson, lines } from "./api.js";
import { el, fmtPct, fmtTime, replace } from "./dom.js";
import { LANG, statusText, t } from "./i18n.js";
import { initShell, showError } from "./shell.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(window.location.search);
const EVERY_S = Math.max(2, Number(params.get("refresh")) || 10);
const SHOWN = 12;
let timer = null;
let busy = false;

function unitRow(unit) {
  return el("li", { class: "kiosk-unit", dataset: { code: unit.code, status: unit.status } },
    el("span", { class: "code" }, unit.code), el("span", {}, unit.grade),
    el("strong", {}, statusText(unit.status)));
}

async function refresh() {
  if (busy) return;
  busy = true;
  const lineId = $("kiosk-select").value;
  $("kiosk").setAttribute("aria-busy", "true");
  try {
    const until = new Date();
    const since = new Date(until.getTime() - 24 * 3.6e6);
    const [units, stats, holds] = await Promise.all([
      getJson(`/v1/lines/${encodeURIComponent(lineId)}/units`, { limit: SHOWN }),
      getJson(`/v1/lines/${encodeURIComponent(lineId)}/stats`, { since: since.toISOString(), until: until.toISOString() }),
      getJson("/v1/holds", { line_id: lineId, state: "open", limit: 500 }),
    ]);
    const held = holds.items.reduce((sum, h) => sum + h.held, 0);
    const alert = $("kiosk-hold");
    alert.hidden = held === 0;
    alert.dataset.held = String(held);
    alert.textContent = held ? t("kiosk.on_hold", { count: held, holds: holds.items.filter((h) => h.held).length }) : "";
    const last = units.items[0];
    $("kiosk-code").textContent = last ? last.code : t("kiosk.no_unit");
    const verdict = $("kiosk-verdict");
    verdict.textContent = last ? statusText(last.status).toUpperCase() : "—";
    verdict.dataset.status = last ? last.status : "";
    $("kiosk-grade").textContent = last
      ? [
        t("kiosk.grade", { grade: last.grade }) +
          (last.inspected_grade !== last.grade ? ` ${t("kiosk.inspected_grade", { grade: last.inspected_grade })}` : ""),
        t("kiosk.frames", { count: last.frames }), t("kiosk.pending", { count: last.defects_pending }),
        fmtTime(last.last_at),
      ].join(" · ")
      : "";
    const shift = stats.shifts[stats.shifts.length - 1];
    $("kiosk-units").textContent = shift ? String(shift.units) : "0";
    $("kiosk-fail-rate").textContent = shift ? fmtPct(shift.fail_rate) : "—";
    $("kiosk-throughput").textContent = shift && shift.units_per_hour !== null ? shift.units_per_hour.toFixed(1) : "—";
    replace($("kiosk-units-list"), units.items.length ? units.items.map(unitRow) : el("li", { class: "muted" }, t("kiosk.no_units")));
    $("kiosk-updated").textContent = fmtTime(new Date().toISOString()).slice(11);
    $("kiosk").dataset.refreshes = String(Number($("kiosk").dataset.refreshes || 0) + 1);
    $("kiosk").dataset.lastCode = last ? last.code : "";
  } catch (exc) {
    showError(exc);
  } finally {
    busy = false;
    $("kiosk").setAttribute("aria-busy", "false");
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
  replace($("kiosk-select"), registered.map((l) => el("option", { value: l.id }, l.id)));
  const wanted = params.get("line");
  if (wanted && registered.some((l) => l.id === wanted)) $("kiosk-select").value = wanted;
  const show = () => {
    const line = registered.find((l) => l.id === $("kiosk-select").value);
    $("kiosk-line").textContent = line ? line.name || line.id : "";
    history.replaceState(null, "", `?line=${encodeURIComponent($("kiosk-select").value)}&refresh=${EVERY_S}&lang=${LANG}`);
  };
  $("kiosk-select").onchange = () => {
    show();
    refresh();
  };
  show();
  $("kiosk-every").textContent = t("kiosk.refreshes", { every: EVERY_S });
  await refresh();
  clearInterval(timer);
  timer = setInterval(refresh, EVERY_S * 1000);
  document.body.dataset.ready = "true";
}

initShell(start);
