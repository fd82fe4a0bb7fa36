// The geartrain dashboard: plain JavaScript, no framework, no build step. Live queue and worker
// figures come from GET /api/v1/events (server-sent events, read with fetch so the bearer
// token can go in a header); the job log, processes and runs are polled every 2 s.
// Everything from the server is put in the page with textContent, never as HTML.

(() => {
  const API = '/api/v1';
  const TOKEN_KEY = 'geartrain.token';
  const POLL_MS = 2000;
  const CHART_WINDOW_MS = 5 * 60 * 1000;

  // ---- token: #token=… in the URL (then removed from it), else sessionStorage, else a prompt --
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.has('token')) {
    sessionStorage.setItem(TOKEN_KEY, hash.get('token'));
    history.replaceState(null, '', location.pathname + location.search);
  }
  let token = sessionStorage.getItem(TOKEN_KEY) || '';
  let prompting = null;
  // Asked once per page load: a cancelled prompt is not repeated by every poll.
  let declined = false;

  function askToken() {
    if (declined) return Promise.resolve(false);
    prompting ??= Promise.resolve().then(() => {
      const t = window.prompt('geartrain HTTP API token');
      prompting = null;
      if (!t) {
        declined = true;
        toast('This server needs its HTTP token: reload the page with #token=… or enter it when asked', true);
        return false;
      }
      token = t.trim();
      sessionStorage.setItem(TOKEN_KEY, token);
      return true;
    });
    return prompting;
  }

  function headers(extra) {
    const h = Object.assign({}, extra);
    if (token) h.authorization = `Bearer ${token}`;
    return h;
  }

  /** fetch + JSON; a 401 asks for the token once and tries again. Throws Error(code: message). */
  async function api(path, opts = {}, retried = false) {
    const init = { method: opts.method || 'GET', headers: headers(opts.body === undefined ? {} : { 'content-type': 'application/json' }) };
    if (opts.body !== undefined) init.body = JSON.stringify(opts.body);
    const res = await fetch(API + path, init);
    const body = await res.json().catch(() => null);
    if (res.status === 401 && !retried && (await askToken())) return api(path, opts, true);
    if (!res.ok) {
      const e = body?.error ? body.error : { code: `HTTP ${res.status}`, message: res.statusText };
      const err = new Error(`${e.code}: ${e.message}`);
      err.status = res.status;
      throw err;
    }
    return body;
  }

  // ---- small DOM helpers ------------------------------------------------------------------
  const $ = (sel) => document.querySelector(sel);
  function el(tag, attrs, ...children) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') n.className = v;
      else if (k.startsWith('on')) n.addEventListener(k.slice(2), v);
      else n.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) if (c !== null && c !== undefined) n.append(c instanceof Node ? c : String(c));
    return n;
  }
  const td = (text, cls) => el('td', { class: cls }, text);
  function fillTable(table, rows) {
    const tbody = table.tBodies[0];
    tbody.replaceChildren(...rows);
    const empty = table.parentElement.querySelector('.empty');
    if (empty) empty.hidden = rows.length > 0;
  }
  const fmtInt = (n) => Number(n).toLocaleString('en-US');
  function fmtAge(ms) {
    if (ms === null || ms === undefined) return '';
    const s = Math.round(ms / 1000);
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
    return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  }
  const fmtTime = (ms) => (ms ? new Date(ms).toLocaleTimeString() : '');

  let toastTimer = null;
  function toast(text, isError) {
    const t = $('#toast');
    t.textContent = text;
    t.className = isError ? 'error' : '';
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => (t.hidden = true), 4000);
  }

  // ---- server info ---------------------------------------------------------------------
  let features = { runs: false, supervisor: false };
  async function loadServer() {
    const s = await api('/server');
    features = s.features;
    $('#server-info').textContent = `v${s.version} · gearman ${s.gearman} · store ${s.store}${s.durable ? '' : ' (not durable)'} · up ${fmtAge(s.uptimeMs)}`;
    $('#processes-section').hidden = !features.supervisor;
    $('#runs-section').hidden = !features.runs;
  }

  // ---- live snapshot: queues, workers, throughput ---------------------------------------
  const samples = []; // {t, completed, failed}

  function renderQueues(queues) {
    fillTable(
      $('#queues'),
      queues.map((q) =>
        el(
          'tr',
          { 'data-function': q.function },
          td(q.function, 'mono'),
          td(fmtInt(q.queued.high), 'num'),
          td(fmtInt(q.queued.normal), 'num'),
          td(fmtInt(q.queued.low), 'num'),
          td(fmtInt(q.scheduled), 'num'),
          td(fmtInt(q.running), 'num'),
          td(fmtInt(q.workers), 'num'),
          td(fmtInt(q.completed), 'num'),
          td(fmtInt(q.failed), 'num'),
          td(fmtInt(q.dead), 'num'),
        ),
      ),
    );
  }

  function renderWorkers(workers, count) {
    $('#worker-count').textContent = count > workers.length ? `(${workers.length} of ${count})` : `(${count})`;
    fillTable(
      $('#workers'),
      workers.map((w) =>
        el(
          'tr',
          { 'data-worker': w.id },
          td(w.id, 'num'),
          td(w.host),
          td(w.clientId, 'mono'),
          td(w.functions.join(', '), 'mono'),
          td(w.running.length ? 'busy' : w.sleeping ? 'sleeping' : 'idle'),
          td(w.running.map((j) => `${j.function} ${j.handle}`).join(', '), 'mono'),
        ),
      ),
    );
  }

  function onSnapshot(s) {
    renderQueues(s.queues);
    renderWorkers(s.workers, s.workerCount);
    // A stream's first snapshot carries the server's last minutes: the chart starts full.
    if (s.history) samples.splice(0, samples.length, ...s.history);
    samples.push({ t: s.time, completed: s.totals.completed, failed: s.totals.failed });
    while (samples.length > 2 && samples[0].t < s.time - CHART_WINDOW_MS - 5000) samples.shift();
    drawChart();
  }

  function rates() {
    const out = [];
    for (let i = 1; i < samples.length; i++) {
      const a = samples[i - 1];
      const b = samples[i];
      const dt = (b.t - a.t) / 1000;
      if (dt <= 0) continue;
      // A restarted server starts its totals again: no negative rates.
      out.push({ t: b.t, done: Math.max(0, (b.completed - a.completed) / dt), failed: Math.max(0, (b.failed - a.failed) / dt) });
    }
    return out;
  }

  function drawChart() {
    const canvas = $('#throughput');
    const ctx = canvas.getContext('2d');
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || canvas.width;
    const h = canvas.clientHeight || canvas.height;
    if (canvas.width !== Math.round(w * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const r = rates();
    const now = samples.length ? samples[samples.length - 1].t : Date.now();
    const last = r[r.length - 1];
    // What is drawn, for tests and scripts reading the page.
    canvas.dataset.points = String(r.length);
    canvas.dataset.peak = String(Math.max(0, ...r.map((p) => p.done)));
    $('#throughput-now').textContent = last ? `${last.done.toFixed(1)} completed/s, ${last.failed.toFixed(1)} failed/s` : '';
    const max = Math.max(1, ...r.map((p) => Math.max(p.done, p.failed)));
    const pad = { l: 44, r: 8, t: 8, b: 18 };
    const x = (t) => pad.l + ((t - (now - CHART_WINDOW_MS)) / CHART_WINDOW_MS) * (w - pad.l - pad.r);
    const y = (v) => h - pad.b - (v / max) * (h - pad.t - pad.b);
    const css = getComputedStyle(document.documentElement);
    ctx.strokeStyle = css.getPropertyValue('--line');
    ctx.fillStyle = css.getPropertyValue('--muted');
    ctx.font = '11px system-ui, sans-serif';
    ctx.lineWidth = 1;
    for (const f of [0, 0.5, 1]) {
      ctx.beginPath();
      ctx.moveTo(pad.l, y(max * f));
      ctx.lineTo(w - pad.r, y(max * f));
      ctx.stroke();
      ctx.fillText((max * f).toFixed(max < 10 ? 1 : 0), 4, y(max * f) + 4);
    }
    ctx.fillText('-5 min', pad.l, h - 4);
    ctx.fillText('now', w - pad.r - 22, h - 4);
    for (const [key, color] of [
      ['done', '--done'],
      ['failed', '--failed'],
    ]) {
      ctx.strokeStyle = css.getPropertyValue(color);
      ctx.lineWidth = 2;
      ctx.beginPath();
      r.forEach((p, i) => {
        if (i === 0) ctx.moveTo(x(p.t), y(p[key]));
        else ctx.lineTo(x(p.t), y(p[key]));
      });
      ctx.stroke();
    }
  }

  /** Read the event stream with fetch (EventSource cannot send a bearer token); reconnect on loss. */
  async function stream() {
    const live = $('#live');
    for (;;) {
      try {
        const res = await fetch(`${API}/events`, { headers: headers({ accept: 'text/event-stream' }) });
        if (res.status === 401) {
          if (!(await askToken())) throw new Error('GT_HTTP_UNAUTHORIZED');
          continue;
        }
        if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
        live.textContent = 'live';
        live.className = 'badge on';
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            let event = 'message';
            let data = '';
            for (const line of block.split('\n')) {
              if (line.startsWith('event:')) event = line.slice(6).trim();
              else if (line.startsWith('data:')) data += line.slice(5).trim();
            }
            if (event === 'snapshot' && data) onSnapshot(JSON.parse(data));
          }
        }
      } catch (err) {
        console.warn('event stream:', err);
      }
      live.textContent = 'offline';
      live.className = 'badge off';
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  // ---- job log ---------------------------------------------------------------------------
  const RETRYABLE = new Set(['failed', 'dead', 'cancelled']);
  const CANCELLABLE = new Set(['queued', 'running', 'failed', 'dead']);

  async function jobAction(job, action) {
    try {
      await api(`/jobs/${encodeURIComponent(job.id)}/${action}`, { method: 'POST' });
      toast(`${action === 'retry' ? 'Re-queued' : 'Cancelled'} ${job.function} ${job.id}`);
    } catch (err) {
      toast(err.message, true);
    }
    loadJobs();
  }

  // Ids of job-log rows opened to show their whole result or error; kept across polls.
  const expanded = new Set();
  const SUMMARY_MAX = 120;

  const clip = (text, max) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

  /** One line for a result: `key: value` pairs of an object, `[n items]` for arrays, first line of text. */
  function summary(v) {
    const short = (x) =>
      Array.isArray(x)
        ? x.length
          ? `[${x.length} item${x.length === 1 ? '' : 's'}]`
          : '[]'
        : x !== null && typeof x === 'object'
          ? '{…}'
          : clip(String(x), 40);
    if (typeof v === 'string') return clip(v.split('\n', 1)[0], SUMMARY_MAX);
    if (Array.isArray(v) || v === null || typeof v !== 'object') return short(v);
    return clip(
      Object.entries(v)
        .map(([k, x]) => `${k}: ${short(x)}`)
        .join(', '),
      SUMMARY_MAX,
    );
  }

  /** The whole result or error: JSON indented, text as it is. */
  function fullText(j) {
    if (j.error !== null) return j.error;
    return j.result !== null && typeof j.result === 'object' ? JSON.stringify(j.result, null, 2) : (j.resultText ?? '');
  }

  function toggleDetail(id) {
    if (expanded.has(id)) expanded.delete(id);
    else expanded.add(id);
    loadJobs().catch((e) => toast(e.message, true));
  }

  async function loadJobs() {
    const f = new FormData($('#job-filter'));
    const q = new URLSearchParams({ limit: '100' });
    if (f.get('state')) q.set('state', f.get('state'));
    if (String(f.get('function')).trim()) q.set('function', String(f.get('function')).trim());
    const { jobs } = await api(`/jobs?${q}`);
    const rows = [];
    for (const j of jobs) {
      const hasDetail = j.error !== null || j.resultText !== null;
      const open = hasDetail && expanded.has(j.id);
      rows.push(
        el(
          'tr',
          { 'data-id': j.id, 'data-state': j.state, 'data-function': j.function, class: open ? 'open' : null },
          td(fmtTime(j.updatedAt)),
          td(j.id, 'mono'),
          td(j.function, 'mono'),
          td(j.priority),
          td(j.state, `state-${j.state}`),
          td(`${j.attempts}/${j.maxAttempts}`, 'num'),
          el(
            'td',
            { class: hasDetail ? 'result more' : 'result', title: hasDetail ? 'show all' : null, onclick: hasDetail ? () => toggleDetail(j.id) : null },
            j.error !== null ? summary(j.error) : j.resultText !== null ? summary(j.result) : '',
          ),
          el(
            'td',
            {},
            RETRYABLE.has(j.state) && j.payloadBytes > 0
              ? el('button', { type: 'button', class: 'retry', 'data-id': j.id, onclick: () => jobAction(j, 'retry') }, 'Retry')
              : null,
            CANCELLABLE.has(j.state)
              ? el('button', { type: 'button', class: 'cancel', 'data-id': j.id, onclick: () => jobAction(j, 'cancel') }, 'Cancel')
              : null,
          ),
        ),
      );
      if (open) rows.push(el('tr', { class: 'detail', 'data-detail-for': j.id }, el('td', { colspan: 8 }, el('pre', {}, fullText(j)))));
    }
    fillTable($('#jobs'), rows);
  }

  $('#job-filter').addEventListener('change', () => loadJobs().catch((e) => toast(e.message, true)));
  $('#job-filter').addEventListener('submit', (e) => e.preventDefault());
  $('#job-filter input[name=function]').addEventListener('input', () => loadJobs().catch(() => {}));
  $('#retry-dead').addEventListener('click', async () => {
    const fn = String(new FormData($('#job-filter')).get('function')).trim();
    try {
      const r = await api('/jobs/retry-dead', { method: 'POST', body: fn ? { function: fn } : {} });
      toast(`Re-queued ${r.retried} dead job${r.retried === 1 ? '' : 's'}`);
    } catch (err) {
      toast(err.message, true);
    }
    loadJobs();
  });

  // ---- processes (with a supervisor) ---------------------------------------------------------
  async function scale(type, to) {
    try {
      await api('/scale', { method: 'POST', body: { counts: { [type]: to } } });
      toast(`Scaling ${type} to ${to}`);
    } catch (err) {
      toast(err.message, true);
    }
    loadProcesses();
  }

  async function loadProcesses() {
    if (!features.supervisor) return;
    const ps = await api('/processes');
    fillTable(
      $('#process-types'),
      ps.types.map((t) =>
        el(
          'tr',
          { 'data-type': t.type },
          td(t.type, 'mono'),
          td(t.processes, 'num'),
          td(t.running, 'num'),
          td(t.state || ''),
          el(
            'td',
            {},
            el(
              'span',
              { class: 'scale' },
              el(
                'button',
                {
                  type: 'button',
                  class: 'scale-down',
                  'data-type': t.type,
                  disabled: t.processes <= 0,
                  title: 'one process fewer',
                  onclick: () => scale(t.type, t.processes - 1),
                },
                '−',
              ),
              el(
                'button',
                { type: 'button', class: 'scale-up', 'data-type': t.type, title: 'one process more', onclick: () => scale(t.type, t.processes + 1) },
                '+',
              ),
            ),
          ),
        ),
      ),
    );
    fillTable(
      $('#processes'),
      ps.processes.map((p) =>
        el(
          'tr',
          { 'data-name': p.name },
          td(p.name, 'mono'),
          td(p.pid ?? '', 'num'),
          td(p.state),
          td(fmtAge(p.uptimeMs), 'num'),
          td(p.restarts ?? '', 'num'),
          td(p.jobsDone ?? '', 'num'),
          td(p.jobsFailed ?? '', 'num'),
        ),
      ),
    );
  }

  // ---- pipeline runs (with a runs provider) -------------------------------------------------
  async function loadRuns() {
    if (!features.runs) return;
    const { runs } = await api('/runs?limit=20');
    const box = $('#runs');
    if (runs.length === 0) {
      box.replaceChildren(el('p', { class: 'muted' }, 'No runs yet.'));
      return;
    }
    box.replaceChildren(
      ...runs.map((r) =>
        el(
          'div',
          { class: 'run', 'data-run': r.id },
          el('h3', {}, `${r.pipeline} `, el('span', { class: 'mono muted' }, r.id), ' ', el('span', { class: `state-${r.status}` }, r.status)),
          ...r.steps.map((s) =>
            el(
              'div',
              { class: 'step', 'data-step': s.id },
              el('span', { class: 'mono' }, s.id),
              el('span', { class: `state-${s.status}` }, `${s.status} · ${s.done + s.failed}/${s.total}${s.failed ? ` (${s.failed} failed)` : ''}`),
              el('progress', { max: Math.max(1, s.total), value: s.done + s.failed }),
            ),
          ),
        ),
      ),
    );
  }

  // ---- start -----------------------------------------------------------------------------
  async function poll() {
    if (!document.hidden) {
      await Promise.all([loadJobs(), loadProcesses(), loadRuns()]).catch((err) => console.warn(err));
    }
    setTimeout(poll, POLL_MS);
  }

  loadServer()
    .catch((err) => toast(err.message, true))
    .finally(() => {
      void stream();
      void poll();
      setInterval(() => loadServer().catch(() => {}), 30_000);
    });
  window.addEventListener('resize', drawChart);
})();
