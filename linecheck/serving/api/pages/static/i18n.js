// The languages of the pages: English and Simplified Chinese (zh): the shell (nav, key form) and the unit
// statuses of every page, and the line-side kiosk so far; the other pages' own texts are English.
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
    "kiosk.on_hold": "ON HOLD: {count} unit(s) of this line may not ship ({holds} hold(s)): keep them apart for QA",
    "kiosk.grade": "grade {grade}",
    "kiosk.inspected_grade": "(inspected {grade})",
    "kiosk.frames": "{count} frame(s)",
    "kiosk.pending": "{count} defect(s) waiting for review",
    "status.accepted": "accepted",
    "status.released": "released by review",
    "status.failed": "failed",
    "status.not_inspected": "not inspected",
    "shell.queue": "Queue",
    "shell.unread": "Unread",
    "shell.audit": "Audit",
    "shell.holds": "Holds",
    "shell.trace": "Trace",
    "shell.dashboard": "Dashboard",
    "shell.kiosk": "Kiosk",
    "shell.docs": "API docs",
    "shell.api_key": "API key",
    "shell.save_key": "Save key",
    "shell.forget": "Forget",
    "shell.no_key": "no key",
    "shell.paste_first": "Paste an API key first (linecheck keys create --role reviewer).",
    "shell.paste_to_start": "Paste an API key to start (viewer keys can browse; reviewing needs a reviewer key).",
    "shell.saved": "API key saved in this browser: {who} ({role}).",
    "shell.forgotten": "API key forgotten.",
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
    "kiosk.on_hold": "隔离中：本线 {count} 个单元不得发货（{holds} 项隔离），请隔离存放，等待质检处理",
    "kiosk.grade": "等级 {grade}",
    "kiosk.inspected_grade": "(检测等级 {grade})",
    "kiosk.frames": "{count} 帧",
    "kiosk.pending": "{count} 个缺陷待复检",
    "status.accepted": "合格",
    "status.released": "复检放行",
    "status.failed": "不合格",
    "status.not_inspected": "未检测",
    "shell.queue": "复检队列",
    "shell.unread": "未读码",
    "shell.audit": "抽检",
    "shell.holds": "隔离",
    "shell.trace": "追溯",
    "shell.dashboard": "看板",
    "shell.kiosk": "产线屏",
    "shell.docs": "API 文档",
    "shell.api_key": "API 密钥",
    "shell.save_key": "保存密钥",
    "shell.forget": "清除",
    "shell.no_key": "未设置密钥",
    "shell.paste_first": "请先粘贴 API 密钥(linecheck keys create --role reviewer)。",
    "shell.paste_to_start": "请粘贴 API 密钥以开始(查看者密钥可浏览;复检需要复检员密钥)。",
    "shell.saved": "API 密钥已保存在此浏览器:{who}({role})。",
    "shell.forgotten": "API 密钥已清除。",
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

/** A unit status in the page's language ("accepted", "合格"...); one it does not know, as the API gave it. */
export function statusText(status) {
  const key = `status.${status}`;
  return key in TEXTS.en ? t(key) : status;
}

/** Fill every [data-i18n] element under `root` with its text, and mark the document's language. */
export function translate(root = document) {
  document.documentElement.lang = LANG === "zh" ? "zh-CN" : "en";
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
}
