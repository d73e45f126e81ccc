// Small DOM helpers shared by the review pages: element builders, formatting, class colours.

import { statusText } from "./i18n.js";

const SVG_NS = "http://www.w3.org/2000/svg";

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function setAttrs(node, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.setAttribute("class", value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  return node;
}

/** Create an HTML element: el("li", {class: "x", dataset: {id: 1}}, "text", child). */
export function el(tag, attrs, ...children) {
  return append(setAttrs(document.createElement(tag), attrs), children);
}

/** Create an SVG element (same signature as el). */
export function svg(tag, attrs, ...children) {
  return append(setAttrs(document.createElementNS(SVG_NS, tag), attrs), children);
}

/** Remove every child of node, then append children. */
export function replace(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

/** Local date and time of an ISO timestamp, e.g. "2026-11-23 10:04:05". */
export function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** Short local "MM-DD HH:MM" of an ISO timestamp (chart labels). */
export function fmtShort(iso) {
  return fmtTime(iso).slice(5, 16);
}

/** A fraction as a percentage with one decimal ("—" for null). */
export function fmtPct(value) {
  return value === null || value === undefined ? "—" : `${(100 * value).toFixed(1)} %`;
}

/** A number with a fixed number of decimals ("—" for null). */
export function fmtNum(value, digits = 2) {
  return value === null || value === undefined ? "—" : Number(value).toFixed(digits);
}

const PALETTE = [
  "#d62839", "#2a9d8f", "#3a66d6", "#f4a261", "#8e44ad", "#1fb4d6",
  "#c2185b", "#8d6e63", "#2e7d32", "#ef6c00", "#5c6bc0", "#00897b",
];

/**
 * Colour of class `name`: from the name alone, so "crack" has one colour on every line and page.
 * (`classes` is accepted for older callers and ignored.) The shipped classes of one line never share
 * a colour; a plug-in whose classes collide still reads them from the label.
 */
export function classColour(name, _classes) {
  let hash = 2;
  for (const ch of String(name)) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return PALETTE[hash % PALETTE.length];
}

const UNITS = [["_mm", " mm", 1], ["_m", " m", 1], ["_in", " in", 1], ["_px", " px", 1]];

/** A unit's PLC trigger as the PLC's log names it: "M-1001 @ encoder 52311" (no encoder: the id alone). */
export function triggerText(item) {
  return `${item.trigger_id}${item.encoder_count !== null ? ` @ encoder ${item.encoder_count}` : ""}`;
}

/**
 * A defect location in words, for any kind: {"zone": "inner_race"} -> "zone inner race",
 * {"row": 1, "col": 2} -> "row 1, col 2", {"along_m": 1.234} -> "along 1.23 m". Keys ending in
 * a unit (_m, _mm, _in) print the unit; nothing here knows a kind's name.
 */
export function formatLocation(location) {
  if (!location || typeof location !== "object") return "—";
  const parts = [];
  for (const [key, value] of Object.entries(location)) {
    if (value === null || value === undefined) continue;
    let label = key;
    let unit = "";
    for (const [suffix, text] of UNITS) {
      if (key.endsWith(suffix)) {
        label = key.slice(0, -suffix.length);
        unit = text;
        break;
      }
    }
    const shown = typeof value === "number" ? (Number.isInteger(value) ? String(value) : value.toFixed(2)) :
      String(value).replaceAll("_", " ");
    parts.push(`${label.replaceAll("_", " ")} ${shown}${unit}`);
  }
  return parts.join(", ") || "—";
}

/** Save `blob` as a file called `name` (an object URL clicked once, then released). */
export function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = el("a", { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** A duration in seconds as "1 h 05 min", "3 min 20 s" or "42 s". */
export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.round(seconds);
  if (s >= 3600) return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
  if (s >= 60) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${s} s`;
}

/** Who made a review: the key's name and id ("qa reviewer (key:fa9c…)"), or the id alone. */
export function actorName(actor, name) {
  return name ? `${name} (${actor})` : actor;
}

/** A coloured chip with a class name. */
export function classChip(name, classes) {
  const chip = el("span", { class: "chip" }, name);
  chip.style.setProperty("--chip", classColour(name, classes));
  return chip;
}

/** A badge for a review state / verdict / grade. */
export function badge(text, kind) {
  return el("span", { class: `badge badge-${kind || text}` }, text);
}

const NOT_TYPED = new Set(["range", "checkbox", "radio", "button", "submit", "reset", "color"]);
const SLIDER_KEYS = new Set(["ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight", "Home", "End", "PageUp", "PageDown"]);

/** Is the keyboard focus in a text field (where single-letter shortcuts must not fire)? A slider or a
 *  checkbox keeps only the keys it uses itself: a reviewer who just moved the brightness can press `o`. */
export function typingInField(event) {
  const target = event.target;
  if (!(target instanceof HTMLElement)) return false;
  const tag = target.tagName;
  if (tag === "INPUT" && NOT_TYPED.has(target.type)) return target.type === "range" && SLIDER_KEYS.has(event.key);
  return tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA" || target.isContentEditable;
}

/** Run `action` when the filter `select` changes, then give the keyboard back to the page: a focused select
 *  takes letters for itself (it jumps to the option they start), so the page's shortcuts would do nothing
 *  until the reviewer clicked elsewhere. */
export function onFilterChange(select, action) {
  select.addEventListener("change", () => {
    select.blur();
    action();
  });
}

/** A badge for a unit status ("released by review"..., in the page's language), `title` the API's explanation. */
export function statusBadge(status, title, id) {
  return el("span", { id, class: `badge status status-${status}`, title, dataset: { status } }, statusText(status));
}
