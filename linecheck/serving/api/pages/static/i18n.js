// The languages of the line-side screens: English and Simplified Chinese (zh).
//
// The language is ?lang=en|zh in the page's URL (remembered in this browser), else the one remembered,
// else the browser's own (zh-CN, zh-TW... -> zh), else English. Elements with data-i18n="key" get the text
// of that key; scripts call t("key", {name: value}) for the texts they write. A key missing in one language
// falls back to English (tests/serving/pages check that none is missing). Fonts are the system's: Windows
// and Linux kiosks carry a Chinese one (Microsoft YaHei, Noto Sans CJK); nothing is downloaded.

const LANG_STORAGE = "linecheck.lang";

export const TEXTS = {
  en: {
    "kiosk.line": "line",
    "kiosk.refreshes": "refreshes every {every} s · updated",
    "kiosk.last": "last unit",
    "kiosk.this_shift": "this shift",
    "kiosk.units": "units",
    "kiosk.fail_rate": "fail rate",
    "kiosk.after_review": "after review",
    "kiosk.throughput": "throughput",
    "kiosk.units_per_hour": "units / h running",
    "kiosk.latest": "Latest units",
    "kiosk.no_unit": "no unit yet",
    "kiosk.no_units": "no units yet",
    "kiosk.grade": "grade {grade}",
    "kiosk.inspected_grade": "(inspected {grade})",
    "kiosk.frames": "{count} frame(s)",
    "kiosk.pending": "{count} defect(s) waiting for review",
    "status.accepted": "accepted",
    "status.released": "released by review",
    "status.failed": "failed",
    "status.not_inspected": "not inspected",
  },
  zh: {
    "kiosk.line": "产线",
    "kiosk.refreshes": "每 {every} 秒刷新 · 更新于",
    "kiosk.last": "最新单元",
    "kiosk.this_shift": "本班次",
    "kiosk.units": "件",
    "kiosk.fail_rate": "不合格率",
    "kiosk.after_review": "复检后",
    "kiosk.throughput": "产能",
    "kiosk.units_per_hour": "件 / 运行小时",
    "kiosk.latest": "最近单元",
    "kiosk.no_unit": "暂无单元",
    "kiosk.no_units": "暂无单元",
    "kiosk.grade": "等级 {grade}",
    "kiosk.inspected_grade": "(检测等级 {grade})",
    "kiosk.frames": "{count} 帧",
    "kiosk.pending": "{count} 个缺陷待复检",
    "status.accepted": "合格",
    "status.released": "复检放行",
    "status.failed": "不合格",
    "status.not_inspected": "未检测",
  },
};

function pick() {
  const asked = new URLSearchParams(window.location.search).get("lang");
  if (asked && asked in TEXTS) {
    localStorage.setItem(LANG_STORAGE, asked);
    return asked;
  }
  const kept = localStorage.getItem(LANG_STORAGE);
  if (kept && kept in TEXTS) return kept;
  return (navigator.language || "").toLowerCase().startsWith("zh") ? "zh" : "en";
}

/** The language of this page: "en" or "zh". */
export const LANG = pick();

/** The text of `key` in the page's language, {name} placeholders filled from `vars`. */
export function t(key, vars = {}) {
  const text = TEXTS[LANG][key] ?? TEXTS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
}

/** Fill every [data-i18n] element under `root` with its text, and mark the document's language. */
export function translate(root = document) {
  document.documentElement.lang = LANG === "zh" ? "zh-CN" : "en";
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
}
