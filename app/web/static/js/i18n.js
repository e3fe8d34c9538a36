// Labels in English and Chinese from one table (/static/i18n.json); Chinese first when the browser asks.

let table = { en: {} };
let lang = 'en';

export function preferredLang() {
  const chosen = sessionStorage.getItem('aerogrid.lang');
  if (chosen === 'en' || chosen === 'zh-CN') return chosen;
  const first = (navigator.languages && navigator.languages[0]) || navigator.language || 'en';
  return first.toLowerCase().startsWith('zh') ? 'zh-CN' : 'en';
}

export async function loadI18n() {
  const response = await fetch('/static/i18n.json');
  table = await response.json();
  setLang(preferredLang());
}

export function setLang(next) {
  lang = next;
  document.documentElement.lang = next;
  applyI18n(document);
}

export function toggleLang() {
  const next = lang === 'zh-CN' ? 'en' : 'zh-CN';
  sessionStorage.setItem('aerogrid.lang', next);
  setLang(next);
}

/** The label for ``key`` in the current language, ``{name}`` filled from ``vars``. */
export function t(key, vars = {}) {
  const text = (table[lang] && table[lang][key]) ?? (table.en && table.en[key]) ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

/** The label if the table has one, else ``fallback`` (alert types, states the table may not know yet). */
export function tOr(key, fallback) {
  return (table[lang] && table[lang][key]) ?? (table.en && table.en[key]) ?? fallback;
}

export function applyI18n(root) {
  for (const node of root.querySelectorAll('[data-i18n]')) node.textContent = t(node.dataset.i18n);
  for (const node of root.querySelectorAll('[data-i18n-title]')) node.title = t(node.dataset.i18nTitle);
  // The toggle names the other language in that language, so it carries no data-i18n of this one.
  const toggle = document.getElementById('lang-toggle');
  if (toggle) toggle.textContent = t('lang.toggle');
  document.title = t('app.title');
}
