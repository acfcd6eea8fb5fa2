// skills.js - search as you type (snippets arrive HTML-escaped, with
// <mark> around the hits) and the list of invalid skills.
import { api, el } from './api.js';

let timer = null;
let seq = 0;

async function search(q) {
  const mine = ++seq;
  const out = document.getElementById('skill-hits');
  if (!q) { out.textContent = ''; return; }
  try {
    const res = await api('GET', '/skills/search?q=' + encodeURIComponent(q));
    if (mine !== seq) return;   // a newer query is on its way
    out.textContent = '';
    for (const hit of res.items) {
      const snippet = el('p', { class: 'snippet' });
      snippet.innerHTML = hit.snippet || '';   // escaped by the server
      out.append(el('li', { dataset: { skill: hit.name } },
        el('strong', { text: hit.name }), ' ',
        el('span', { class: 'desc', text: hit.description || '' }),
        snippet));
    }
    if (!res.items.length) out.append(el('li', { text: 'No match.' }));
  } catch (e) {
    if (mine === seq) out.textContent = e.message;
  }
}

export async function loadInvalid() {
  const list = document.getElementById('skill-invalid');
  try {
    const res = await api('GET', '/skills?invalid=true');
    list.textContent = '';
    for (const s of res.items) {
      list.append(el('li', {}, el('strong', { text: s.name || s.path }),
        ': ', el('span', { text: s.reason || s.error || 'invalid' })));
    }
    if (!res.items.length) list.append(el('li', { text: 'None.' }));
  } catch (e) {
    list.textContent = e.message;
  }
}

export function initSkills() {
  const form = document.getElementById('skill-search');
  form.addEventListener('submit', (e) => e.preventDefault());
  form.q.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => search(form.q.value.trim()), 120);
  });
}
