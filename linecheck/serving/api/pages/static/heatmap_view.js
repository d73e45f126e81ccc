// The heat map toggle of the crop pane. An anomaly defect has a heat map (heatmap_ref): its region's
// anomaly map in colour over the crop, the crop's own box, so the pane swaps one for the other in place.
// Detector and classifier defects have none: the toggle is hidden and the crop is shown.

/**
 * What the crop pane shows for `defect` when the reviewer `wants` the heat map:
 * { available, shown, heatmapRef } (heatmapRef: the image to draw instead of the crop, or null).
 */
export function heatmapView(defect, wants) {
  const available = typeof defect.heatmap_ref === "string" && defect.heatmap_ref !== "";
  const shown = available && Boolean(wants);
  return { available, shown, heatmapRef: shown ? defect.heatmap_ref : null };
}

/** Caption of the crop pane for what drawCrop drew ("heatmap", "stored", "frame", "expired" or "none"). */
export function cropCaption(origin) {
  return {
    heatmap: "heat map of the anomaly over the crop",
    stored: "stored crop",
    frame: "cut from the frame",
    expired: "image expired (deleted by the image retention)",
  }[origin] || "no image";
}
