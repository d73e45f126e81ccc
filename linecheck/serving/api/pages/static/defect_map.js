// Defect maps of one unit, drawn as inline SVG: textile roll (metres), PV cell grid, bearing zones.

import { classColour, el, fmtNum, svg } from "./dom.js";

const REJECTED = "#9aa0a6";

/** The defects of a trace's inspections, each with its inspection beside it. */
function defectsOf(inspections) {
  const out = [];
  for (const inspection of inspections) {
    for (const defect of inspection.defects) out.push({ defect, inspection });
  }
  return out;
}

function marker(shape, { defect }, classes, extra = {}) {
  const rejected = defect.review_state === "rejected";
  const colour = rejected ? REJECTED : classColour(defect.final_class, classes);
  const attrs = {
    class: `defect${rejected ? " defect-rejected" : ""}`,
    fill: rejected ? "none" : colour,
    stroke: rejected ? REJECTED : "#1b1f24",
    "stroke-width": rejected ? 1.5 : 0.8,
    "stroke-dasharray": rejected ? "3 2" : null,
    dataset: { defectId: defect.id, className: defect.final_class, state: defect.review_state },
    ...extra,
  };
  const title = `#${defect.id} ${defect.final_class} ${(100 * defect.confidence).toFixed(0)}% · ${defect.review_state}`;
  return svg(shape, attrs, svg("title", {}, title));
}

function niceStep(span) {
  const raw = span / 10;
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const k of [1, 2, 5, 10]) if (k * power >= raw) return k * power;
  return 10 * power;
}

function textileMap(config, inspections, classes) {
  const cfg = config.textile;
  const width = 900;
  const height = 250;
  const m = { left: 56, right: 16, top: 16, bottom: 42 };
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;
  const items = defectsOf(inspections);
  let length = cfg.roll_length_m;
  for (const i of inspections) if (i.roll_offset_m !== null) length = Math.max(length, i.roll_offset_m + cfg.frame_length_m);
  for (const { defect } of items) {
    const loc = defect.location || {};
    if (loc.along_m !== undefined) length = Math.max(length, loc.along_m + (loc.length_m || 0));
  }
  const x = (metres) => m.left + (metres / length) * plotW;
  const y = (metres) => m.top + (metres / cfg.roll_width_m) * plotH;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "map map-textile", role: "img",
    "aria-label": `roll map, ${fmtNum(length, 1)} m long, ${cfg.roll_width_m} m wide` });
  root.append(svg("rect", { class: "fabric", x: m.left, y: m.top, width: plotW, height: plotH }));
  for (const i of inspections) {
    if (i.roll_offset_m === null) continue;
    root.append(svg("rect", {
      class: i.verdict === "not_inspected" ? "coverage coverage-missed" : "coverage",
      x: x(i.roll_offset_m), y: m.top, width: Math.max(1, x(i.roll_offset_m + cfg.frame_length_m) - x(i.roll_offset_m)), height: plotH,
    }, svg("title", {}, `frame at ${fmtNum(i.roll_offset_m)} m · ${i.verdict}`)));
  }
  const step = niceStep(length);
  for (let t = 0; t <= length + 1e-9; t += step) {
    root.append(svg("line", { class: "tick", x1: x(t), x2: x(t), y1: m.top + plotH, y2: m.top + plotH + 5 }));
    root.append(svg("text", { class: "axis-label", x: x(t), y: m.top + plotH + 18, "text-anchor": "middle" }, `${+t.toFixed(2)}`));
  }
  root.append(svg("text", { class: "axis-title", x: m.left + plotW / 2, y: height - 4, "text-anchor": "middle" },
    "metres along the roll"));
  for (const t of [0, cfg.roll_width_m / 2, cfg.roll_width_m]) {
    root.append(svg("text", { class: "axis-label", x: m.left - 6, y: y(t) + 4, "text-anchor": "end" }, `${+t.toFixed(2)} m`));
  }
  let unlocated = 0;
  let drawn = 0;
  for (const item of items) {
    const loc = item.defect.location || {};
    const offset = item.inspection.roll_offset_m;
    const along = loc.along_m !== undefined ? loc.along_m : offset !== null ? offset + cfg.frame_length_m / 2 : null;
    if (along === null) {
      unlocated += 1;
      continue;
    }
    const across = loc.across_m !== undefined && loc.across_m !== null ? loc.across_m : cfg.roll_width_m / 2;
    const w = Math.max(7, ((loc.length_m || 0) / length) * plotW);
    const h = Math.max(7, ((loc.width_m || 0) / cfg.roll_width_m) * plotH);
    root.append(marker("rect", item, classes, { x: x(along) - w / 2, y: y(across) - h / 2, width: w, height: h, rx: 1.5 }));
    drawn += 1;
  }
  const legend = [["#fffaf0", "frames inspected"], ["#efe6d3", "roll not covered"], ["#f6c7c3", "frames not inspected (fail-safe)"]];
  return { root, drawn, unlocated, legend };
}

