// nsqadmin UI: renders Go nsqadmin's pages from the /api JSON and refreshes them live.
// Plain browser JavaScript, no dependencies, no network access beyond nsqadmin itself.
(function () {
  'use strict';

  const BASE = document.body.dataset.basePath || '';
  const LOOKUPD = (document.body.dataset.lookupd || '').split(',').filter(Boolean);
  const app = document.getElementById('app');
  const flashBox = document.getElementById('flash');
  const dot = document.getElementById('live-dot');
  const refreshSelect = document.getElementById('refresh');

  let route = null;
  let timer = null;
  let generation = 0;
  const samples = new Map();

  // ---- helpers -------------------------------------------------------------------------
  const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
  const esc = (s) => String(s === undefined || s === null ? '' : s).replace(/[&<>"']/g, (c) => ESCAPES[c]);
  const enc = encodeURIComponent;
  const num = (n) => Number(n || 0).toLocaleString('en-US');
  const link = (path, text) => `<a href="${esc(BASE + path)}" data-link>${esc(text)}</a>`;
  const topicPath = (t) => `/topics/${enc(t)}`;
  const channelPath = (t, c) => `/topics/${enc(t)}/${enc(c)}`;
  const nodePath = (n) => `/nodes/${enc(n)}`;
  const sum = (items, key) => items.reduce((acc, item) => acc + (item[key] || 0), 0);

  async function api(method, path, body) {
    const init = { method, headers: { Accept: 'application/json' } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const response = await fetch(BASE + path, init);
    let data = {};
    try { data = await response.json(); } catch (_) { data = {}; }
    if (!response.ok) throw new Error(data.message || `${response.status} ${response.statusText}`);
    return data;
  }

  // Messages per second from successive counts of the same key.
  function rate(key, count) {
    const now = performance.now();
    const previous = samples.get(key);
    if (!previous) {
      samples.set(key, { count, at: now, rate: null });
      return null;
    }
    const seconds = (now - previous.at) / 1000;
    if (seconds < 0.5) return previous.rate;
    const value = Math.max(0, (count - previous.count) / seconds);
    samples.set(key, { count, at: now, rate: value });
    return value;
  }
  const fmtRate = (r) => (r === null ? '<span class="muted">–</span>' : `${r < 10 ? r.toFixed(1) : num(Math.round(r))}/s`);

  function since(ts) {
    if (!ts) return '';
    let s = Math.max(0, Math.floor(Date.now() / 1000 - ts));
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    return (h ? `${h}h` : '') + (h || m ? `${m}m` : '') + `${s}s`;
  }

  function latency(l) {
    if (!l || !l.percentiles || !l.percentiles.length) return '';
    return l.percentiles.map((p) => `p${Math.round(p.quantile * 100)} ${(p.value / 1e6).toFixed(1)}ms`).join(' · ');
  }

  function flash(text, kind) {
    if (!text) { flashBox.hidden = true; return; }
    flashBox.textContent = text;
    flashBox.className = `flash ${kind || ''}`;
    flashBox.hidden = false;
  }

  const badge = (text, kind) => `<span class="badge ${kind}">${esc(text)}</span>`;
  const pausedBadge = (paused) => (paused ? badge('paused', 'paused') : '');
  const tile = (label, value) => `<div class="tile"><div class="label">${esc(label)}</div><div class="value">${value}</div></div>`;
  const card = (title, inner, extra) => `<section class="card"><div class="card-head"><h2>${esc(title)}</h2>${extra || ''}</div>${inner}</section>`;
  const table = (heads, rows, emptyText) => rows.length
    ? `<table><thead><tr>${heads.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`
    : `<div class="empty">${esc(emptyText)}</div>`;
  const td = (value, cls) => `<td class="num ${cls || ''}">${value}</td>`;

  function button(action, label, data, kind) {
    const attrs = Object.entries(data).filter(([, v]) => v !== undefined)
      .map(([k, v]) => ` data-${k}="${esc(v)}"`).join('');
    return `<button type="button" class="btn ${kind || ''}" data-action="${action}"${attrs}>${esc(label)}</button>`;
  }
  function pauseButton(paused, data) {
    return paused ? button('unpause', 'Unpause', data, 'primary') : button('pause', 'Pause', data, 'pause');
  }
  function channelActions(c) {
    const data = { topic: c.topic_name, channel: c.channel_name };
    return `<div class="actions">${pauseButton(c.paused, data)}${button('empty', 'Empty', data, 'danger')}${button('delete', 'Delete', data, 'danger')}</div>`;
  }
  function topicActions(t) {
    const data = { topic: t.topic_name };
    return `<div class="actions">${pauseButton(t.paused, data)}${button('empty', 'Empty Queue', data, 'danger')}${button('delete', 'Delete Topic', data, 'danger')}</div>`;
  }

  function channelRow(c, key, sub) {
    return `<tr class="${sub ? 'sub' : ''}" data-channel-row="${esc(c.topic_name)}/${esc(c.channel_name)}">
      <td class="left">${link(channelPath(c.topic_name, c.channel_name), c.channel_name)}${pausedBadge(c.paused)}</td>
      ${td(num(c.depth), c.depth > 0 ? 'hot' : '')}${td(`${num(c.memory_depth)} + ${num(c.backend_depth)}`)}
      ${td(num(c.in_flight_count))}${td(num(c.deferred_count))}${td(num(c.requeue_count))}${td(num(c.timeout_count))}
      ${td(num(c.message_count))}${td(fmtRate(rate(key, c.message_count)))}${td(num(c.client_count))}
      <td>${channelActions(c)}</td></tr>`;
  }
  const CHANNEL_HEADS = ['Channel', 'Depth', 'Memory + Disk', 'In-Flight', 'Deferred', 'Requeued', 'Timed Out', 'Messages', 'Rate', 'Connections', ''];

  // ---- pages ---------------------------------------------------------------------------
  const pages = {};

  pages.topics = async function () {
    const data = await api('GET', '/api/cluster');
    const channels = data.topics.flatMap((t) => t.channels);
    const rows = data.topics.map((t) => {
      const topicRow = `<tr data-topic-row="${esc(t.topic_name)}">
        <td class="left"><strong>${link(topicPath(t.topic_name), t.topic_name)}</strong>${pausedBadge(t.paused)}${t.nodes.length ? '' : badge('no producers', 'warn')}</td>
        ${td(num(t.depth), t.depth > 0 ? 'hot' : '')}${td(`${num(t.memory_depth)} + ${num(t.backend_depth)}`)}
        ${td(num(sum(t.channels, 'in_flight_count')))}${td(num(sum(t.channels, 'deferred_count')))}
        ${td(num(sum(t.channels, 'requeue_count')))}${td(num(sum(t.channels, 'timeout_count')))}
        ${td(num(t.message_count))}${td(fmtRate(rate(`t:${t.topic_name}`, t.message_count)))}
        ${td(num(sum(t.channels, 'client_count')))}<td>${t.nodes.length ? `<span class="muted">${t.nodes.length} node${t.nodes.length > 1 ? 's' : ''}</span>` : ''}</td></tr>`;
      const channelRows = t.channels.map((c) => channelRow(c, `c:${t.topic_name}/${c.channel_name}`, true));
      return topicRow + channelRows.join('');
    });
    const heads = ['Topic / Channel', 'Depth', 'Memory + Disk', 'In-Flight', 'Deferred', 'Requeued', 'Timed Out', 'Messages', 'Rate', 'Connections', ''];
    return {
      warning: data.message,
      html: `<div class="page-head"><div><div class="crumbs">Cluster</div><h1>Topics</h1></div></div>
        <div class="tiles">${tile('Topics', num(data.topics.length))}${tile('Channels', num(channels.length))}
        ${tile('Nodes', num(data.nodes.length))}${tile('Depth', num(sum(data.topics, 'depth') + sum(channels, 'depth')))}
        ${tile('In-Flight', num(sum(channels, 'in_flight_count')))}
        ${tile('Messages', num(sum(data.topics, 'message_count')))}</div>
        ${card('Topics', table(heads, rows, 'No topics yet. Publish a message or create one on the Lookup page.'))}`,
    };
  };

  pages.topic = async function (r) {
    const t = await api('GET', `/api/topics/${enc(r.topic)}`);
    t.topic_name = r.topic;
    const lookupMode = LOOKUPD.length > 0;
    const nodeRows = t.nodes.map((n) => `<tr><td class="left">${link(nodePath(n.node), n.node)} <span class="muted">${esc(n.hostname)}</span>${pausedBadge(n.paused)}</td>
      ${td(num(n.depth), n.depth > 0 ? 'hot' : '')}${td(`${num(n.memory_depth)} + ${num(n.backend_depth)}`)}
      ${td(num(n.message_count))}${td(fmtRate(rate(`tn:${r.topic}@${n.node}`, n.message_count)))}
      <td>${lookupMode ? button('tombstone', 'Tombstone', { topic: r.topic, node: n.node }, 'danger') : ''}</td></tr>`);
    const channelRows = t.channels.map((c) => channelRow(c, `c:${r.topic}/${c.channel_name}`, false));
    const lat = latency(t.e2e_processing_latency);
    return {
      warning: t.message,
      html: `<div class="page-head"><div><div class="crumbs">${link('/', 'Topics')} /</div>
        <h1>${esc(r.topic)}${pausedBadge(t.paused)}</h1></div>${topicActions(t)}</div>
        <div class="tiles">${tile('Depth', num(t.depth))}${tile('Memory + Disk', `${num(t.memory_depth)} + ${num(t.backend_depth)}`)}
        ${tile('Messages', num(t.message_count))}${tile('Rate', fmtRate(rate(`t:${r.topic}`, t.message_count)))}
        ${tile('Channels', num(t.channels.length))}${tile('Nodes', num(t.nodes.length))}</div>
        ${lat ? card('E2E processing latency', `<div class="card-body">${esc(lat)}</div>`) : ''}
        ${card('Topic message queues', table(['NSQd Host', 'Depth', 'Memory + Disk', 'Messages', 'Rate', ''], nodeRows, 'No nsqd produces this topic.'))}
        ${card('Channels', table(CHANNEL_HEADS, channelRows, 'No channels.'))}`,
    };
  };

  function clientAttributes(c) {
    const parts = [];
    if (c.tls) parts.push(badge(c.tls_version || 'TLS', 'ok'));
    if (c.deflate) parts.push(badge('deflate', 'info'));
    if (c.snappy) parts.push(badge('snappy', 'info'));
    if (c.sample_rate > 0) parts.push(badge(`sampled ${c.sample_rate}%`, 'warn'));
    if (c.authed) parts.push(badge(`authed ${c.auth_identity || ''}`, 'ok'));
    return parts.join('');
  }
  const CLIENT_HEADS = ['Client Host', 'Client ID', 'Remote Address', 'User-Agent', 'Attributes', 'NSQd Host', 'Ready', 'In-Flight', 'Finished', 'Requeued', 'Messages', 'Connected'];
  const clientRow = (c) => `<tr><td class="left">${esc(c.hostname)}</td><td class="left">${esc(c.client_id)}</td>
      <td class="left">${esc(c.remote_address)}</td><td class="left">${esc(c.user_agent)} <span class="muted">${esc(c.version)}</span></td>
      <td class="left">${clientAttributes(c)}</td><td class="left">${link(nodePath(c.node), c.node)}</td>
      ${td(num(c.ready_count))}${td(num(c.in_flight_count))}${td(num(c.finish_count))}${td(num(c.requeue_count))}
      ${td(num(c.message_count))}${td(since(c.connect_ts))}</tr>`;

  pages.channel = async function (r) {
    const c = await api('GET', `/api/topics/${enc(r.topic)}/${enc(r.channel)}`);
    c.topic_name = r.topic; c.channel_name = r.channel;
    const nodeRows = c.nodes.map((n) => `<tr><td class="left">${link(nodePath(n.node), n.node)} <span class="muted">${esc(n.hostname)}</span>${pausedBadge(n.paused)}</td>
      ${td(num(n.depth), n.depth > 0 ? 'hot' : '')}${td(`${num(n.memory_depth)} + ${num(n.backend_depth)}`)}
      ${td(num(n.in_flight_count))}${td(num(n.deferred_count))}${td(num(n.requeue_count))}${td(num(n.timeout_count))}
      ${td(num(n.message_count))}${td(num(n.client_count))}</tr>`);
    const lat = latency(c.e2e_processing_latency);
    return {
      warning: c.message,
      html: `<div class="page-head"><div><div class="crumbs">${link('/', 'Topics')} / ${link(topicPath(r.topic), r.topic)} /</div>
        <h1>${esc(r.channel)}${pausedBadge(c.paused)}</h1></div>${channelActions(c)}</div>
        <div class="tiles">${tile('Depth', num(c.depth))}${tile('In-Flight', num(c.in_flight_count))}${tile('Deferred', num(c.deferred_count))}
        ${tile('Requeued', num(c.requeue_count))}${tile('Timed Out', num(c.timeout_count))}${tile('Messages', num(c.message_count))}
        ${tile('Rate', fmtRate(rate(`c:${r.topic}/${r.channel}`, c.message_count)))}${tile('Connections', num(c.client_count))}</div>
        ${lat ? card('E2E processing latency', `<div class="card-body">${esc(lat)}</div>`) : ''}
        ${card('Per node', table(['NSQd Host', 'Depth', 'Memory + Disk', 'In-Flight', 'Deferred', 'Requeued', 'Timed Out', 'Messages', 'Connections'], nodeRows, 'No nsqd has this channel.'))}
        ${card('Clients', table(CLIENT_HEADS, c.clients.map(clientRow), 'No clients connected.'))}`,
    };
  };

  pages.nodes = async function () {
    const data = await api('GET', '/api/nodes');
    const rows = data.nodes.map((n) => {
      const node = `${n.broadcast_address}:${n.http_port}`;
      const topics = n.topics.map((t) => link(topicPath(t.topic), t.topic) + (t.tombstoned ? badge('tombstoned', 'warn') : '')).join(', ');
      return `<tr><td class="left">${link(nodePath(node), n.hostname || node)}</td><td class="left">${esc(n.broadcast_address)}</td>
        ${td(esc(n.http_port))}${td(esc(n.tcp_port))}<td>${esc(n.version)}${n.out_of_date ? badge('out of date', 'warn') : ''}</td>
        ${td(num(n.remote_addresses.length))}<td class="left wrap">${topics || '<span class="muted">none</span>'}</td></tr>`;
    });
    return {
      warning: data.message,
      html: `<div class="page-head"><div><div class="crumbs">Cluster</div><h1>Nodes</h1></div></div>
        ${card('NSQd nodes', table(['Hostname', 'Broadcast Address', 'HTTP Port', 'TCP Port', 'Version', 'Lookupd Conns', 'Topics'], rows, 'No nsqd nodes found.'))}`,
    };
  };

  pages.node = async function (r) {
    const data = await api('GET', `/api/nodes/${enc(r.node)}`);
    const rows = [];
    const clients = [];
    data.topics.forEach((t) => {
      rows.push(`<tr><td class="left"><strong>${link(topicPath(t.topic_name), t.topic_name)}</strong>${pausedBadge(t.paused)}</td>
        ${td(num(t.depth), t.depth > 0 ? 'hot' : '')}${td(`${num(t.memory_depth)} + ${num(t.backend_depth)}`)}
        ${td('')}${td('')}${td('')}${td('')}${td(num(t.message_count))}${td(fmtRate(rate(`tn:${t.topic_name}@${r.node}`, t.message_count)))}
        ${td(num(sum(t.channels, 'client_count')))}<td></td></tr>`);
      t.channels.forEach((c) => {
        rows.push(channelRow(c, `cn:${t.topic_name}/${c.channel_name}@${r.node}`, true));
        clients.push(...c.clients.map((client) => ({ ...client, channel: `${t.topic_name}/${c.channel_name}` })));
      });
    });
    return {
      warning: data.message,
      html: `<div class="page-head"><div><div class="crumbs">${link('/nodes', 'Nodes')} /</div><h1>${esc(data.hostname || r.node)}</h1>
        <div class="muted">${esc(r.node)} · TCP ${esc(data.tcp_port)} · v${esc(data.version)}</div></div></div>
        <div class="tiles">${tile('Topics', num(data.topics.length))}${tile('Messages', num(data.total_messages))}
        ${tile('Clients', num(data.total_clients))}${tile('Depth', num(sum(data.topics, 'depth')))}</div>
        ${card('Topics and channels', table(['Topic / Channel', 'Depth', 'Memory + Disk', 'In-Flight', 'Deferred', 'Requeued', 'Timed Out', 'Messages', 'Rate', 'Connections', ''], rows, 'This node has no topics.'))}
        ${card('Clients', table(CLIENT_HEADS, clients.map(clientRow), 'No clients connected.'))}`,
    };
  };

  pages.counter = async function () {
    const data = await api('GET', '/api/counter');
    const total = Object.values(data.stats).reduce((acc, s) => acc + s.message_count, 0);
    return {
      warning: data.message,
      html: `<div class="page-head"><div><div class="crumbs">Cluster</div><h1>Message counter</h1></div></div>
        <section class="card"><div class="counter"><div class="big" id="counter-total">${num(total)}</div>
        <div class="rate">messages processed · ${fmtRate(rate('counter', total))}</div></div></section>`,
    };
  };

  pages.lookup = async function () {
    const data = LOOKUPD.length ? await api('GET', '/api/topics?inactive=true') : { topics: {}, message: '' };
    const rows = Object.entries(data.topics).map(([t, channels]) => `<tr><td class="left">${link(topicPath(t), t)}</td>
      <td class="left">${channels.map((c) => esc(c)).join(', ') || '<span class="muted">none</span>'}</td>
      <td>${button('delete', 'Delete', { topic: t }, 'danger')}</td></tr>`);
    const lookupds = LOOKUPD.map((a) => `<li>${esc(a)}</li>`).join('') || '<li class="muted">none (reading nsqd directly)</li>';
    return {
      warning: data.message,
      html: `<div class="page-head"><div><div class="crumbs">Cluster</div><h1>Lookup</h1></div></div>
        ${card('nsqlookupd', `<div class="card-body"><ul>${lookupds}</ul></div>`)}
        ${card('Create topic / channel', `<div class="card-body"><form class="inline" data-form="create">
          <input type="text" name="topic" placeholder="topic" required>
          <input type="text" name="channel" placeholder="channel (optional)">
          <button class="btn primary" type="submit">Create</button></form></div>`)}
        ${card('Topics without producers', table(['Topic', 'Channels', ''], rows, 'Every topic lookupd knows has a producer.'))}`,
      keepForms: true,
    };
  };

  pages.notfound = async function () {
    return { html: '<div class="page-head"><h1>Page not found</h1></div>' };
  };

  // ---- routing and refresh -------------------------------------------------------------
  function parseRoute(pathname) {
    const local = pathname.startsWith(BASE) ? pathname.slice(BASE.length) : pathname;
    let parts;
    try {
      parts = local.split('/').filter(Boolean).map(decodeURIComponent);
    } catch (_) {
      return { page: 'notfound' };
    }
    const [head, a, b] = parts;
    if (!head || (head === 'topics' && parts.length === 1)) return { page: 'topics', nav: 'topics' };
    if (head === 'topics' && parts.length === 2) return { page: 'topic', nav: 'topics', topic: a };
    if (head === 'topics' && parts.length === 3) return { page: 'channel', nav: 'topics', topic: a, channel: b };
    if (head === 'nodes' && parts.length === 1) return { page: 'nodes', nav: 'nodes' };
    if (head === 'nodes' && parts.length === 2) return { page: 'node', nav: 'nodes', node: a };
    if (head === 'counter' && parts.length === 1) return { page: 'counter', nav: 'counter' };
    if (head === 'lookup' && parts.length === 1) return { page: 'lookup', nav: 'lookup' };
    return { page: 'notfound' };
  }

  async function refresh() {
    const current = route;
    const mine = ++generation;
    try {
      const page = await pages[current.page](current);
      if (mine !== generation) return;
      // A form the user may be typing in is only drawn once per visit.
      if (!(page.keepForms && app.querySelector('form[data-form]'))) {
        app.innerHTML = page.html;
      }
      app.dataset.page = current.page;
      app.dataset.loaded = String(mine);
      if (page.warning) flash(page.warning, 'warn');
      dot.className = `dot pulse ${Number(refreshSelect.value) ? '' : 'off'}`;
    } catch (err) {
      if (mine !== generation) return;
      dot.className = 'dot error';
      flash(err.message, 'error');
    }
  }

  function schedule() {
    clearTimeout(timer);
    const every = Number(refreshSelect.value);
    if (every > 0) {
      timer = setTimeout(async () => { await refresh(); schedule(); }, every);
    }
  }

  async function navigate(pathname, push) {
    if (push) history.pushState(null, '', pathname);
    route = parseRoute(pathname);
    document.querySelectorAll('nav a').forEach((a) => a.classList.toggle('active', a.dataset.nav === route.nav));
    document.title = `nsqadmin · ${route.topic || route.node || route.nav || 'not found'}${route.channel ? '/' + route.channel : ''}`;
    flash('');
    app.innerHTML = '<p class="muted">Loading…</p>';
    await refresh();
    schedule();
  }

  const ACTION_LABELS = { pause: 'Paused', unpause: 'Unpaused', empty: 'Emptied', delete: 'Deleted', tombstone: 'Tombstoned' };

  async function runAction(btn) {
    const { action, topic, channel, node } = btn.dataset;
    const target = channel ? `channel ${topic}/${channel}` : `topic ${topic}`;
    if (action === 'delete' && !window.confirm(`Delete ${target}? Its messages are dropped.`)) return;
    if (action === 'empty' && !window.confirm(`Empty ${target}? Its queued messages are dropped.`)) return;
    if (action === 'tombstone' && !window.confirm(`Tombstone ${topic} on ${node} and delete it there?`)) return;
    btn.disabled = true;
    try {
      const path = `/api/topics/${enc(topic)}${channel ? `/${enc(channel)}` : ''}`;
      let result;
      if (action === 'delete') result = await api('DELETE', path);
      else if (action === 'tombstone') result = await api('DELETE', `/api/nodes/${enc(node)}`, { topic });
      else result = await api('POST', path, { action });
      flash(result.message || `${ACTION_LABELS[action] || action} ${target}.`, result.message ? 'warn' : 'ok');
      if (action === 'delete' && (route.page === 'topic' || route.page === 'channel')) {
        await navigate(BASE + (channel && route.page === 'channel' ? topicPath(topic) : '/'), true);
      } else {
        await refresh();
      }
    } catch (err) {
      flash(`${action} ${target} failed: ${err.message}`, 'error');
    } finally {
      btn.disabled = false;
    }
  }

  document.addEventListener('click', (event) => {
    const anchor = event.target.closest('a[data-link]');
    if (anchor && anchor.origin === location.origin && event.button === 0
        && !event.metaKey && !event.ctrlKey && !event.shiftKey) {
      event.preventDefault();
      navigate(anchor.pathname, true);
      return;
    }
    const btn = event.target.closest('button[data-action]');
    if (btn) {
      event.preventDefault();
      runAction(btn);
    }
  });

  document.addEventListener('submit', async (event) => {
    const form = event.target.closest('form[data-form="create"]');
    if (!form) return;
    event.preventDefault();
    const topic = form.elements.topic.value.trim();
    const channel = form.elements.channel.value.trim();
    try {
      const result = await api('POST', '/api/topics', { topic, channel });
      flash(result.message || `Created ${channel ? `${topic}/${channel}` : topic}.`, result.message ? 'warn' : 'ok');
      form.reset();
      app.innerHTML = '';
      await refresh();
    } catch (err) {
      flash(`create failed: ${err.message}`, 'error');
    }
  });

  refreshSelect.addEventListener('change', () => {
    dot.className = `dot ${Number(refreshSelect.value) ? '' : 'off'}`;
    schedule();
  });
  window.addEventListener('popstate', () => navigate(location.pathname, false));
  navigate(location.pathname, false);
})();
