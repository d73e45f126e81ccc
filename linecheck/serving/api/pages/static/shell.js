// Page chrome shared by the pages: the API-key form (a key is checked before it is kept), who the key is,
// the message banner and the help overlay.

import { ApiError, checkKey, getKey, me, setKey } from "./api.js";
import { el, replace, typingInField } from "./dom.js";
import { t, translate } from "./i18n.js";

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

let identity = null;

/** The stored key's identity ({role, name, may_review, ...}) once known, else null. */
export function whoAmI() {
  return identity;
}

function keyStatus() {
  const status = document.getElementById("key-status");
  const form = document.getElementById("key-form");
  const key = getKey();
  if (!status) return;
  if (!key) {
    status.textContent = t("shell.no_key");
  } else if (identity) {
    status.textContent = `${identity.name || `key ${identity.id}`} · ${identity.role}`;
  } else {
    status.textContent = `key ${key.slice(0, 15)}…`;
  }
  status.dataset.state = key ? "set" : "missing";
  if (form) form.dataset.collapsed = String(Boolean(key));
}

async function loadIdentity() {
  try {
    identity = await me();
  } catch (exc) {
    identity = null;
    showError(exc);
  }
  document.body.dataset.role = identity ? identity.role : "";
  keyStatus();
  return identity;
}

function wireKeyForm() {
  const form = document.getElementById("key-form");
  const input = document.getElementById("api-key");
  const forget = document.getElementById("key-forget");
  const toggle = document.getElementById("key-status");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = input.value.trim();
    if (!value) {
      showMessage(t("shell.paste_first"), "error");
      return;
    }
    let who;
    try {
      who = await checkKey(value);  // a key the API refuses is never stored
    } catch (exc) {
      showError(exc);
      input.select();
      form.dataset.rejected = "true";
      return;
    }
    form.dataset.rejected = "false";
    input.value = "";
    identity = who;
    setKey(value);
    document.body.dataset.role = who.role;
    keyStatus();
    showMessage(t("shell.saved", { who: who.name || who.id, role: who.role }));
  });
  forget.addEventListener("click", () => {
    identity = null;
    document.body.dataset.role = "";
    setKey("");
    keyStatus();
    showMessage(t("shell.forgotten"));
  });
  if (toggle) {
    toggle.addEventListener("click", () => {
      if (getKey()) form.dataset.collapsed = String(form.dataset.collapsed !== "true");
    });
  }
  keyStatus();
  if (!getKey()) {
    showMessage(t("shell.paste_to_start"), "error");
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

/**
 * Wire the chrome of a page; `onKey(identity)` runs once a key is present (now or after it is
 * pasted) and its identity ({role, name, may_review}) is known.
 */
export function initShell(onKey) {
  translate();  // the nav and the key form in the page's language (i18n.js)
  wireKeyForm();
  wireHelp();
  window.addEventListener("linecheck:key", async (event) => {
    if (event.detail.present) onKey(identity || (await loadIdentity()));
  });
  if (getKey()) loadIdentity().then((who) => onKey(who));
}
