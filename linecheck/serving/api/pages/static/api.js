// The API client of the review pages: the key kept in localStorage, JSON calls, images as blob URLs.

const KEY_STORAGE = "linecheck.apiKey";

/** An error answered by the API ({"error": {type, field, value, message}}) or a network failure. */
export class ApiError extends Error {
  constructor(status, type, message, field) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.type = type;
    this.field = field || null;
  }
}

/** The API key the reviewer pasted ("" when none). */
export function getKey() {
  return localStorage.getItem(KEY_STORAGE) || "";
}

/** Remember (or, with "", forget) the API key; tells the page through a "linecheck:key" event. */
export function setKey(key) {
  const value = (key || "").trim();
  if (value) localStorage.setItem(KEY_STORAGE, value);
  else localStorage.removeItem(KEY_STORAGE);
  imageCache.clear();
  window.dispatchEvent(new CustomEvent("linecheck:key", { detail: { present: Boolean(value) } }));
}

/** Where the API is: "" at the top of its host, or the path prefix of a reverse proxy ("/linecheck"). */
const ROOT = document.querySelector('meta[name="linecheck-root"]')?.getAttribute("content") || "";

/** The URL path of an API path or page route ("/v1/...", "/review/...") on this deployment. */
export function appUrl(path) {
  return ROOT + path;
}

function buildUrl(path, params) {
  const url = new URL(appUrl(path), window.location.origin);
  for (const [name, value] of Object.entries(params || {})) {
    if (value === null || value === undefined || value === "") continue;
    url.searchParams.set(name, String(value));
  }
  return url;
}

async function errorFrom(response) {
  let type = "http_error";
  let message = `${response.status} ${response.statusText}`;
  let field = null;
  try {
    const body = await response.json();
    if (body && body.error) {
      type = body.error.type || type;
      message = body.error.message || message;
      field = body.error.field || null;
    }
  } catch (_) {
    // not JSON: keep the status line
  }
  return new ApiError(response.status, type, message, field);
}

async function send(path, { method = "GET", params, body } = {}) {
  const key = getKey();
  if (!key) throw new ApiError(401, "unauthenticated", "no API key: paste one in the key field above");
  const headers = { Authorization: `Bearer ${key}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(buildUrl(path, params), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (exc) {
    throw new ApiError(0, "network", `the API is not reachable (${exc.message})`);
  }
  if (!response.ok) throw await errorFrom(response);
  return response;
}

/** GET a JSON document; `params` with empty values are left out. */
export async function getJson(path, params) {
  return (await send(path, { params })).json();
}

/** GET a file (CSV...) with the key; resolves to {blob, name} (name from Content-Disposition). */
export async function getFile(path, params) {
  const response = await send(path, { params });
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = /filename="([^"]+)"/.exec(disposition);
  return { blob: await response.blob(), name: match ? match[1] : path.split("/").pop() };
}

/** Who `key` is (GET /v1/me with that key), without storing it: the key form checks before saving. */
export async function checkKey(key) {
  let response;
  try {
    response = await fetch(buildUrl("/v1/me"), { headers: { Authorization: `Bearer ${key}` } });
  } catch (exc) {
    throw new ApiError(0, "network", `the API is not reachable (${exc.message})`);
  }
  if (!response.ok) throw await errorFrom(response);
  return response.json();
}

const meCache = { promise: null };

/** The stored key's identity {id, role, name, lines, may_review}, fetched once per key. */
export function me() {
  if (!meCache.promise) {
    meCache.promise = getJson("/v1/me").catch((exc) => {
      meCache.promise = null;
      throw exc;
    });
  }
  return meCache.promise;
}

/** POST a JSON body and return the JSON answer. */
export async function postJson(path, body) {
  return (await send(path, { method: "POST", body })).json();
}

const imageCache = new Map();

/** A blob: URL of the stored image `ref` (fetched once with the key; images are immutable). */
export function imageUrl(ref) {
  if (!imageCache.has(ref)) {
    const pending = send(`/v1/images/${encodeURIComponent(ref)}`)
      .then((response) => response.blob())
      .then((blob) => URL.createObjectURL(blob));
    pending.catch(() => imageCache.delete(ref));
    imageCache.set(ref, pending);
  }
  return imageCache.get(ref);
}

/** What storedImage() resolves to for an image the retention deleted (the API answers 410 Gone). */
export const EXPIRED = "expired";

/** The decoded <img> of stored image `ref`: null without a ref, EXPIRED when the image retention deleted it. */
export async function storedImage(ref) {
  if (!ref) return null;
  try {
    return await loadImage(await imageUrl(ref));
  } catch (exc) {
    if (exc instanceof ApiError && exc.status === 410) return EXPIRED;
    throw exc;
  }
}

/** Load an <img> from `src` and resolve when decoded. */
export function loadImage(src) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new ApiError(0, "image", `cannot decode image ${src}`));
    img.src = src;
  });
}

const lineCache = { promise: null };

/** Every registered line (id, kind, name, config), fetched once per key. */
export function lines() {
  if (!lineCache.promise) {
    lineCache.promise = getJson("/v1/lines").catch((exc) => {
      lineCache.promise = null;
      throw exc;
    });
  }
  return lineCache.promise;
}

window.addEventListener("linecheck:key", () => {
  lineCache.promise = null;
  meCache.promise = null;
});
