// The tangled node dashboard: a live view of the recent DAG and charts of
// the node's counters, read from the node's own JSON API. No libraries:
// the DAG and the charts are drawn on canvases, and every event that
// arrives between two animation frames is applied in the next frame, so
// the cost of a frame depends on the window size, not on the event rate.
// docs/design/2026-12-02-dashboard.md explains the choices.
'use strict';

(function () {
  const CFG = {
    maxNodes: 1500, // transactions kept and drawn (the sliding window)
    windowMs: 20000, // and none older than this
    minSpanMs: 2000, // the x axis never spans less than this
    statsEveryMs: 1000,
    peersEveryMs: 2000,
    infoEveryMs: 10000,
    devicesEveryMs: 2000,
    maxIssuers: 200, // issuers remembered for the device table
    maxDevices: 64, // devices listed
    maxDeviceFetches: 16, // device lookups per refresh
    chartPoints: 120,
    frameSamples: 600, // frame times kept for frameStats()
    maxQueued: 100000, // events held while the view is paused
  };
  // The window can be changed from the address's fragment, which never
  // reaches the node: /#nodes=3000&seconds=60.
  const hash = new URLSearchParams(location.hash.slice(1));
  const fromHash = (name, lo, hi) => {
    const v = Number(hash.get(name));
    return Number.isFinite(v) && v >= lo && v <= hi ? v : undefined;
  };
  CFG.maxNodes = fromHash('nodes', 50, 20000) ?? CFG.maxNodes;
  CFG.windowMs = (fromHash('seconds', 2, 600) ?? CFG.windowMs / 1000) * 1000;

  const COLOURS = {
    pending: '#f2b134', confirmed: '#3bb273', conflicting: '#e15554',
    beacon: '#4d9de0', edge: 'rgba(160, 175, 190, 0.22)', selected: '#ffffff',
  };
  const STATUSES = ['pending', 'confirmed', 'conflicting'];

  const $ = (id) => document.getElementById(id);
  const short = (hex) => (hex ? hex.slice(0, 10) + '…' : '');

  // ---- the sliding window of transactions ----
  const nodes = new Map(); // id -> node
  let order = []; // nodes in arrival order; order[head] is the oldest
  let head = 0;
  let queue = []; // events received since the last frame
  let selected = null;
  const received = { attached: 0, confirmed: 0, conflicting: 0, lagged: 0 };

  // A node's height comes from its ID, so it never moves vertically and
  // nothing is laid out again when others arrive or leave.
  function laneOf(id) {
    return parseInt(id.slice(0, 6), 16) / 0xffffff;
  }

  function statusOf(ev) {
    if (ev.conflicting) return 'conflicting';
    return ev.confirmed ? 'confirmed' : 'pending';
  }

  function apply(kind, ev, now) {
    let n = nodes.get(ev.id);
    if (kind === 'attached') {
      if (n) return;
      n = {
        id: ev.id, trunk: ev.trunk, branch: ev.branch, kind: ev.tx_kind,
        issuer: ev.issuer, seq: ev.seq, status: statusOf(ev), t: now,
        lane: laneOf(ev.id), x: 0, y: 0, drawn: null,
      };
      nodes.set(n.id, n);
      order.push(n);
      if (n.kind !== 'beacon') noteIssuer(ev);
      return;
    }
    if (!n) return; // before this page's window
    if (kind === 'conflicting') n.status = 'conflicting';
    else if (kind === 'confirmed' && n.status !== 'conflicting') n.status = statusOf(ev);
  }

  function evict(now) {
    while (order.length - head > CFG.maxNodes || (order.length > head && now - order[head].t > CFG.windowMs)) {
      const n = order[head++];
      nodes.delete(n.id);
      if (selected === n.id) selected = null;
    }
    // Compact now and then instead of shifting the array on every
    // eviction.
    if (head > 4096) {
      order = order.slice(head);
      head = 0;
    }
  }

  // ---- drawing the DAG ----
  const dag = $('dag');
  const ctx = dag.getContext('2d', { alpha: false });
  let width = 0, height = 0, span = CFG.minSpanMs;

  function resize() {
    const ratio = window.devicePixelRatio || 1;
    const w = dag.clientWidth, h = dag.clientHeight;
    if (w === width && h === height) return;
    width = w; height = h;
    dag.width = Math.round(w * ratio);
    dag.height = Math.round(h * ratio);
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  }

  function draw(now) {
    resize();
    ctx.fillStyle = '#0c0f12';
    ctx.fillRect(0, 0, width, height);
    const live = order.length - head;
    if (live === 0) return;
    // The x axis spans the window's age, eased so that it does not jump
    // as the oldest transactions leave.
    const target = Math.min(Math.max(now - order[head].t, CFG.minSpanMs), CFG.windowMs);
    if (!paused) span += (target - span) * 0.1;
    const pad = 10, plotW = width - 2 * pad, plotH = height - 2 * pad;
    for (let i = head; i < order.length; i++) {
      const n = order[i];
      n.x = pad + plotW * (1 - (now - n.t) / span);
      n.y = pad + plotH * n.lane;
      n.drawn = n.status; // what this frame paints it as, for state()
    }
    ctx.beginPath();
    for (let i = head; i < order.length; i++) {
      const n = order[i];
      const a = nodes.get(n.trunk), b = n.branch === n.trunk ? undefined : nodes.get(n.branch);
      if (a) { ctx.moveTo(n.x, n.y); ctx.lineTo(a.x, a.y); }
      if (b) { ctx.moveTo(n.x, n.y); ctx.lineTo(b.x, b.y); }
    }
    ctx.strokeStyle = COLOURS.edge;
    ctx.lineWidth = 1;
    ctx.stroke();
    const r = live > 800 ? 2.5 : 3.5;
    for (const status of STATUSES) {
      ctx.beginPath();
      for (let i = head; i < order.length; i++) {
        const n = order[i];
        if (n.status !== status || n.kind === 'beacon') continue;
        ctx.moveTo(n.x + r, n.y);
        ctx.arc(n.x, n.y, r, 0, 2 * Math.PI);
      }
      ctx.fillStyle = COLOURS[status];
      ctx.fill();
    }
    // Beacons: diamonds filled with their status, ringed in blue.
    const d = r + 1;
    for (const status of STATUSES) {
      ctx.beginPath();
      for (let i = head; i < order.length; i++) {
        const n = order[i];
        if (n.status !== status || n.kind !== 'beacon') continue;
        ctx.moveTo(n.x, n.y - d); ctx.lineTo(n.x + d, n.y); ctx.lineTo(n.x, n.y + d); ctx.lineTo(n.x - d, n.y); ctx.closePath();
      }
      ctx.fillStyle = COLOURS[status];
      ctx.fill();
      ctx.strokeStyle = COLOURS.beacon;
      ctx.lineWidth = 1;
      ctx.stroke();
    }
    const s = selected && nodes.get(selected);
    if (s) {
      ctx.beginPath();
      ctx.arc(s.x, s.y, r + 5, 0, 2 * Math.PI);
      ctx.strokeStyle = COLOURS.selected;
      ctx.lineWidth = 1.5;
      ctx.stroke();
    }
  }

  // ---- the frame loop and its measurements ----
  const frames = {
    count: 0, events: 0,
    work: new Float64Array(CFG.frameSamples), // ms of this page's work per frame
    interval: new Float64Array(CFG.frameSamples), // ms between frames
    n: 0, last: 0, shown: -1,
  };

  // Paused, the view keeps its picture so that a transaction can be
  // clicked at 2,000 tx/s; events wait in the queue (up to maxQueued, then
  // the window starts afresh on resume).
  let paused = false, pausedAt = 0;

  function setPaused(p) {
    paused = p;
    pausedAt = performance.now();
    $('pause').textContent = p ? 'resume' : 'pause';
    $('pause').setAttribute('aria-pressed', String(p));
  }
  $('pause').addEventListener('click', () => setPaused(!paused));
  document.addEventListener('keydown', (e) => {
    if (e.key === ' ' && e.target === document.body) {
      e.preventDefault();
      setPaused(!paused);
    }
  });

  function frame(ts) {
    if (paused) {
      if (queue.length > CFG.maxQueued) {
        queue = [];
        nodes.clear();
        order = [];
        head = 0;
      }
      draw(pausedAt); // the same picture, with the selection ring
      frames.last = 0; // a pause is not a slow frame
      requestAnimationFrame(frame);
      return;
    }
    const start = performance.now();
    const batch = queue;
    queue = [];
    for (let i = 0; i < batch.length; i++) apply(batch[i][0], batch[i][1], batch[i][2]);
    evict(start);
    draw(start);
    if (order.length - head !== frames.shown) {
      frames.shown = order.length - head;
      $('dag-count').textContent = frames.shown + ' shown';
    }
    const end = performance.now();
    const slot = frames.n % CFG.frameSamples;
    frames.work[slot] = end - start;
    frames.interval[slot] = frames.last ? ts - frames.last : 0;
    frames.last = ts;
    frames.n++;
    frames.count++;
    frames.events += batch.length;
    requestAnimationFrame(frame);
  }

  function quantile(values, q) {
    if (values.length === 0) return 0;
    const sorted = Array.from(values).sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
  }

  // ---- details of one transaction ----
  dag.addEventListener('click', (e) => {
    const rect = dag.getBoundingClientRect();
    const x = e.clientX - rect.left, y = e.clientY - rect.top;
    let best = null, bestD = 100; // within 10 px
    for (let i = head; i < order.length; i++) {
      const n = order[i];
      if (!n.drawn) continue; // not on the picture yet
      const d = (n.x - x) * (n.x - x) + (n.y - y) * (n.y - y);
      if (d < bestD) { best = n; bestD = d; }
    }
    if (best) select(best.id);
  });

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  async function select(id) {
    selected = id;
    const box = $('details');
    box.replaceChildren(el('p', 'loading ' + short(id), 'hint'));
    try {
      const res = await fetch('/v1/transactions/' + id);
      const body = await res.json();
      if (selected !== id) return;
      if (!res.ok) {
        box.replaceChildren(el('p', body.code + ': ' + body.message, 'error'));
        return;
      }
      const tx = body.transaction;
      const dl = el('dl');
      const row = (k, v, cls) => { dl.append(el('dt', k)); const dd = el('dd', v, cls); dl.append(dd); return dd; };
      row('id', id);
      row('status', body.status, 'status-' + body.status);
      row('kind', tx.kind);
      row('issuer', tx.issuer);
      row('seq', String(tx.seq));
      row('time', tx.time);
      row('weight', body.approval_weight + ' / ' + body.total_weight);
      row('approvers', (body.approvers || []).join(', ') || '—');
      for (const p of ['trunk', 'branch']) {
        const dd = row(p, '');
        const a = el('a', tx[p]);
        a.addEventListener('click', () => select(tx[p]));
        dd.append(a);
      }
      if (body.reasons && body.reasons.length) row('reasons', body.reasons.join('; '));
      box.replaceChildren(dl, el('pre', JSON.stringify(body, null, 2)));
    } catch (err) {
      if (selected === id) box.replaceChildren(el('p', String(err), 'error'));
    }
  }

  // ---- the event stream ----
  let stream = null, streamState = 'connecting';

  function setStream(state) {
    streamState = state;
    $('stream').className = 'dot ' + (state === 'live' ? 'ok' : state === 'connecting' ? 'unknown' : 'bad');
    $('stream-text').textContent = state;
  }

  function connect() {
    setStream('connecting');
    stream = new EventSource('/v1/events');
    stream.onopen = () => setStream('live');
    stream.onerror = () => setStream('reconnecting'); // EventSource retries by itself
    for (const kind of ['attached', 'confirmed', 'conflicting']) {
      stream.addEventListener(kind, (e) => {
        received[kind]++;
        queue.push([kind, JSON.parse(e.data), performance.now()]);
      });
    }
    // The node closes a stream that fell behind; start a new one at once
    // rather than after EventSource's retry delay.
    stream.addEventListener('lagged', () => {
      received.lagged++;
      stream.close();
      setStream('lagged, reconnecting');
      setTimeout(connect, 200);
    });
  }

  // ---- charts ----
  function series(label, colour) {
    return { label, colour, values: [] };
  }
  const charts = {
    ingest: { canvas: $('c-ingest'), unit: 'tx/s', series: [series('tx/s', COLOURS.beacon)] },
    latency: { canvas: $('c-latency'), unit: 'ms', legend: true, series: [series('p50', COLOURS.confirmed), series('p90', COLOURS.pending)] },
    tips: { canvas: $('c-tips'), unit: '', series: [series('tips', COLOURS.pending)] },
    peers: { canvas: $('c-peers'), unit: '', series: [series('connected', COLOURS.confirmed)] },
    rejections: { canvas: $('c-rejections'), unit: '/s', series: [] },
  };
  const CODE_COLOURS = ['#e15554', '#f2b134', '#c678dd', '#56b6c2', '#98c379', '#d19a66'];

  function push(s, v) {
    s.values.push(v);
    if (s.values.length > CFG.chartPoints) s.values.shift();
  }

  function drawChart(chart) {
    const c = chart.canvas, ratio = window.devicePixelRatio || 1;
    const w = c.clientWidth, h = c.clientHeight;
    if (c.width !== Math.round(w * ratio)) { c.width = Math.round(w * ratio); c.height = Math.round(h * ratio); }
    const g = c.getContext('2d');
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.fillStyle = '#0c0f12';
    g.fillRect(0, 0, w, h);
    let top = 0;
    for (const s of chart.series) for (const v of s.values) top = Math.max(top, v);
    top = top > 0 ? top * 1.15 : 1;
    // The x axis grows with the history up to chartPoints, so a chart
    // fills its width from the first minute.
    let points = 30;
    for (const s of chart.series) points = Math.max(points, s.values.length);
    for (const s of chart.series) {
      g.beginPath();
      s.values.forEach((v, i) => {
        const x = w - (s.values.length - 1 - i) * (w / (points - 1));
        const y = h - 4 - (h - 8) * (v / top);
        if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
      });
      g.strokeStyle = s.colour;
      g.lineWidth = 1.5;
      g.stroke();
    }
    g.fillStyle = '#8b96a1';
    g.font = '10px system-ui, sans-serif';
    g.fillText(fmt(top / 1.15) + (chart.unit ? ' ' + chart.unit : ''), 4, 11);
    if (chart.legend) {
      let x = w - 4;
      g.textAlign = 'right';
      for (const s of [...chart.series].reverse()) {
        g.fillStyle = s.colour;
        g.fillText(s.label, x, 11);
        x -= g.measureText(s.label).width + 8;
      }
      g.textAlign = 'left';
    }
  }

  function fmt(v) {
    if (v >= 1000) return (v / 1000).toFixed(v >= 10000 ? 0 : 1) + 'k';
    if (v >= 10 || Number.isInteger(v)) return String(Math.round(v));
    return v.toFixed(1);
  }

  // ---- polling the JSON API ----
  let last = null; // the previous /v1/stats
  const rejectionSeries = new Map(); // code -> series

  async function getJSON(path) {
    const res = await fetch(path, { cache: 'no-store' });
    const body = await res.json();
    if (!res.ok) {
      const err = new Error(body.code + ': ' + body.message);
      err.status = res.status;
      throw err;
    }
    return body;
  }

  async function pollStats() {
    let st;
    try {
      st = await getJSON('/v1/stats');
      $('health').className = 'dot ok';
      $('health-text').textContent = 'ok';
    } catch (err) {
      $('health').className = 'dot bad';
      $('health-text').textContent = 'unreachable';
      return;
    }
    $('uptime').textContent = formatDuration(st.uptime_s);
    if (last) {
      const dt = Math.max(st.uptime_s - last.uptime_s, 0.001);
      const rate = (st.transactions - last.transactions) / dt;
      push(charts.ingest.series[0], rate);
      $('v-ingest').textContent = fmt(rate) + ' tx/s';
      const codes = new Set([...Object.keys(st.rejections), ...rejectionSeries.keys()]);
      let total = 0;
      for (const code of codes) {
        let s = rejectionSeries.get(code);
        if (!s) {
          s = series(code, CODE_COLOURS[rejectionSeries.size % CODE_COLOURS.length]);
          s.values = new Array(charts.ingest.series[0].values.length - 1).fill(0);
          rejectionSeries.set(code, s);
          charts.rejections.series.push(s);
        }
        const r = ((st.rejections[code] || 0) - (last.rejections[code] || 0)) / dt;
        total += r;
        push(s, r);
      }
      $('v-rejections').textContent = fmt(total) + '/s';
    }
    const lat = st.confirmation_latency;
    push(charts.latency.series[0], lat.p50_ms);
    push(charts.latency.series[1], lat.p90_ms);
    $('v-latency').textContent = lat.samples ? fmt(lat.p50_ms) + ' / ' + fmt(lat.p90_ms) + ' ms' : 'no samples';
    push(charts.tips.series[0], st.tips);
    $('v-tips').textContent = String(st.tips);
    push(charts.peers.series[0], st.peers.connected);
    $('v-peers').textContent = st.peers.connected + ' of ' + st.peers.known;
    const list = $('rejection-codes');
    list.replaceChildren(...[...rejectionSeries.values()].map((s) => {
      const li = el('li');
      const sw = el('span');
      sw.style.background = s.colour;
      li.append(sw, s.label + ' ' + (st.rejections[s.label] || 0));
      return li;
    }));
    const counts = $('counts');
    counts.replaceChildren();
    for (const [k, v] of [['transactions', st.transactions], ['confirmed', st.confirmed], ['conflicting', st.conflicting],
      ['parked', st.parked], ['tips', st.tips], ['issuers', st.issuers], ['event streams', st.event_streams],
      ['latency p99', lat.samples ? fmt(lat.p99_ms) + ' ms' : '—']]) {
      counts.append(el('dt', k), el('dd', String(v)));
    }
    for (const chart of Object.values(charts)) drawChart(chart);
    last = st;
  }

  function formatDuration(s) {
    s = Math.floor(s);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    return (h ? h + 'h ' : '') + (h || m ? m + 'm ' : '') + (s % 60) + 's';
  }

  async function pollInfo() {
    try {
      const info = await getJSON('/v1/info');
      $('network').textContent = info.network.network_id;
      $('node-key').textContent = short(info.node.public_key);
      $('node-key').title = info.node.public_key;
      $('role').textContent = info.node.validator ? 'validator (' + info.network.validators.length + ' in genesis)' : 'node';
      $('version').textContent = info.version;
    } catch (err) { /* pollStats shows the node as unreachable */ }
  }

  async function pollPeers() {
    try {
      const body = await getJSON('/v1/peers');
      const tbody = $('peers').tBodies[0];
      if (body.peers.length === 0) {
        const tr = el('tr');
        const td = el('td', 'no peers (a standalone node, or peering is off)', 'hint');
        td.colSpan = 6;
        tr.append(td);
        tbody.replaceChildren(tr);
        return;
      }
      tbody.replaceChildren(...body.peers.map((p) => {
        const tr = el('tr');
        tr.append(el('td', short(p.key)), el('td', p.addr), el('td', p.state, 'state-' + p.state), el('td', String(p.score)),
          el('td', String(p.traffic.tx_in)), el('td', String(p.traffic.tx_out)));
        return tr;
      }));
    } catch (err) { /* shown by pollStats */ }
  }

  // ---- devices: the issuers seen on the stream, looked up in the registry ----
  const issuers = new Map(); // issuer key or device id -> last seen (ms)
  const devices = new Map(); // device id -> device
  const unregistered = new Map(); // key -> when it was found unregistered

  // An authority's action changes a device that is not the action's
  // issuer, so any of them makes the known devices stale.
  const CONTROL = new Set(['register', 'suspend', 'resume', 'revoke', 'transfer', 'rotate', 'quarantine', 'install']);
  let devicesStale = false;

  function noteIssuer(ev) {
    const now = performance.now();
    if (CONTROL.has(ev.tx_kind)) devicesStale = true;
    if (ev.tx_kind === 'register') issuers.set(ev.id, now);
    issuers.delete(ev.issuer); // re-insert: the Map keeps insertion order, newest last
    issuers.set(ev.issuer, now);
    while (issuers.size > CFG.maxIssuers) issuers.delete(issuers.keys().next().value);
  }

  async function pollDevices() {
    let auth;
    try {
      auth = await getJSON('/v1/authorities');
    } catch (err) {
      return; // shown by pollStats
    }
    if (auth.authorities.length === 0) {
      $('devices-note').textContent = 'open network: no device registry (the genesis names no authorities)';
      return;
    }
    // A permissioned network writes only for registered devices, so every
    // issuer seen is one; in an open one most are not, and each miss is a
    // not_found the node counts, so misses are not asked again for long.
    const forget = auth.permissioned ? 60000 : 600000;
    const now = performance.now();
    const keys = [...issuers.keys()].reverse().filter((k) => !(now - (unregistered.get(k) ?? -Infinity) < forget)).slice(0, CFG.maxDeviceFetches);
    if (devicesStale) {
      devicesStale = false;
      for (const id of devices.keys()) if (!keys.includes(id)) keys.push(id);
    }
    await Promise.all(keys.map(async (k) => {
      try {
        const d = await getJSON('/v1/devices/' + k);
        devices.delete(d.id); // newest last
        devices.set(d.id, d);
        while (devices.size > CFG.maxDevices) devices.delete(devices.keys().next().value);
      } catch (err) {
        if (err.status === 404) unregistered.set(k, now);
      }
    }));
    const owned = auth.authorities.map((a) => (a.name || short(a.public_key)) + ' ' + a.devices).join(', ');
    $('devices-note').textContent = devices.size + ' seen on the stream; devices by authority: ' + owned +
      (auth.permissioned ? ' (permissioned)' : '');
    const tbody = $('devices').tBodies[0];
    tbody.replaceChildren(...[...devices.values()].reverse().map((d) => {
      const tr = el('tr');
      tr.dataset.device = d.id;
      tr.dataset.state = d.state;
      tr.append(el('td', short(d.id)), el('td', d.class), el('td', d.state, 'state-' + d.state), el('td', short(d.owner)),
        el('td', String(d.transactions)), el('td', d.firmware === undefined ? '—' : String(d.firmware)));
      return tr;
    }));
  }

  function every(ms, fn) {
    fn();
    setInterval(fn, ms);
  }

  // ---- the hook tests and tools read; not used by the page itself ----
  window.tangledDashboard = {
    // state is what the DAG view drew in its latest frame, oldest first:
    // each transaction's status and colour as painted, and where.
    state() {
      const shown = [];
      for (let i = head; i < order.length; i++) {
        const n = order[i];
        if (!n.drawn) continue; // arrived after the last frame
        shown.push({ id: n.id, status: n.drawn, kind: n.kind, colour: COLOURS[n.drawn], x: n.x, y: n.y });
      }
      return {
        stream: streamState, received: { ...received }, frames: frames.count, selected, paused, nodes: shown,
        chartPoints: charts.ingest.series[0].values.length,
      };
    },
    // frameStats summarises the latest frames: this page's work per frame
    // and the time between frames, in ms.
    frameStats() {
      const n = Math.min(frames.n, CFG.frameSamples);
      const work = frames.work.slice(0, n), interval = frames.interval.slice(0, n).filter((v) => v > 0);
      return {
        frames: frames.count, events: frames.events, shown: order.length - head,
        workP50: quantile(work, 0.5), workP95: quantile(work, 0.95), workMax: quantile(work, 1),
        intervalP50: quantile(interval, 0.5), intervalP95: quantile(interval, 0.95),
      };
    },
    setPaused,
    resetFrameStats() {
      frames.n = 0; frames.last = 0; frames.events = 0;
    },
    select,
  };

  connect();
  every(CFG.infoEveryMs, pollInfo);
  every(CFG.statsEveryMs, pollStats);
  every(CFG.peersEveryMs, pollPeers);
  every(CFG.devicesEveryMs, pollDevices);
  requestAnimationFrame(frame);
})();
