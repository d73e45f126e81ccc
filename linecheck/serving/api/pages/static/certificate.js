// A printable inspection certificate of one unit: the grade after review and how it was reached (the
// API's grade table: the four-point points of a roll, the cells of a module...), the defect map, every
// defect with its reviews, the inspections, the genealogy and the model versions.

import { ApiError, getJson, lines } from "./api.js";
import { actorName, badge, el, fmtTime, formatLocation, replace, statusBadge } from "./dom.js";
import { drawDefectMap } from "./defect_map.js";
import { initShell, showError, showMessage } from "./shell.js";

const $ = (id) => document.getElementById(id);

function table(columns, rows, attrs = {}) {
  return el("table", attrs, el("thead", {}, el("tr", {}, columns.map((c) => el("th", {}, c)))),
    el("tbody", {}, rows.map((row) => el("tr", {}, row.map((cell) => el("td", {}, cell))))));
}

function facts(pairs) {
  return pairs.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]);
}

async function show(code) {
  $("cert-code").value = code;
  $("cert-body").hidden = true;
  let trace;
  try {
    trace = await getJson(`/v1/trace/${encodeURIComponent(code)}`);
  } catch (exc) {
    if (exc instanceof ApiError && exc.status === 404) showMessage(`Nothing is known about ${code}.`, "error");
    else showError(exc);
    return;
  }
  const grade = trace.grade;
  if (!trace.unit || !grade) {
    showMessage(`${code} was never inspected: there is nothing to certify.`, "error");
    return;
  }
  const registered = await lines().catch(() => []);
  const line = registered.find((l) => l.id === trace.unit.line_id);
  const inspections = trace.inspections;
  const first = inspections.length ? inspections[0].captured_at : null;
  const last = inspections.length ? inspections[inspections.length - 1].captured_at : null;
  document.title = `linecheck · certificate ${code}`;
  $("cert-title").textContent = `Inspection certificate · ${code}`;
  replace($("cert-unit"), facts([
    ["line", line ? `${line.id} — ${line.name}` : trace.unit.line_id],
    ["kind", trace.unit.kind],
    ...(grade.product ? [["product", grade.product]] : []),
    ["inspected", `${fmtTime(first)} – ${fmtTime(last)}`],
    ["frames", `${grade.inspections} (${grade.not_inspected} not inspected, ${grade.frames_failed} judged fail)`],
  ]));
  $("cert-grade").textContent = grade.grade;
  $("cert-grade").className = `grade grade-${grade.accepted ? "ok" : "bad"}`;
  const held = (grade.holds || []).filter((h) => h.state === "held");
  replace($("cert-status"), statusBadge(grade.status, grade.status_text, "cert-status-badge"),
    held.length
      ? el("p", { id: "cert-on-hold", class: "on-hold", dataset: { holds: held.map((h) => h.id).join(",") } },
        `ON HOLD — may not ship: ${held.map((h) => `hold #${h.id} (${h.cause}) ${h.reason}`).join("; ")}`)
      : null,
    grade.reworked_at
      ? el("p", { id: "cert-rework", class: "muted" },
        `reworked ${fmtTime(grade.reworked_at)}: graded on the inspections since (${grade.frames_superseded} earlier not counted)`)
      : null);
  replace($("cert-facts"), facts([
    ...grade.facts,
    ["as inspected", grade.inspected_grade],
    ["defects counted", String(grade.defects_counted)],
    ["rejected by review", String(grade.defects_excluded)],
    ["drawn by reviewers", String(grade.defects_added)],
    ["not reviewed yet", String(grade.defects_pending)],
  ]));
  if (grade.table) {
    $("cert-table-title").textContent = `How the grade was reached: ${grade.table.title}`;
    replace($("cert-table"), grade.table.rows.length
      ? table(grade.table.columns, grade.table.rows, { id: "grade-table" })
      : el("p", { class: "muted" }, "no defect counts against the grade"));
  } else {
    replace($("cert-table"), el("p", { class: "muted" }, "the line's kind gives no per-defect table"));
  }
  const defects = inspections.flatMap((i) => i.defects.map((d) => ({ i, d })));
  replace($("cert-defects"), defects.length ? table(["#", "class", "model said", "confidence", "where", "state", "reviews"],
    defects.map(({ d }) => [String(d.id), d.final_class, d.source === "reviewer" ? "drawn by a reviewer" : d.class_name,
      `${(100 * d.confidence).toFixed(0)}%`, formatLocation(d.final_location || d.location), badge(d.review_state),
      d.reviews.map((r) => `${r.decision}${r.new_class ? ` → ${r.new_class}` : ""} by ${actorName(r.reviewer, r.reviewer_name)}, ${fmtTime(r.at)}`).join("; ") || "—"]),
    { id: "defect-table" }) : el("p", { class: "muted" }, "no defect"));
  replace($("cert-inspections"), table(["captured", "station", "verdict", "model", "defects"],
    inspections.map((i) => [fmtTime(i.captured_at), i.station, i.verdict, i.model_name ? `${i.model_name} v${i.model_version}` : "—",
      String(i.defects.length)]), { id: "inspection-table" }));
  const links = [...trace.genealogy.parents, ...trace.genealogy.children];
  replace($("cert-genealogy"),
    links.length ? el("ul", {}, links.map((l) => el("li", {}, l.phrase || `${l.parent} ${l.relation} ${l.child}`))) : el("p", { class: "muted" }, "no genealogy links"),
    el("p", {}, `Models: ${trace.model_versions.map((m) => `${m.model_name} v${m.model_version} (${m.inspections} frame(s))`).join(", ") || "—"}`));
  if (line && inspections.length) {
    drawDefectMap($("cert-map"), { kind: line.kind, config: line.config, inspections, product: grade.product, productConfigs: line.product_configs });
  }
  $("cert-issued").textContent = `Issued ${fmtTime(new Date().toISOString())} from the linecheck traceability store.`;
  $("cert-body").hidden = false;
  $("certificate").dataset.code = code;
}

$("cert-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const code = $("cert-code").value.trim();
  if (!code) return;
  history.replaceState(null, "", `?code=${encodeURIComponent(code)}`);
  show(code);
});
$("print").addEventListener("click", () => window.print());
initShell(async () => {
  const code = new URLSearchParams(window.location.search).get("code");
  if (code) await show(code);
  document.body.dataset.ready = "true";
});
