// Statistical process control charts of the dashboard, drawn as SVG from GET /v1/lines/{id}/stats:
// the p-chart of the unit fail rate with 3-sigma limits per subgroup (shift or hour), the Pareto of
// defect classes, and the trend of defects per 100 frames by station.

import { classColour, el, fmtPct, fmtShort, svg } from "./dom.js";

let W = 920;
const H = 280;
const M = { left: 56, right: 56, top: 16, bottom: 58 };
/** Half-width charts (p-chart, Pareto) use a narrower drawing so their text stays readable. */
const NARROW = 640;

/**
 * p-chart numbers: p-bar over the subgroups with units, and per subgroup p, n and the 3-sigma
 * limits (they narrow as n grows). A point above UCL (or below a positive LCL) is out of control.
 */
export function pChart(shifts) {
  const groups = shifts.filter((s) => s.units > 0);
  const n = groups.reduce((a, s) => a + s.units, 0);
  const failed = groups.reduce((a, s) => a + s.failed_units, 0);
  const pbar = n ? failed / n : null;
  const points = groups.map((s) => {
    const sigma = Math.sqrt((pbar * (1 - pbar)) / s.units);
    const p = s.failed_units / s.units;
    const ucl = Math.min(1, pbar + 3 * sigma);
    const lcl = Math.max(0, pbar - 3 * sigma);
    return { start: s.shift_start, n: s.units, failed: s.failed_units, p, ucl, lcl, out: p > ucl + 1e-12 || p < lcl - 1e-12 };
  });
  return { pbar, n, failed, points };
}

function frame(label) {
  return svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": label });
}

function axes(root, yTicks, yOf, format, plotW, plotH) {
  for (const t of yTicks) {
    root.append(svg("line", { class: "grid", x1: M.left, x2: M.left + plotW, y1: yOf(t), y2: yOf(t) }));
    root.append(svg("text", { class: "axis-label", x: M.left - 6, y: yOf(t) + 4, "text-anchor": "end" }, format(t)));
  }
  root.append(svg("line", { class: "axis", x1: M.left, x2: M.left + plotW, y1: M.top + plotH, y2: M.top + plotH }));
}

function xLabels(root, labels, xOf, plotH) {
  const every = Math.max(1, Math.ceil(labels.length / 14));
  labels.forEach((text, i) => {
    if (i % every) return;
    const x = xOf(i);
    root.append(svg("text", { class: "axis-label", x, y: M.top + plotH + 16, "text-anchor": "end",
      transform: `rotate(-30 ${x} ${M.top + plotH + 16})` }, text));
  });
}

/** Draw the p-chart of `shifts` into `container`; returns its numbers (pChart). */
export function drawPChart(container, shifts) {
  W = NARROW;
  const chart = pChart(shifts);
  container.replaceChildren();
  container.dataset.points = String(chart.points.length);
  container.dataset.pbar = chart.pbar === null ? "" : String(chart.pbar);
  container.dataset.out = String(chart.points.filter((p) => p.out).length);
  if (!chart.points.length) {
    container.append(el("p", { class: "muted" }, "no units in this period"));
    return chart;
  }
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const top = Math.min(1, Math.max(0.1, ...chart.points.map((p) => Math.max(p.p, p.ucl))) * 1.1);
  const yOf = (v) => M.top + plotH - (v / top) * plotH;
  const slot = plotW / chart.points.length;
  const xOf = (i) => M.left + slot * i + slot / 2;
  const root = frame("p-chart of the unit fail rate with control limits");
  axes(root, [0, top / 4, top / 2, (3 * top) / 4, top], yOf, (v) => fmtPct(v), plotW, plotH);
  const step = (key) => chart.points.map((p, i) => `${M.left + slot * i},${yOf(p[key])} ${M.left + slot * (i + 1)},${yOf(p[key])}`).join(" ");
  root.append(svg("polyline", { class: "limit limit-ucl", points: step("ucl"), fill: "none" }));
  root.append(svg("polyline", { class: "limit limit-lcl", points: step("lcl"), fill: "none" }));
  root.append(svg("line", { class: "centre", x1: M.left, x2: M.left + plotW, y1: yOf(chart.pbar), y2: yOf(chart.pbar) }));
  root.append(svg("text", { class: "axis-label", x: M.left + plotW + 4, y: yOf(chart.pbar) + 4 }, `p̄ ${fmtPct(chart.pbar)}`));
  if (chart.points.length > 1) {
    root.append(svg("polyline", { class: "rate-line", fill: "none", stroke: "#111827", "stroke-width": 1.5,
      points: chart.points.map((p, i) => `${xOf(i)},${yOf(p.p)}`).join(" ") }));
  }
  chart.points.forEach((p, i) => {
    root.append(svg("circle", { class: `p-point${p.out ? " p-out" : ""}`, cx: xOf(i), cy: yOf(p.p), r: 4.5,
      dataset: { p: p.p, n: p.n, ucl: p.ucl, lcl: p.lcl, out: String(p.out) } },
    svg("title", {}, `${fmtShort(p.start)}: ${p.failed}/${p.n} units failed (${fmtPct(p.p)}); UCL ${fmtPct(p.ucl)}, LCL ${fmtPct(p.lcl)}`)));
  });
  xLabels(root, chart.points.map((p) => fmtShort(p.start)), xOf, plotH);
  container.append(root, el("p", { class: "legend" },
    el("span", { class: "legend-item" }, el("span", { class: "swatch swatch-line" }), "fail rate of units (failed / units)"),
    el("span", { class: "legend-item" }, el("span", { class: "swatch swatch-centre" }), "p̄ centre line"),
    el("span", { class: "legend-item" }, el("span", { class: "swatch swatch-limit" }), "3σ control limits (by subgroup size)"),
    el("span", { class: "legend-item" }, el("span", { class: "swatch swatch-out" }), "out of control")));
  return chart;
}

