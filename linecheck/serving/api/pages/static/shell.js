// Page chrome shared by the three views: the API-key form, the message banner and the help overlay.

import { ApiError, getKey, lines, setKey } from "./api.js";
import { el, replace, typingInField } from "./dom.js";

let bannerTimer = null;

/** Show a message in the banner; kind "info" fades after a few seconds, "error" stays. */
export function showMessage(text, kind = "info") {
  const banner = document.getElementById("banner");
  if (!banner) return;
  clearTimeout(bannerTimer);
  banner.className = `banner banner-${kind}`;
  banner.dataset.kind = kind;
  replace(banner, el("span", { class: "banner-text" }, text),
    el("button", { type: "button", class: "banner-close", "aria-label": "dismiss", onclick: hideMessage }, "×"));
  banner.hidden = false;
  if (kind === "info") bannerTimer = setTimeout(hideMessage, 4000);
}

/** Hide the banner. */
export function hideMessage() {
  const banner = document.getElementById("banner");
  if (banner) banner.hidden = true;
}

/** Explain an API error in words a reviewer can act on. */
export function describeError(exc) {
  if (!(exc instanceof ApiError)) return `Unexpected error: ${exc && exc.message ? exc.message : exc}`;
  switch (exc.status) {
    case 0:
      return `Cannot reach the API: ${exc.message}`;
    case 401:
      return `Your API key was not accepted: ${exc.message}`;
    case 403:
      return `Not allowed with this key: ${exc.message}. Reviewing needs a key with role 'reviewer' ` +
        "(linecheck keys create --role reviewer).";
    case 404:
      return `Not found: ${exc.message}`;
    case 429:
      return `Too many requests with this key; wait a moment and retry (${exc.message})`;
    case 422:
      return `Rejected by the API: ${exc.message}`;
    default:
      return `The API answered ${exc.status}: ${exc.message}`;
  }
}

/** Show an error in the banner (forbidden ones get their own style). */
export function showError(exc) {
  showMessage(describeError(exc), exc instanceof ApiError && exc.status === 403 ? "forbidden" : "error");
}

function keyStatus() {
  const status = document.getElementById("key-status");
  const key = getKey();
  if (!status) return;
  status.textContent = key ? `key ${key.slice(0, 15)}…` : "no key";
  status.dataset.state = key ? "set" : "missing";
}

async function checkKey() {
  try {
    await lines();
    return true;
  } catch (exc) {
    showError(exc);
    return false;
  }
}

function wireKeyForm() {
  const form = document.getElementById("key-form");
  const input = document.getElementById("api-key");
  const forget = document.getElementById("key-forget");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = input.value.trim();
    if (!value) {
      showMessage("Paste an API key first (linecheck keys create --role reviewer).", "error");
      return;
    }
    setKey(value);
    input.value = "";
    keyStatus();
    if (await checkKey()) showMessage("API key saved in this browser.");
  });
  forget.addEventListener("click", () => {
    setKey("");
    keyStatus();
    showMessage("API key forgotten.");
  });
  keyStatus();
  if (!getKey()) {
    showMessage("Paste an API key to start (viewer keys can browse; reviewing needs a reviewer key).", "error");
    input.focus();
  }
}

function wireHelp() {
  const help = document.getElementById("help");
  const toggle = (show) => {
    help.hidden = show === undefined ? !help.hidden : !show;
  };
  document.getElementById("help-button").addEventListener("click", () => toggle());
  help.addEventListener("click", (event) => {
    if (event.target === help || event.target.closest(".help-close")) toggle(false);
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !help.hidden) {
      toggle(false);
      event.preventDefault();
      return;
    }
    if (event.key === "?" && !typingInField(event)) {
      toggle();
      event.preventDefault();
    }
  });
}

/** Wire the chrome of a page; `onKey` runs once a key is present (now or after it is pasted). */
export function initShell(onKey) {
  wireKeyForm();
  wireHelp();
  window.addEventListener("linecheck:key", (event) => {
    if (event.detail.present) onKey();
  });
  if (getKey()) onKey();
}
