// The frame under review on a canvas that fills its pane: zoom (wheel, + - 0), pan (drag), brightness
// and contrast, labels kept inside the frame and apart, and box editing (move / resize the selected
// box, draw a missed one, pick boxes to merge). A golden sample can follow the same zoom and pan.
//
// Coordinates: a box is [x1, y1, x2, y2] in frame pixels; on the canvas it is (x * scale + ox,
// y * scale + oy). What is drawn is mirrored in data attributes for tests and tools: boxes and
// labels (canvas pixels), scale, zoom, offset, filter, mode and the draft box (frame pixels).

import { EXPIRED, storedImage } from "./api.js";
import { classColour } from "./dom.js";

const HANDLE = 8;
const MIN_BOX = 3;
const LABEL_H = 17;
const MAX_ZOOM = 16;
const REJECTED = "#9aa0a6";

function clamp(value, lo, hi) {
  return Math.max(lo, Math.min(hi, value));
}

function overlaps(a, b) {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

/** Where a label of `w` x `h` goes for a box: above it, else inside its top, else below; inside the canvas, apart. */
export function placeLabel(box, w, h, width, height, taken) {
  const x = clamp(box.x1, 0, Math.max(0, width - w));
  const candidates = [box.y1 - h, box.y1 + 1, box.y2 + 1, box.y2 - h - 1];
  for (let step = 0; step < 12; step += 1) {
    for (const y0 of candidates) {
      const rect = { x, y: clamp(y0 + step * (h + 1), 0, Math.max(0, height - h)), w, h };
      if (!taken.some((t) => overlaps(t, rect))) return rect;
    }
  }
  return { x, y: clamp(box.y1, 0, Math.max(0, height - h)), w, h };
}

export class FrameViewer {
  /**
   * `canvas` fills its parent element. `onDraft(box)` is called when a box was moved, resized or
   * drawn (frame pixels); `onPick(ids)` when the boxes picked for a merge change.
   */
  constructor(canvas, { onDraft = () => {}, onPick = () => {} } = {}) {
    this.canvas = canvas;
    this.onDraft = onDraft;
    this.onPick = onPick;
    this.image = null;
    this.expired = false;
    this.width = 1;
    this.height = 1;
    this.boxes = [];
    this.zoom = 1;
    this.center = null; // frame point at the centre of the canvas; null: fitted
    this.brightness = 1;
    this.contrast = 1;
    this.mode = "view";
    this.draft = null;
    this.picked = new Set();
    this.followers = [];
    this.drag = null;
    canvas.addEventListener("wheel", (event) => this.onWheel(event), { passive: false });
    canvas.addEventListener("pointerdown", (event) => this.onDown(event));
    canvas.addEventListener("pointermove", (event) => this.onMove(event));
    canvas.addEventListener("pointerup", (event) => this.onUp(event));
    canvas.addEventListener("pointercancel", () => {
      this.drag = null;
    });
    new ResizeObserver(() => this.render()).observe(canvas.parentElement);
  }

  /** Show frame `ref` (width x height pixels) with `boxes` [{id, bbox, class_name, confidence, selected, rejected}]. */
  async show({ ref, width, height, boxes }) {
    const image = await storedImage(ref);
    this.expired = image === EXPIRED; // the image retention deleted it: say so, draw no broken image
    this.image = this.expired ? null : image;
    this.canvas.dataset.expired = String(this.expired);
    this.width = width;
    this.height = height;
    this.boxes = boxes;
    this.draft = null;
    this.picked = new Set();
    this.canvas.dataset.ref = ref || "";
    this.render();
  }

  /** Replace the boxes (after a decision) without reloading the image or changing zoom. */
  setBoxes(boxes) {
    this.boxes = boxes;
    this.render();
  }

  selected() {
    return this.boxes.find((b) => b.selected) || null;
  }

  /** A viewer that follows this one's zoom, pan and filter (the golden sample). */
  follow(other) {
    this.followers.push(other);
  }

  setFilter(brightness, contrast) {
    this.brightness = brightness;
    this.contrast = contrast;
    this.render();
  }

  setMode(mode) {
    this.mode = mode;
    this.canvas.dataset.mode = mode;
    this.canvas.style.cursor = mode === "draw" ? "crosshair" : mode === "move" ? "move" : "grab";
    this.render();
  }

  clearDraft() {
    this.draft = null;
    this.render();
  }

  fitScale() {
    const w = this.canvas.width;
    const h = this.canvas.height;
    return Math.min(w / this.width, h / this.height);
  }

  transform() {
    const scale = this.fitScale() * this.zoom;
    const cx = this.center ? this.center[0] : this.width / 2;
    const cy = this.center ? this.center[1] : this.height / 2;
    return { scale, ox: this.canvas.width / 2 - cx * scale, oy: this.canvas.height / 2 - cy * scale };
  }

  toFrame(px, py) {
    const { scale, ox, oy } = this.transform();
    return [(px - ox) / scale, (py - oy) / scale];
  }

  toCanvas([x1, y1, x2, y2]) {
    const { scale, ox, oy } = this.transform();
    return { x1: x1 * scale + ox, y1: y1 * scale + oy, x2: x2 * scale + ox, y2: y2 * scale + oy };
  }

  /** Zoom by `factor` keeping frame point under canvas pixel (px, py) where it is. */
  zoomBy(factor, px = this.canvas.width / 2, py = this.canvas.height / 2) {
    const [fx, fy] = this.toFrame(px, py);
    this.zoom = clamp(this.zoom * factor, 1, MAX_ZOOM);
    if (this.zoom === 1) {
      this.center = null;
    } else {
      const scale = this.fitScale() * this.zoom;
      this.center = [fx - (px - this.canvas.width / 2) / scale, fy - (py - this.canvas.height / 2) / scale];
    }
    this.render();
  }

  fit() {
    this.zoom = 1;
    this.center = null;
    this.render();
  }

  panBy(dx, dy) {
    const { scale } = this.transform();
    const [cx, cy] = this.center || [this.width / 2, this.height / 2];
    this.center = [clamp(cx - dx / scale, 0, this.width), clamp(cy - dy / scale, 0, this.height)];
    this.render();
  }

  syncFrom(leader) {
    // the same part of the product: frame-relative centre and the same zoom
    this.zoom = leader.zoom;
    this.center = leader.center
      ? [(leader.center[0] / leader.width) * this.width, (leader.center[1] / leader.height) * this.height]
      : null;
    this.brightness = leader.brightness;
    this.contrast = leader.contrast;
    this.render(false);
  }

  render(propagate = true) {
    const canvas = this.canvas;
    const box = canvas.parentElement.getBoundingClientRect();
    const cw = Math.max(120, Math.floor(box.width));
    const ch = Math.max(90, Math.floor(box.height));
    if (canvas.width !== cw) canvas.width = cw;
    if (canvas.height !== ch) canvas.height = ch;
    const ctx = canvas.getContext("2d");
    const { scale, ox, oy } = this.transform();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.filter = "none";
    ctx.fillStyle = "#1d2127";
    ctx.fillRect(0, 0, cw, ch);
    const filter = `brightness(${this.brightness}) contrast(${this.contrast})`;
    if (this.image) {
      ctx.filter = filter;
      ctx.imageSmoothingEnabled = scale < 2;
      ctx.drawImage(this.image, ox, oy, this.width * scale, this.height * scale);
      ctx.filter = "none";
    } else {
      ctx.fillStyle = "#3a3f47";
      ctx.fillRect(ox, oy, this.width * scale, this.height * scale);
      ctx.fillStyle = "#cfd3da";
      ctx.font = "14px system-ui, sans-serif";
      ctx.fillText(this.expired ? "image expired" : "no full frame stored", ox + 12, oy + 24);
    }
    const drawn = [];
    const labels = [];
    const ordered = [...this.boxes].sort((a, b) => Number(Boolean(a.selected)) - Number(Boolean(b.selected)));
    for (const item of ordered) {
      const r = this.toCanvas(item.bbox);
      const colour = item.rejected ? REJECTED : classColour(item.class_name);
      const picked = this.picked.has(item.id);
      ctx.lineWidth = item.selected ? 3 : picked ? 2.5 : 1.5;
      ctx.strokeStyle = colour;
      ctx.setLineDash(item.selected || picked ? [] : [5, 4]);
      ctx.strokeRect(r.x1, r.y1, r.x2 - r.x1, r.y2 - r.y1);
      ctx.setLineDash([]);
      drawn.push({ id: item.id, ...r, colour, selected: Boolean(item.selected), picked, rejected: Boolean(item.rejected) });
    }
    // labels last, selected first, so they never hide under boxes and the selected one gets the best place
    ctx.font = "bold 12px system-ui, sans-serif";
    for (const item of [...drawn].sort((a, b) => Number(b.selected) - Number(a.selected))) {
      const source = this.boxes.find((b) => b.id === item.id);
      if (item.rejected && !item.selected) continue;
      const text = `${source.class_name}${source.confidence !== undefined ? ` ${(100 * source.confidence).toFixed(0)}%` : ""}`;
      const w = ctx.measureText(text).width + 8;
      const rect = placeLabel(item, w, LABEL_H, cw, ch, labels);
      labels.push({ ...rect, id: item.id });
      ctx.fillStyle = item.colour;
      ctx.globalAlpha = item.selected ? 1 : 0.85;
      ctx.fillRect(rect.x, rect.y, rect.w, rect.h);
      ctx.globalAlpha = 1;
      ctx.fillStyle = "#fff";
      ctx.fillText(text, rect.x + 4, rect.y + 12.5);
    }
    const selected = drawn.find((b) => b.selected);
    if (this.mode === "move" && selected && !this.draft) this.drawHandles(ctx, selected, "#ffffff");
    if (this.draft) {
      const r = this.toCanvas(this.draft);
      ctx.lineWidth = 2;
      ctx.strokeStyle = "#ffeb3b";
      ctx.setLineDash([6, 3]);
      ctx.strokeRect(r.x1, r.y1, r.x2 - r.x1, r.y2 - r.y1);
      ctx.setLineDash([]);
      this.drawHandles(ctx, r, "#ffeb3b");
    }
    Object.assign(canvas.dataset, {
      boxes: JSON.stringify(drawn),
      labels: JSON.stringify(labels),
      scale: String(scale),
      zoom: String(this.zoom),
      offset: JSON.stringify([ox, oy]),
      filter,
      draft: this.draft ? JSON.stringify(this.draft) : "",
      picked: JSON.stringify([...this.picked]),
    });
    if (propagate) for (const other of this.followers) other.syncFrom(this);
  }

  drawHandles(ctx, r, colour) {
    ctx.fillStyle = colour;
    for (const [x, y] of [[r.x1, r.y1], [r.x2, r.y1], [r.x1, r.y2], [r.x2, r.y2]]) {
      ctx.fillRect(x - HANDLE / 2, y - HANDLE / 2, HANDLE, HANDLE);
    }
  }

  point(event) {
    const rect = this.canvas.getBoundingClientRect();
    return [event.clientX - rect.left, event.clientY - rect.top];
  }

  onWheel(event) {
    event.preventDefault();
    const [px, py] = this.point(event);
    this.zoomBy(event.deltaY < 0 ? 1.25 : 0.8, px, py);
  }

  /** What a press at canvas (px, py) grabs in move mode: a corner of the box, its inside, or nothing. */
  grab(px, py, box) {
    const r = this.toCanvas(box);
    const corners = { nw: [r.x1, r.y1], ne: [r.x2, r.y1], sw: [r.x1, r.y2], se: [r.x2, r.y2] };
    for (const [name, [x, y]] of Object.entries(corners)) {
      if (Math.abs(px - x) <= HANDLE && Math.abs(py - y) <= HANDLE) return name;
    }
    return px > r.x1 && px < r.x2 && py > r.y1 && py < r.y2 ? "inside" : null;
  }

  hit(px, py) {
    const hits = this.boxes.filter((b) => {
      const r = this.toCanvas(b.bbox);
      return px >= r.x1 && px <= r.x2 && py >= r.y1 && py <= r.y2;
    });
    hits.sort((a, b) => (a.bbox[2] - a.bbox[0]) * (a.bbox[3] - a.bbox[1]) - (b.bbox[2] - b.bbox[0]) * (b.bbox[3] - b.bbox[1]));
    return hits[0] || null;
  }

  onDown(event) {
    const [px, py] = this.point(event);
    this.canvas.setPointerCapture(event.pointerId);
    if (event.shiftKey) {
      const hit = this.hit(px, py);
      if (hit && !hit.selected && !hit.rejected) {
        if (this.picked.has(hit.id)) this.picked.delete(hit.id);
        else this.picked.add(hit.id);
        this.onPick([...this.picked]);
        this.render();
      }
      return;
    }
    const [fx, fy] = this.toFrame(px, py);
    if (this.mode === "draw") {
      this.drag = { kind: "draw", start: [fx, fy] };
      return;
    }
    const selected = this.selected();
    const current = this.draft || (selected ? selected.bbox : null);
    const grabbed = this.mode === "move" && current ? this.grab(px, py, current) : null;
    if (grabbed) {
      this.drag = { kind: grabbed, start: [fx, fy], box: [...current] };
      return;
    }
    this.drag = { kind: "pan", last: [px, py] };
  }

  onMove(event) {
    if (!this.drag) return;
    const [px, py] = this.point(event);
    const [fx, fy] = this.toFrame(px, py);
    const drag = this.drag;
    if (drag.kind === "pan") {
      this.panBy(px - drag.last[0], py - drag.last[1]);
      drag.last = [px, py];
      return;
    }
    const W = this.width;
    const H = this.height;
    if (drag.kind === "draw") {
      const [sx, sy] = drag.start;
      this.draft = [Math.min(sx, fx), Math.min(sy, fy), Math.max(sx, fx), Math.max(sy, fy)].map((v, i) =>
        clamp(v, 0, i % 2 ? H : W));
      this.render();
      return;
    }
    let [x1, y1, x2, y2] = drag.box;
    const dx = fx - drag.start[0];
    const dy = fy - drag.start[1];
    if (drag.kind === "inside") {
      const w = x2 - x1;
      const h = y2 - y1;
      x1 = clamp(x1 + dx, 0, W - w);
      y1 = clamp(y1 + dy, 0, H - h);
      [x2, y2] = [x1 + w, y1 + h];
    } else {
      if (drag.kind.includes("w")) x1 = clamp(x1 + dx, 0, x2 - MIN_BOX);
      if (drag.kind.includes("e")) x2 = clamp(x2 + dx, x1 + MIN_BOX, W);
      if (drag.kind.includes("n")) y1 = clamp(y1 + dy, 0, y2 - MIN_BOX);
      if (drag.kind.includes("s")) y2 = clamp(y2 + dy, y1 + MIN_BOX, H);
    }
    this.draft = [x1, y1, x2, y2].map((v) => Math.round(v * 10) / 10);
    this.render();
  }

  onUp() {
    const drag = this.drag;
    this.drag = null;
    if (!drag || drag.kind === "pan") return;
    if (this.draft && (this.draft[2] - this.draft[0] < MIN_BOX || this.draft[3] - this.draft[1] < MIN_BOX)) {
      this.draft = null;
      this.render();
      return;
    }
    if (this.draft) {
      this.draft = this.draft.map((v) => Math.round(v * 10) / 10);
      this.render();
      this.onDraft(this.draft, drag.kind === "draw" ? "draw" : "move");
    }
  }
}