const PV_FILL = { c: "#d62839", b: "#f4a261", other: "#ffd166", rejected: "#dfe3e8", clean: "#1f3b57" };

function pvMap(config, inspections, classes) {
  const { rows, cols } = config.pv;
  const bClasses = config.pv.b_grade_classes;
  const cClasses = config.pv.c_grade_classes;
  const cell = Math.min(56, Math.floor(860 / cols));
  const pad = 24;
  const root = svg("svg", { viewBox: `0 0 ${cols * cell + 2 * pad} ${rows * cell + 2 * pad}`, class: "map map-pv",
    role: "img", "aria-label": `module cell grid ${rows} x ${cols}` });
  const byCell = new Map();
  let unlocated = 0;
  for (const item of defectsOf(inspections)) {
    const loc = item.defect.location;
    if (!loc || loc.row === undefined || loc.col === undefined) {
      unlocated += 1;
      continue;
    }
    const key = `${loc.row},${loc.col}`;
    if (!byCell.has(key)) byCell.set(key, []);
    byCell.get(key).push(item.defect);
  }
  root.append(svg("rect", { class: "module-frame", x: pad - 6, y: pad - 6, width: cols * cell + 12, height: rows * cell + 12, rx: 4 }));
  let drawn = 0;
  for (let r = 0; r < rows; r += 1) {
    for (let c = 0; c < cols; c += 1) {
      const found = byCell.get(`${r},${c}`) || [];
      const live = found.filter((d) => d.review_state !== "rejected");
      let severity = "clean";
      if (live.some((d) => cClasses.includes(d.final_class))) severity = "c";
      else if (live.some((d) => bClasses.includes(d.final_class))) severity = "b";
      else if (live.length) severity = "other";
      else if (found.length) severity = "rejected";
      const names = [...new Set(live.map((d) => d.final_class))];
      const group = svg("g", { class: `cell cell-${severity}`, dataset: { row: r, col: c, defects: live.length, severity } },
        svg("rect", { x: pad + c * cell + 1, y: pad + r * cell + 1, width: cell - 2, height: cell - 2, fill: PV_FILL[severity] }),
        svg("title", {}, `row ${r}, col ${c}: ${found.length ? found.map((d) => `${d.final_class} (${d.review_state})`).join(", ") : "no defect"}`));
      if (names.length) {
        group.append(svg("text", { class: "cell-label", x: pad + c * cell + cell / 2, y: pad + r * cell + cell / 2 + 4, "text-anchor": "middle" },
          names.map((n) => n.split("_").map((w) => w[0]).join("").toUpperCase()).join(" ")));
        drawn += live.length;
      }
      root.append(group);
    }
  }
  for (let c = 0; c < cols; c += 1) root.append(svg("text", { class: "axis-label", x: pad + c * cell + cell / 2, y: pad - 10, "text-anchor": "middle" }, c));
  for (let r = 0; r < rows; r += 1) root.append(svg("text", { class: "axis-label", x: pad - 10, y: pad + r * cell + cell / 2 + 4, "text-anchor": "end" }, r));
  const legend = [
    [PV_FILL.c, `C-grade defect (${cClasses.join(", ")})`],
    [PV_FILL.b, `B-grade defect (${bClasses.join(", ")})`],
    [PV_FILL.other, "other defect"],
    [PV_FILL.rejected, "only rejected defects"],
  ];
  return { root, drawn, unlocated, legend, severityOnly: true };
}

const ZONES = ["face", "outer_race", "inner_race", "bore"];

