// Small DOM helpers shared by the review pages: element builders, formatting, class colours.

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

const PALETTE = ["#d62839", "#2a9d8f", "#3a66d6", "#f4a261", "#8e44ad", "#1fb4d6", "#c2185b", "#8d6e63"];

/** Colour of class `name` among `classes` (stable by position in the line's class list). */
export function classColour(name, classes) {
  const index = classes.indexOf(name);
  if (index >= 0) return PALETTE[index % PALETTE.length];
  let hash = 0;
  for (const ch of String(name)) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return PALETTE[hash % PALETTE.length];
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

/** Is the keyboard focus in a text field (where single-letter shortcuts must not fire)? */
export function typingInField(event) {
  const target = event.target;
  if (!(target instanceof HTMLElement)) return false;
  const tag = target.tagName;
  return tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA" || target.isContentEditable;
}
