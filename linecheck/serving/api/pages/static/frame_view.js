// Full frames with their boxes drawn on a canvas, and defect crops (stored, or cut from the frame).

import { EXPIRED, storedImage } from "./api.js";
import { classColour } from "./dom.js";
import { placeLabel } from "./viewer.js";

const BOX_WIDTH = 3;

function fit(width, height, maxWidth, maxHeight) {
  const scale = Math.min(maxWidth / width, maxHeight / height, 4);
  return { scale, width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/** A dark placeholder with a line of text where an image would be. */
function placeholder(ctx, text, width, height) {
  ctx.fillStyle = "#3a3f47";
  ctx.fillRect(0, 0, width, height);
  ctx.fillStyle = "#cfd3da";
  ctx.font = "14px system-ui, sans-serif";
  ctx.fillText(text, 12, 24);
}

/** Draw a label for box `r` inside the canvas and clear of the labels already `taken`. */
function label(ctx, text, r, colour, taken) {
  ctx.font = "bold 12px system-ui, sans-serif";
  const rect = placeLabel(r, ctx.measureText(text).width + 8, 17, ctx.canvas.width, ctx.canvas.height, taken);
  taken.push(rect);
  ctx.fillStyle = colour;
  ctx.fillRect(rect.x, rect.y, rect.w, rect.h);
  ctx.fillStyle = "#fff";
  ctx.fillText(text, rect.x + 4, rect.y + 12.5);
}

/**
 * Draw frame `ref` (image_width x image_height pixels, which the boxes are in) on `canvas`,
 * scaled to fit maxWidth x maxHeight, with `boxes` = [{bbox, class_name, confidence, selected,
 * rejected}]. The drawn boxes, in canvas pixels, are kept in canvas.dataset.boxes (JSON).
 */
export async function drawFrame(canvas, { ref, width, height, boxes, classes, maxWidth = 640, maxHeight = 480 }) {
  const size = fit(width, height, maxWidth, maxHeight);
  const img = await storedImage(ref);
  canvas.width = size.width;
  canvas.height = size.height;
  const ctx = canvas.getContext("2d");
  if (img && img !== EXPIRED) {
    ctx.drawImage(img, 0, 0, size.width, size.height);
  } else {
    placeholder(ctx, img === EXPIRED ? "image expired" : "no full frame stored", size.width, size.height);
  }
  canvas.dataset.expired = String(img === EXPIRED);
  const drawn = [];
  const ordered = [...boxes].sort((a, b) => Number(Boolean(a.selected)) - Number(Boolean(b.selected)));
  for (const box of ordered) {
    const [x1, y1, x2, y2] = box.bbox.map((v) => v * size.scale);
    const colour = box.rejected ? "#9aa0a6" : classColour(box.class_name, classes);
    ctx.lineWidth = box.selected ? BOX_WIDTH : 1.5;
    ctx.strokeStyle = colour;
    ctx.setLineDash(box.selected ? [] : [5, 4]);
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    ctx.setLineDash([]);
    drawn.push({ x1, y1, x2, y2, colour, selected: Boolean(box.selected), box });
  }
  const taken = [];
  for (const d of [...drawn].reverse()) {
    if (d.box.rejected) continue;
    label(ctx, `${d.box.class_name} ${(100 * d.box.confidence).toFixed(0)}%`, d, d.colour, taken);
    delete d.box;
  }
  for (const d of drawn) delete d.box;
  canvas.dataset.boxes = JSON.stringify(drawn);
  canvas.dataset.labels = JSON.stringify(taken);
  canvas.dataset.ref = ref || "";
  canvas.dataset.scale = String(size.scale);
  return drawn;
}

/**
 * Show the crop of a defect in `canvas`: its heat map over the crop when `heatmapRef` is given (an
 * anomaly defect, the crop's box), else the stored crop when there is one, else the box cut from the
 * full frame with a margin. Returns "heatmap", "stored", "frame", "expired" (the image retention deleted
 * what there was to show) or "none".
 */
export async function drawCrop(canvas, { cropRef, heatmapRef = null, frameRef, bbox, width, height, maxSize = 220 }) {
  const ctx = canvas.getContext("2d");
  let source = null;
  let sx = 0;
  let sy = 0;
  let sw = 0;
  let sh = 0;
  let origin = "none";
  const storedRef = heatmapRef || cropRef;
  const stored = await storedImage(storedRef);
  const frame = stored && stored !== EXPIRED ? null : await storedImage(frameRef);
  if (stored && stored !== EXPIRED) {
    source = stored;
    [sw, sh] = [source.naturalWidth, source.naturalHeight];
    origin = heatmapRef ? "heatmap" : "stored";
  } else if (frame && frame !== EXPIRED) {
    source = frame;
    const kx = source.naturalWidth / width;
    const ky = source.naturalHeight / height;
    const [x1, y1, x2, y2] = bbox;
    const margin = Math.max(8, 0.35 * Math.max(x2 - x1, y2 - y1));
    sx = Math.max(0, (x1 - margin) * kx);
    sy = Math.max(0, (y1 - margin) * ky);
    sw = Math.min(source.naturalWidth, (x2 + margin) * kx) - sx;
    sh = Math.min(source.naturalHeight, (y2 + margin) * ky) - sy;
    origin = "frame";
  }
  if (!source || sw <= 0 || sh <= 0) {
    canvas.width = maxSize;
    canvas.height = Math.round(maxSize / 2);
    const expired = stored === EXPIRED || frame === EXPIRED;
    placeholder(ctx, expired ? "image expired" : "", canvas.width, canvas.height);
    canvas.dataset.origin = expired ? "expired" : "none";
    return canvas.dataset.origin;
  }
  const size = fit(sw, sh, maxSize, maxSize);
  canvas.width = size.width;
  canvas.height = size.height;
  ctx.imageSmoothingEnabled = size.scale < 2;
  ctx.drawImage(source, sx, sy, sw, sh, 0, 0, size.width, size.height);
  canvas.dataset.origin = origin;
  return origin;
}
