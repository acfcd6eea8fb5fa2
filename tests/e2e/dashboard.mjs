// dashboard.mjs - the dashboard in a real browser (Debian's chromium,
// driven by playwright-core; no browser download), against a colibrid
// that tests/api/test_dashboard.py started.  Environment:
//   COLIBRI_LOGIN_URL  the one-time login URL from the daemon's log
//   COLIBRI_URL        http://127.0.0.1:PORT
//   COLIBRI_TOKEN      the API token (to act as automation would)
//   COLIBRI_PI_EVENTS  a pi JSONL transcript that ends in "done"
//   COLIBRI_OUT        folder for screenshots
//   CHROMIUM           the browser (default /usr/bin/chromium)
// Prints one line per check and a JSON line of measurements; exits 1 on
// the first failure.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const env = process.env;
const base = env.COLIBRI_URL;
const out = env.COLIBRI_OUT;
const auth = { Authorization: 'Bearer ' + env.COLIBRI_TOKEN };
const WITHIN = Number(env.COLIBRI_E2E_WITHIN_MS || 1000);
const measures = {};
let passed = 0;

async function call(method, p, body, type = 'application/json') {
  const init = { method, headers: { ...auth } };
  if (body !== undefined) {
    init.headers['Content-Type'] = type;
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const res = await fetch(base + '/api/v1' + p, init);
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

function ok(name, extra = '') {
  passed++;
  console.log(`ok ${passed} - ${name}${extra ? ' (' + extra + ')' : ''}`);
}

async function shot(page, name) {
  const file = path.join(out, `dashboard-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`# screenshot ${file}`);
}

const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'colibri-e2e-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
    '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
  viewport: { width: 1280, height: 800 },
});
let failed = false;
try {
  const page = context.pages()[0] || await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  let bytes = 0;
  page.on('response', async (r) => {
    const len = Number((await r.allHeaders())['content-length'] || 0);
    bytes += len;
  });

  // 1. Login through the one-time URL: lands on / without the code.
  await page.goto(env.COLIBRI_LOGIN_URL);
  await page.waitForSelector('body[data-ready=yes]', { timeout: 10000 });
  if (page.url() !== base + '/') throw new Error('landed on ' + page.url());
  ok('login lands on / without the code', page.url());
  measures.first_load_bytes = bytes;
  await page.waitForSelector('#conn[data-conn=live]', { timeout: 5000 });
  await page.waitForSelector('.column[data-status=todo]');
  ok('board and live connection shown');
  const cookies = await context.cookies(base);
  const sess = cookies.find((c) => c.name === 'colibri_session');
  if (!sess || !sess.httpOnly || sess.sameSite !== 'Strict')
    throw new Error('session cookie flags: ' + JSON.stringify(sess));
  ok('session cookie is HttpOnly, SameSite=Strict');

  // 2. A task created through the API appears without reload.
  const t0 = Date.now();
  const task = await call('POST', '/tasks', { title: 'From the API e2e',
    priority: 1, labels: ['e2e'] });
  await page.waitForFunction((id) => {
    const n = document.querySelector(`[data-task-id="${id}"]`);
    return n && n.textContent === 'From the API e2e';
  }, task.id, { timeout: 10000 });
  measures.api_task_to_board_ms = Date.now() - t0;
  if (measures.api_task_to_board_ms > WITHIN)
    throw new Error(`task took ${measures.api_task_to_board_ms} ms`);
  ok('API task appears on the board', measures.api_task_to_board_ms + ' ms');

  // 3. A task created through the form.
  await page.fill('#new-task [name=title]', 'From the UI form');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => [...document.querySelectorAll(
    '[data-task-id]')].some((n) => n.textContent === 'From the UI form'),
    null, { timeout: 5000 });
  const listed = await call('GET', '/tasks');
  if (!listed.items.some((t) => t.title === 'From the UI form'))
    throw new Error('the form did not create the task');
  ok('task created through the form');

  // Readiness follows the dependencies without reload.
  const dep = await call('POST', '/tasks', { title: 'Dependency' });
  const waiting = await call('POST', '/tasks', { title: 'Waits',
    depends_on: [dep.id] });
  await page.waitForSelector(`[data-card="${waiting.id}"] .waiting`,
    { timeout: 5000 });
  await call('POST', `/tasks/${dep.id}/claim`, { agent: 'e2e-bot' });
  await call('POST', `/tasks/${dep.id}/complete`, { agent: 'e2e-bot' });
  await page.waitForSelector(`[data-card="${waiting.id}"] .ready`,
    { timeout: 5000 });
  ok('a dependency done makes its dependent ready');

  // Claim through the UI (the lease holder and countdown show).
  await page.fill('#filters [name=agent]', 'e2e-human');
  await page.click(`[data-card="${task.id}"] button:text("Claim")`);
  await page.waitForSelector(
    `.column[data-status=in_progress] [data-task-id="${task.id}"]`,
    { timeout: 5000 });
  await page.waitForSelector(`[data-card="${task.id}"] .countdown`);
  ok('claim from the board moves the card, with lease countdown');
  await shot(page, 'board');
  // Dark, and at 200% zoom (a 640 px wide window at scale 2).
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.setViewportSize({ width: 640, height: 800 });
  await shot(page, 'board-dark-narrow');
  await page.emulateMedia({ colorScheme: 'light' });
  await page.setViewportSize({ width: 1280, height: 800 });

  // 4. An agent's glasspane state reaches its badge.
  await page.click('nav [data-view=agents]');
  await call('POST', '/agents', { id: 'pi-e2e', kind: 'pi' });
  await page.waitForSelector('[data-agent-id="pi-e2e"]', { timeout: 5000 });
  const t1 = Date.now();
  await call('POST', '/agents/pi-e2e/events',
    fs.readFileSync(env.COLIBRI_PI_EVENTS, 'utf8'), 'application/x-ndjson');
  await page.waitForSelector('[data-agent-id="pi-e2e"][data-state=done]',
    { timeout: 10000 });
  measures.agent_state_to_badge_ms = Date.now() - t1;
  if (measures.agent_state_to_badge_ms > WITHIN)
    throw new Error(`badge took ${measures.agent_state_to_badge_ms} ms`);
  ok('agent badge becomes done', measures.agent_state_to_badge_ms + ' ms');
  await shot(page, 'agents');

  // 5. Skill search shows the expected hit, highlighted.
  await page.click('nav [data-view=skills]');
  await page.fill('#skill-search [name=q]', 'pdftotext');
  await page.waitForSelector('#skill-hits [data-skill="pdf-tools"] mark',
    { timeout: 5000 });
  ok('skill search highlights the hit');
  await shot(page, 'skills');

  // 6. A write without the CSRF header is refused (same page, cookie on).
  if (errors.length) throw new Error('page errors: ' + errors.join('; '));
  const refused = await page.evaluate(async () => {
    const r = await fetch('/api/v1/tasks', { method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ title: 'no csrf' }) });
    return { status: r.status, code: (await r.json()).code };
  });
  if (refused.status !== 403 || refused.code !== 'csrf_required')
    throw new Error('write without CSRF: ' + JSON.stringify(refused));
  ok('write without CSRF header refused (403 csrf_required)');
  errors.length = 0;    // the browser logs that 403 as an error

  // 7. Budget: 1,000 tasks render, then 20 events a second.
  await page.click('nav [data-view=board]');
  measures.render_1000_ms = await page.evaluate(async () => {
    const board = await import('/board.js');
    const now = new Date().toISOString();
    const items = [];
    for (let i = 1; i <= 1000; i++) {
      items.push({ id: 100000 + i, title: 'Bulk task ' + i,
        status: ['todo', 'in_progress', 'review', 'done'][i % 4],
        priority: i % 5, labels: ['bulk'], depends_on: [], ready: true,
        version: 1, created_at: now, updated_at: now, lease: null });
    }
    const t = performance.now();
    board.setTasks(items);
    await new Promise((r) => requestAnimationFrame(() => setTimeout(r)));
    return Math.round(performance.now() - t);
  });
  ok('1,000 tasks rendered', measures.render_1000_ms + ' ms');
  const t2 = Date.now();
  const made = [];
  for (let i = 0; i < 40; i++) {
    made.push(call('POST', '/tasks', { title: 'Burst ' + i }));
    await new Promise((r) => setTimeout(r, 50));
  }
  const burst = await Promise.all(made);
  const last = burst[burst.length - 1].id;
  await page.waitForSelector(`[data-task-id="${last}"]`, { timeout: 10000 });
  measures.burst_40_at_20_per_s_ms = Date.now() - t2;
  measures.input_latency_ms = await page.evaluate(() => new Promise((r) => {
    const t = performance.now();
    requestAnimationFrame(() => r(Math.round(performance.now() - t)));
  }));
  ok('40 events at 20/s applied', measures.burst_40_at_20_per_s_ms + ' ms');

  if (errors.length) throw new Error('page errors: ' + errors.join('; '));
  ok('no errors in the page');
} catch (e) {
  failed = true;
  console.log('not ok - ' + (e && e.stack ? e.stack : e));
  try {
    const p = context.pages()[0];
    if (p) await shot(p, 'failure');
  } catch { /* best effort */ }
} finally {
  await context.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
}
console.log('measures ' + JSON.stringify(measures));
console.log(`${passed} passed, ${failed ? 1 : 0} failed`);
process.exit(failed ? 1 : 0);
