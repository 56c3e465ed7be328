/**
 * The web page, embedded as strings so that it ships inside `dist/` with the compiled code and the service
 * serves it alone, offline: no CDN, no framework, no build step of its own. The script renders every value
 * with `textContent`/`createElement`, never as HTML, because run logs and event data are untrusted; the
 * Content-Security-Policy sent with the page (see app.ts) forbids inline script as a second line.
 *
 * The script is kept free of backticks and dollar-brace so it can live in a template literal unchanged.
 */

export const INDEX_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>job-executor</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="ui/app.css">
<script src="ui/app.js" defer></script>
</head>
<body>
<header class="top">
  <a class="brand" href="#/">job-executor</a>
  <span id="live" class="live" data-state="connecting">connecting…</span>
</header>
<main id="main"><noscript>This page needs JavaScript. The same data is at <a href="api/runs">api/runs</a>.</noscript></main>
</body>
</html>
`;

export const APP_CSS = `
:root { --bg: #f6f7f9; --fg: #1d2330; --muted: #687083; --line: #dde1e8; --card: #fff; --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --run: #0969da; --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: var(--bg); color: var(--fg); }
a { color: var(--run); text-decoration: none; }
a:hover { text-decoration: underline; }
.top { display: flex; align-items: center; gap: 16px; padding: 10px 20px; background: #1d2330; color: #fff; }
.brand { color: #fff; font-weight: 600; font-size: 16px; }
.live { margin-left: auto; font-size: 12px; color: #c9d1d9; }
.live::before { content: ""; display: inline-block; width: 8px; height: 8px; border-radius: 50%; margin-right: 6px; background: #888; vertical-align: 0; }
.live[data-state="live"]::before { background: #3fb950; }
.live[data-state="reconnecting"]::before { background: #d29922; }
main { max-width: 1200px; margin: 0 auto; padding: 20px; }
h1, h2, h3 { margin: 0 0 12px; font-weight: 600; }
h1 { font-size: 20px; } h2 { font-size: 18px; } h3 { font-size: 15px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; margin-bottom: 16px; }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; padding: 8px 12px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: 12px; color: var(--muted); font-weight: 600; text-transform: uppercase; letter-spacing: .03em; }
tbody tr.run { cursor: pointer; }
tbody tr.run:hover { background: #f0f4fa; }
tbody tr:last-child td { border-bottom: 0; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.muted { color: var(--muted); }
.mono { font-family: var(--mono); font-size: 12.5px; word-break: break-all; }
.empty { padding: 24px; color: var(--muted); }
.status { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; border: 1px solid currentColor; white-space: nowrap; }
.status-succeeded, .status-delivered { color: var(--ok); }
.status-failed, .status-errored, .status-timeout, .status-cancelled { color: var(--bad); }
.status-running, .status-queued, .status-pending { color: var(--run); }
.status-no-config, .status-no-match, .status-warning { color: var(--warn); }
.status-running::before { content: "● "; animation: blink 1s infinite; }
@keyframes blink { 50% { opacity: .3; } }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; padding: 12px 16px; }
dl.meta dt { color: var(--muted); }
dl.meta dd { margin: 0; }
.task-head { display: flex; flex-wrap: wrap; align-items: center; gap: 10px; padding: 10px 16px; border-bottom: 1px solid var(--line); }
.task-head .name { font-weight: 600; }
.task-head .dur { margin-left: auto; }
pre.logs { margin: 0; padding: 10px 16px; max-height: 480px; overflow: auto; background: #0d1117; color: #e6edf3; font: 12.5px/1.5 var(--mono); white-space: pre-wrap; word-break: break-word; border-radius: 0 0 6px 6px; }
pre.logs:empty::before { content: "no output yet"; color: #8b949e; }
pre.logs .stderr { color: #ffa198; }
pre.logs .system { color: #d29922; }
.error { color: var(--bad); white-space: pre-wrap; }
.back { display: inline-block; margin-bottom: 12px; }
`;

export const APP_JS = String.raw`'use strict';
(function () {
  var main = document.getElementById('main');
  var live = document.getElementById('live');
  var stream = null;
  var ticker = null;

  // Every value reaches the page through text nodes: logs and event data are untrusted.
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === undefined || v === null) return;
        if (k === 'class') e.className = v;
        else if (k === 'text') e.textContent = String(v);
        else e.setAttribute(k, String(v));
      });
    }
    (children || []).forEach(function (c) {
      if (c === undefined || c === null) return;
      e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return e;
  }

  // replaceChildren would show a null as the text "null"; optional parts are left out instead.
  function put(parent, children) {
    parent.replaceChildren.apply(parent, children.filter(function (c) { return c !== undefined && c !== null; }));
  }

  function setLive(state, text) {
    live.setAttribute('data-state', state);
    live.textContent = text;
  }

  function duration(ms) {
    if (ms === undefined || ms === null || isNaN(ms)) return '';
    if (ms < 10000) return (ms / 1000).toFixed(2) + 's';
    if (ms < 60000) return (ms / 1000).toFixed(1) + 's';
    var s = Math.round(ms / 1000);
    if (s < 3600) return Math.floor(s / 60) + 'm ' + String(s % 60).padStart(2, '0') + 's';
    return Math.floor(s / 3600) + 'h ' + String(Math.floor((s % 3600) / 60)).padStart(2, '0') + 'm';
  }

  // The time something took, or has taken so far while it runs.
  function elapsed(item) {
    if (item.durationMs !== undefined && item.durationMs !== null) return duration(item.durationMs);
    if (item.startedAt && !item.finishedAt) return duration(Date.now() - Date.parse(item.startedAt));
    return '';
  }

  function time(iso) {
    if (!iso) return '';
    var d = new Date(iso);
    return d.toLocaleString();
  }

  function shortType(type) {
    return String(type || '').replace(/^sh\.keptn\.event\./, '');
  }

  function badge(status, result) {
    var shown = status === 'succeeded' && result === 'warning' ? 'warning' : status;
    return el('span', { class: 'status status-' + shown, 'data-status': status, text: shown });
  }

  function closeStream() {
    if (stream) stream.close();
    stream = null;
    if (ticker) clearInterval(ticker);
    ticker = null;
  }

  function open(url, handlers) {
    closeStream();
    var es = new EventSource(url);
    stream = es;
    setLive('connecting', 'connecting…');
    es.onopen = function () { setLive('live', 'live'); };
    es.onerror = function () {
      if (es.readyState === EventSource.CLOSED) {
        setLive('closed', 'not connected');
        if (handlers.closed) handlers.closed();
      } else setLive('reconnecting', 'reconnecting…');
    };
    Object.keys(handlers).forEach(function (name) {
      if (name === 'closed') return;
      es.addEventListener(name, function (m) { handlers[name](JSON.parse(m.data)); });
    });
    return es;
  }

  // ---- the list of runs, newest first ----
  function showList() {
    var runs = new Map();
    var limit = 200;
    var body = el('tbody');
    var table = el('table', { id: 'runs' }, [
      el('thead', null, [el('tr', null, [
        el('th', { text: 'Status' }), el('th', { text: 'Project / Stage / Service' }), el('th', { text: 'Event type' }),
        el('th', { text: 'Received' }), el('th', { class: 'num', text: 'Duration' })
      ])]),
      body
    ]);
    var empty = el('div', { class: 'empty', text: 'No runs yet. Runs appear here as events arrive at POST / (newest first).' });
    var card = el('div', { class: 'card' }, [table, empty]);
    main.replaceChildren(el('h1', { text: 'Runs' }), card);

    function render() {
      var list = Array.from(runs.values()).sort(function (a, b) { return Date.parse(b.receivedAt) - Date.parse(a.receivedAt); }).slice(0, limit);
      empty.hidden = list.length > 0;
      table.hidden = list.length === 0;
      body.replaceChildren.apply(body, list.map(function (r) {
        var href = '#/runs/' + encodeURIComponent(r.id);
        var tr = el('tr', { class: 'run', 'data-run-id': r.id, 'data-status': r.status }, [
          el('td', null, [badge(r.status, r.result), r.resumed ? el('span', { class: 'muted', text: ' resumed' }) : null]),
          el('td', { class: 'scope', text: [r.project, r.stage, r.service].join(' / ') }),
          el('td', null, [el('a', { href: href, class: 'mono', text: shortType(r.type) })]),
          el('td', { class: 'muted', text: time(r.receivedAt) }),
          el('td', { class: 'num duration', text: elapsed(r) })
        ]);
        tr.addEventListener('click', function () { location.hash = href; });
        return tr;
      }));
    }

    render();
    open('api/events', {
      runs: function (data) {
        runs = new Map();
        limit = data.limit || limit;
        data.runs.forEach(function (r) { runs.set(r.id, r); });
        render();
      },
      run: function (r) {
        runs.set(r.id, r);
        render();
      }
    });
    ticker = setInterval(function () {
      body.querySelectorAll('tr.run').forEach(function (tr) {
        var r = runs.get(tr.getAttribute('data-run-id'));
        if (r && r.startedAt && !r.finishedAt) tr.querySelector('.duration').textContent = elapsed(r);
      });
    }, 1000);
  }

  // ---- one run: event, tasks with live logs, answers ----
  function showRun(id) {
    var state = null;
    var taskViews = [];
    var head = el('div');
    var tasksBox = el('div', { id: 'tasks' });
    var answersBox = el('div');
    main.replaceChildren(el('a', { class: 'back', href: '#/', text: '← All runs' }), head, tasksBox, answersBox);
    head.appendChild(el('p', { class: 'muted', text: 'Loading run ' + id + '…' }));

    function renderHead() {
      var r = state;
      var rows = [
        ['Status', badge(r.status, r.result)],
        ['Project / Stage / Service', [r.project, r.stage, r.service].join(' / ')],
        ['Event type', el('span', { class: 'mono', text: r.type })],
        ['Event id', el('span', { class: 'mono', text: r.eventId })],
        ['shkeptncontext', el('span', { class: 'mono', text: r.shkeptncontext })],
        ['Run id', el('span', { class: 'mono', text: r.id })],
        ['Actions', (r.actions || []).map(function (a) { return a.name + (a.silent ? ' (silent)' : ''); }).join(', ')],
        ['Config', r.config],
        ['Received', time(r.receivedAt)],
        ['Started', time(r.startedAt)],
        ['Finished', time(r.finishedAt)],
        ['Duration', el('span', { class: 'run-duration', text: elapsed(r) })]
      ];
      if (r.resumed) rows.push(['Resumed', 'picked up again after a restart']);
      if (r.error) rows.push(['Error', el('span', { class: 'error', text: r.error })]);
      var dl = el('dl', { class: 'meta' });
      rows.forEach(function (row) {
        if (row[1] === undefined || row[1] === '') return;
        dl.appendChild(el('dt', { text: row[0] }));
        dl.appendChild(el('dd', null, [row[1]]));
      });
      head.replaceChildren(el('h2', { id: 'run-title', 'data-status': r.status, text: shortType(r.type) }), el('div', { class: 'card' }, [dl]));
    }

    function taskView(i) {
      var logs = el('pre', { class: 'logs', 'data-task': i });
      var view = { head: el('div', { class: 'task-head' }), logs: logs, box: el('div', { class: 'card task', 'data-task': i }) };
      view.box.appendChild(view.head);
      view.box.appendChild(logs);
      return view;
    }

    function renderTaskHead(i) {
      var t = state.tasks[i];
      var v = taskViews[i];
      v.box.setAttribute('data-status', t.status);
      put(v.head, [
        el('span', { class: 'name', text: t.name }),
        badge(t.status),
        el('span', { class: 'muted mono', text: t.image }),
        el('span', { class: 'muted', text: 'action ' + t.actionName }),
        t.exitCode !== undefined && t.exitCode !== null ? el('span', { class: 'muted', text: 'exit ' + t.exitCode }) : null,
        t.reason ? el('span', { class: 'error', text: t.reason }) : null,
        el('span', { class: 'dur num task-duration', text: elapsed(t) })
      ]);
    }

    function appendLog(i, line) {
      var v = taskViews[i];
      if (!v) return;
      var pre = v.logs;
      var atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      pre.appendChild(el('span', { class: 'line ' + line.stream, text: line.text + '\n' }));
      if (atBottom) pre.scrollTop = pre.scrollHeight;
    }

    function renderTasks(withLogs) {
      if (state.tasks.length === 0) {
        taskViews = [];
        tasksBox.replaceChildren(el('h3', { text: 'Tasks' }), el('div', { class: 'card empty', text: state.status === 'queued' ? 'Waiting for a free slot…' : 'No tasks ran.' }));
        return;
      }
      if (taskViews.length !== state.tasks.length) {
        var old = taskViews;
        taskViews = state.tasks.map(function (_t, i) { return old[i] || taskView(i); });
        tasksBox.replaceChildren.apply(tasksBox, [el('h3', { text: 'Tasks' })].concat(taskViews.map(function (v) { return v.box; })));
      }
      state.tasks.forEach(function (t, i) {
        renderTaskHead(i);
        if (withLogs) {
          taskViews[i].logs.replaceChildren();
          (t.logs || []).forEach(function (l) { appendLog(i, l); });
        }
      });
    }

    function renderAnswers() {
      var answers = state.answers || [];
      if (answers.length === 0) { answersBox.replaceChildren(); return; }
      var body = el('tbody', null, answers.map(function (a) {
        return el('tr', null, [
          el('td', { class: 'mono', text: a.type }),
          el('td', null, [badge(a.status)]),
          el('td', { class: 'num', text: a.attempts === undefined ? '' : a.attempts }),
          el('td', { class: 'muted', text: time(a.time) }),
          el('td', { class: 'error', text: a.error || '' })
        ]);
      }));
      answersBox.replaceChildren(el('h3', { text: 'Answers sent' }), el('div', { class: 'card' }, [el('table', { id: 'answers' }, [
        el('thead', null, [el('tr', null, [el('th', { text: 'Type' }), el('th', { text: 'Delivery' }), el('th', { class: 'num', text: 'Attempts' }), el('th', { text: 'Time' }), el('th', { text: 'Error' })])]),
        body
      ])]));
    }

    var ended = false;
    open('api/runs/' + encodeURIComponent(id) + '/events', {
      snapshot: function (run) {
        state = run;
        taskViews = [];
        renderHead();
        renderTasks(true);
        renderAnswers();
      },
      run: function (run) {
        state = run;
        renderHead();
        renderTasks(false);
        renderAnswers();
      },
      log: function (line) { appendLog(line.task, line); },
      end: function () {
        ended = true;
        closeStream();
        setLive('closed', 'run finished');
      },
      closed: function () {
        if (ended || state) return;
        // The stream was refused: say why (most often the run has left the history).
        fetch('api/runs/' + encodeURIComponent(id)).then(function (res) { return res.json(); }).then(function (body) {
          var message = body && body.error ? body.error.message : 'the run could not be loaded';
          head.replaceChildren(el('p', { class: 'error', id: 'run-error', text: message }));
        }).catch(function () {
          head.replaceChildren(el('p', { class: 'error', id: 'run-error', text: 'the service could not be reached' }));
        });
      }
    });
    ticker = setInterval(function () {
      if (!state) return;
      var d = head.querySelector('.run-duration');
      if (d) d.textContent = elapsed(state);
      state.tasks.forEach(function (t, i) {
        var v = taskViews[i];
        if (v && t.status === 'running') v.head.querySelector('.task-duration').textContent = elapsed(t);
      });
    }, 1000);
  }

  function route() {
    var m = /^#\/runs\/(.+)$/.exec(location.hash);
    if (m) showRun(decodeURIComponent(m[1]));
    else showList();
  }

  window.addEventListener('hashchange', route);
  route();
})();
`;
