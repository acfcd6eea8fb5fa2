// api.js - fetch wrapper: the session cookie rides along on its own;
// every write echoes the CSRF cookie in X-CSRF-Token.

export function csrfToken() {
  const m = document.cookie.match(/(?:^|;\s*)colibri_csrf=([0-9a-f]+)/);
  return m ? m[1] : '';
}

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

export async function api(method, path, body, extra) {
  const headers = { Accept: 'application/json', ...(extra || {}) };
  if (method !== 'GET' && method !== 'HEAD') {
    headers['X-CSRF-Token'] = csrfToken();
  }
  const init = { method, headers, credentials: 'same-origin' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch('/api/v1' + path, init);
  const type = res.headers.get('Content-Type') || '';
  const doc = type.includes('json') ? await res.json().catch(() => null)
    : null;
  if (!res.ok) throw new ApiError(res.status, doc);
  return doc;
}

// Every page of a list (the API pages with ?after=).
export async function listAll(path, cap = 5000) {
  const items = [];
  let after = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const page = await api('GET', path + sep + 'limit=1000' +
      (after ? '&after=' + encodeURIComponent(after) : ''));
    items.push(...page.items);
    after = page.next;
  } while (after && items.length < cap);
  return items;
}

// Small DOM helper: el('div', {class: 'x', dataset: {..}}, children...)
export function el(tag, attrs, ...kids) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'dataset') {
      for (const [dk, dv] of Object.entries(v)) {
        if (dv !== undefined && dv !== null) n.dataset[dk] = dv;
      }
    }
    else if (k === 'text') n.textContent = v;
    else if (k.startsWith('on')) n.addEventListener(k.slice(2), v);
    else n.setAttribute(k, v === true ? '' : v);
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false) continue;
    n.append(kid instanceof Node ? kid : String(kid));
  }
  return n;
}

export function ago(iso) {
  if (!iso) return '';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return duration(s);
}

export function duration(s) {
  if (s < 60) return s + 's';
  if (s < 3600) return Math.floor(s / 60) + 'm ' + (s % 60) + 's';
  if (s < 86400) return Math.floor(s / 3600) + 'h ' +
    Math.floor((s % 3600) / 60) + 'm';
  return Math.floor(s / 86400) + 'd ' + Math.floor((s % 86400) / 3600) + 'h';
}

// An RFC 3339 time as the reader's local date and time (the title of the
// element keeps the exact UTC value).
export function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString();
}