function bearingMap(config, inspections, classes) {
  const size = 340;
  const c = size / 2;
  const R = 130;
  const inner = config.bearing.inner_radius_frac;
  const split = config.bearing.race_split_frac;
  const band = { bore: [0.1, inner - 0.04], inner_race: [inner + 0.04, split - 0.04], outer_race: [split + 0.04, 0.96], face: [1.04, 1.2] };
  const outer = { face: 1.25, outer_race: 1, inner_race: split, bore: inner };
  const items = defectsOf(inspections);
  const hits = Object.fromEntries(ZONES.map((z) => [z, 0]));
  for (const { defect } of items) {
    const zone = defect.location && defect.location.zone;
    if (zone in hits && defect.review_state !== "rejected") hits[zone] += 1;
  }
  const root = svg("svg", { viewBox: `0 0 ${size + 170} ${size}`, class: "map map-bearing", role: "img", "aria-label": "ring zones" });
  for (const zone of ZONES) {
    root.append(svg("circle", { class: `zone zone-${zone}${hits[zone] ? " zone-hit" : ""}`, cx: c, cy: c, r: outer[zone] * R,
      dataset: { zone, defects: hits[zone] } }, svg("title", {}, `${zone.replace("_", " ")}: ${hits[zone]} defect(s)`)));
  }
  let drawn = 0;
  let unlocated = 0;
  for (const item of items) {
    const { defect, inspection } = item;
    const zone = defect.location && defect.location.zone;
    if (!(zone in band)) {
      unlocated += 1;
      continue;
    }
    const [x1, y1, x2, y2] = defect.bbox;
    const dx = (x1 + x2) / 2 - inspection.image_width / 2;
    const dy = (y1 + y2) / 2 - inspection.image_height / 2;
    const rOuter = 0.47 * Math.min(inspection.image_width, inspection.image_height);
    const angle = Math.atan2(dy, dx);
    const [lo, hi] = band[zone];
    const radius = Math.min(hi, Math.max(lo, Math.hypot(dx, dy) / rOuter)) * R;
    root.append(marker("circle", item, classes, { cx: c + radius * Math.cos(angle), cy: c + radius * Math.sin(angle), r: 7 }));
    drawn += 1;
  }
  ZONES.forEach((zone, i) => {
    root.append(svg("text", { class: `zone-legend${hits[zone] ? " zone-legend-hit" : ""}`, x: size + 10, y: 40 + 26 * i },
      `${zone.replace("_", " ")}: ${hits[zone]}`));
  });
  return { root, drawn, unlocated, legend: [] };
}

/**
 * Draw the defect map of `kind` into `container`; returns {drawn, unlocated}. `product`: the one of the
 * line's products the unit was graded as (its grade's `product`): drawn with that product's config, as the
 * API merged it (`productConfigs`: the line's `product_configs`).
 */
export function drawDefectMap(container, { kind, config: lineConfig, inspections, product = null, productConfigs = {} }) {
  const config = (product && productConfigs[product]) || lineConfig;
  const classes = config.classes;
  const draw = { textile: textileMap, pv: pvMap, bearing: bearingMap }[kind];
  container.replaceChildren();
  if (!draw) {
    container.append(el("p", { class: "muted" }, `no map for kind ${kind}`));
    return { drawn: 0, unlocated: 0 };
  }
  const { root, drawn, unlocated, legend: extra, severityOnly } = draw(config, inspections, classes);
  container.append(root);
  const present = severityOnly ? [] : [...new Set(defectsOf(inspections).map(({ defect }) => defect.final_class))];
  const swatch = (colour) => {
    const node = el("span", { class: "swatch" });
    node.style.background = colour;
    return node;
  };
  const legend = el("p", { class: "legend" },
    present.map((name) => el("span", { class: "legend-item" }, swatch(classColour(name, classes)), name)),
    extra.map(([colour, text]) => el("span", { class: "legend-item" }, swatch(colour), text)),
    severityOnly ? "" : el("span", { class: "legend-item muted" }, "dashed grey: rejected by a reviewer"),
  unlocated ? el("span", { class: "legend-item muted" }, `${unlocated} defect(s) without a location`) : null);
  container.append(legend);
  container.dataset.kind = kind;
  container.dataset.drawn = String(drawn);
  container.dataset.unlocated = String(unlocated);
  return { drawn, unlocated };
}