/** Classes by count, largest first, with the cumulative share. */
export function pareto(defectsByClass) {
  const rows = Object.entries(defectsByClass).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const total = rows.reduce((a, [, n]) => a + n, 0);
  let running = 0;
  return rows.map(([name, count]) => {
    running += count;
    return { name, count, cumulative: total ? running / total : 0 };
  });
}

/** Draw the Pareto chart of `defectsByClass` ({class: count}); returns its rows. */
export function drawPareto(container, defectsByClass) {
  W = NARROW;
  const rows = pareto(defectsByClass);
  container.replaceChildren();
  container.dataset.bars = String(rows.length);
  if (!rows.length) {
    container.append(el("p", { class: "muted" }, "no defects in this period"));
    return rows;
  }
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const max = rows[0].count;
  const yOf = (v) => M.top + plotH - (v / max) * plotH;
  const yPct = (v) => M.top + plotH - v * plotH;
  const slot = plotW / rows.length;
  const barW = Math.min(90, slot * 0.7);
  const xOf = (i) => M.left + slot * i + slot / 2;
  const root = frame("Pareto of defect classes");
  axes(root, [...new Set([0, Math.round(max / 2), max])], yOf, (v) => String(v), plotW, plotH);
  for (const v of [0.8]) {
    root.append(svg("line", { class: "limit", x1: M.left, x2: M.left + plotW, y1: yPct(v), y2: yPct(v) }));
  }
  for (const v of [0, 0.5, 0.8, 1]) {
    root.append(svg("text", { class: "axis-label", x: M.left + plotW + 6, y: yPct(v) + 4 }, `${Math.round(v * 100)} %`));
  }
  rows.forEach((row, i) => {
    root.append(svg("rect", { class: "bar pareto-bar", x: xOf(i) - barW / 2, y: yOf(row.count), width: barW,
      height: M.top + plotH - yOf(row.count), fill: classColour(row.name), dataset: { className: row.name, count: row.count } },
    svg("title", {}, `${row.name}: ${row.count} (${fmtPct(row.cumulative)} cumulative)`)));
  });
  root.append(svg("polyline", { class: "rate-line", fill: "none", stroke: "#111827", "stroke-width": 2,
    points: rows.map((row, i) => `${xOf(i)},${yPct(row.cumulative)}`).join(" ") }));
  rows.forEach((row, i) => root.append(svg("circle", { class: "cum-point", cx: xOf(i), cy: yPct(row.cumulative), r: 3.5,
    fill: "#111827", dataset: { cumulative: row.cumulative } })));
  xLabels(root, rows.map((r) => r.name), xOf, plotH);
  container.append(root);
  return rows;
}

/** Per station: defects per 100 frames in each subgroup ({station: [{start, value}]}). */
export function stationTrend(shifts) {
  const names = [...new Set(shifts.flatMap((s) => (s.stations || []).map((st) => st.station)))].sort();
  const series = {};
  for (const name of names) {
    series[name] = shifts.map((s) => {
      const st = (s.stations || []).find((x) => x.station === name);
      return { start: s.shift_start, value: st && st.inspections ? (100 * st.defects) / st.inspections : null };
    });
  }
  return series;
}

/** Draw the trend by station into `container`; returns the number of stations drawn. */
export function drawStationTrend(container, shifts) {
  W = 920;
  const series = stationTrend(shifts);
  const names = Object.keys(series);
  container.replaceChildren();
  container.dataset.stations = String(names.length);
  if (!names.length) {
    container.append(el("p", { class: "muted" }, "no frames in this period"));
    return 0;
  }
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const values = names.flatMap((n) => series[n].map((p) => p.value).filter((v) => v !== null));
  const top = Math.max(1, ...values) * 1.1;
  const yOf = (v) => M.top + plotH - (v / top) * plotH;
  const slot = plotW / Math.max(1, shifts.length);
  const xOf = (i) => M.left + slot * i + slot / 2;
  const root = frame("defects per 100 frames by station");
  axes(root, [0, top / 2, top], yOf, (v) => v.toFixed(v < 10 ? 1 : 0), plotW, plotH);
  for (const name of names) {
    const colour = classColour(name);
    const pts = series[name].map((p, i) => (p.value === null ? null : [xOf(i), yOf(p.value), p])).filter(Boolean);
    if (pts.length > 1) {
      root.append(svg("polyline", { class: "station-line", fill: "none", stroke: colour, "stroke-width": 2,
        points: pts.map(([x, y]) => `${x},${y}`).join(" "), dataset: { station: name } }));
    }
    for (const [x, y, p] of pts) {
      root.append(svg("circle", { class: "station-point", cx: x, cy: y, r: 3.5, fill: colour, dataset: { station: name, value: p.value } },
        svg("title", {}, `${name} · ${fmtShort(p.start)}: ${p.value.toFixed(1)} defects / 100 frames`)));
    }
  }
  xLabels(root, shifts.map((s) => fmtShort(s.shift_start)), xOf, plotH);
  container.append(root, el("p", { class: "legend" }, names.map((name) => {
    const swatch = el("span", { class: "swatch" });
    swatch.style.background = classColour(name);
    return el("span", { class: "legend-item" }, swatch, name);
  })));
  return names.length;
}
