// The dashboard chart, drawn as SVG: defects per class per shift (stacked bars) and the fail rate (line).

import { classColour, el, fmtPct, fmtShort, svg } from "./dom.js";

const RATE_COLOUR = "#111827";

/** The smallest 1-2-5 step (times a power of ten) with `ticks` steps reaching `value`. */
function niceStep(value, ticks) {
  const raw = Math.max(value, 1e-9) / ticks;
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const k of [1, 2, 2.5, 5, 10]) if (k * power >= raw - 1e-12) return k * power;
  return 10 * power;
}

/** Class names in the line's order, then any other class found in the shifts. */
export function classesIn(shifts, classes) {
  const names = [...classes];
  for (const shift of shifts) for (const name of Object.keys(shift.defects_by_class)) if (!names.includes(name)) names.push(name);
  return names;
}

/**
 * Draw `shifts` (LineStatsOut.shifts) into `container`: one stacked bar of defects per class per
 * shift (left axis) and the fail rate of units (right axis). Returns the number of bars drawn.
 */
export function drawShiftChart(container, shifts, classes) {
  const width = 920;
  const height = 330;
  const m = { left: 52, right: 60, top: 18, bottom: 62 };
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;
  const names = classesIn(shifts, classes);
  const totals = shifts.map((s) => Object.values(s.defects_by_class).reduce((a, b) => a + b, 0));
  const yMax = 4 * Math.max(1, Math.ceil(niceStep(Math.max(1, ...totals), 4)));
  const rates = shifts.map((s) => s.fail_rate).filter((r) => r !== null);
  const rMax = Math.min(1, 4 * niceStep(Math.max(0.1, ...rates), 4));
  const slot = plotW / Math.max(1, shifts.length);
  const barW = Math.max(2, Math.min(48, slot * 0.7));
  const y = (count) => m.top + plotH - (count / yMax) * plotH;
  const yRate = (rate) => m.top + plotH - (rate / rMax) * plotH;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img",
    "aria-label": "defects per class and fail rate per shift" });
  for (let i = 0; i <= 4; i += 1) {
    const value = (yMax * i) / 4;
    root.append(svg("line", { class: "grid", x1: m.left, x2: m.left + plotW, y1: y(value), y2: y(value) }));
    root.append(svg("text", { class: "axis-label", x: m.left - 6, y: y(value) + 4, "text-anchor": "end" }, +value.toFixed(1)));
    root.append(svg("text", { class: "axis-label", x: m.left + plotW + 6, y: yRate((rMax * i) / 4) + 4 }, fmtPct((rMax * i) / 4)));
  }
  root.append(svg("text", { class: "axis-title", x: 12, y: m.top + plotH / 2, transform: `rotate(-90 12 ${m.top + plotH / 2})`,
    "text-anchor": "middle" }, "defects"));
  let bars = 0;
  const labelEvery = Math.max(1, Math.ceil(shifts.length / 12));
  shifts.forEach((shift, i) => {
    const x = m.left + slot * i + (slot - barW) / 2;
    let base = 0;
    for (const name of names) {
      const count = shift.defects_by_class[name] || 0;
      if (!count) continue;
      root.append(svg("rect", { class: "bar", x, y: y(base + count), width: barW, height: y(base) - y(base + count),
        fill: classColour(name, classes), dataset: { className: name, shift: shift.shift_start, count } },
      svg("title", {}, `${fmtShort(shift.shift_start)} · ${name}: ${count}`)));
      base += count;
      bars += 1;
    }
    if (i % labelEvery === 0) {
      const lx = m.left + slot * i + slot / 2;
      root.append(svg("text", { class: "axis-label", x: lx, y: m.top + plotH + 16, "text-anchor": "end",
        transform: `rotate(-30 ${lx} ${m.top + plotH + 16})` }, fmtShort(shift.shift_start)));
    }
  });
  const points = shifts.map((s, i) => (s.fail_rate === null ? null : [m.left + slot * i + slot / 2, yRate(s.fail_rate), s]))
    .filter(Boolean);
  if (points.length > 1) {
    root.append(svg("polyline", { class: "rate-line", fill: "none", stroke: RATE_COLOUR, "stroke-width": 2,
      points: points.map(([px, py]) => `${px},${py}`).join(" ") }));
  }
  for (const [px, py, s] of points) {
    root.append(svg("circle", { class: "rate-point", cx: px, cy: py, r: 4, fill: RATE_COLOUR, dataset: { rate: s.fail_rate } },
      svg("title", {}, `${fmtShort(s.shift_start)} · fail rate ${fmtPct(s.fail_rate)} (${s.failed_units}/${s.units} units)`)));
  }
  root.append(svg("line", { class: "axis", x1: m.left, x2: m.left + plotW, y1: m.top + plotH, y2: m.top + plotH }));
  container.replaceChildren(root);
  const legend = el("p", { class: "legend" }, names.map((name) => {
    const swatch = el("span", { class: "swatch" });
    swatch.style.background = classColour(name, classes);
    return el("span", { class: "legend-item" }, swatch, name);
  }), el("span", { class: "legend-item" }, el("span", { class: "swatch swatch-line" }), "fail rate (right axis)"));
  container.append(legend);
  container.dataset.bars = String(bars);
  return bars;
}
