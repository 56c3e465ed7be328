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
:root {
  --bg: #f6f7f9; --fg: #1d2330; --muted: #687083; --line: #dde1e8; --card: #fff;
  --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --run: #0969da; --off: #6e4fa3;
  /* Latin first, then CJK faces of each platform, so Chinese, Japanese and Korean text never falls to boxes. */
  --cjk: "Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans CJK KR", "Noto Sans CJK TC", "Source Han Sans SC", "PingFang SC", "Hiragino Sans", "Hiragino Kaku Gothic ProN", "Apple SD Gothic Neo", "Microsoft YaHei", "Yu Gothic UI", "Meiryo", "Malgun Gothic", "WenQuanYi Micro Hei", "Droid Sans Fallback";
  --sans: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Liberation Sans", "DejaVu Sans", Arial, var(--cjk), sans-serif, "Apple Color Emoji", "Segoe UI Emoji", "Noto Color Emoji";
  --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", "Liberation Mono", "Noto Sans Mono CJK SC", "Noto Sans Mono CJK JP", "Noto Sans Mono CJK KR", var(--cjk), monospace;
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; font: 14px/1.45 var(--sans); background: var(--bg); color: var(--fg); }
/* Text from events, configs and tasks: its own direction, and none of its bidi controls reach past it. */
bdi, .u, [dir="auto"] { unicode-bidi: isolate; }
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
.status-errored { background: #ffebe9; }
.status-running, .status-queued, .status-answering { color: var(--run); }
.status-pending { color: var(--muted); }
.status-no-config, .status-no-match { color: var(--warn); }
.status-detached { color: var(--off); border-style: dashed; }
.status-running::before, .status-answering::before { content: "● "; animation: blink 1s infinite; }
.status-detached::before { content: "↗ "; }
@keyframes blink { 50% { opacity: .3; } }
.result { display: inline-block; padding: 0 6px; border-radius: 3px; font-size: 12px; font-weight: 600; white-space: nowrap; }
.result-pass { color: var(--ok); background: #dafbe1; }
.result-warning { color: var(--warn); background: #fff8c5; }
.result-fail { color: var(--bad); background: #ffebe9; }
.answered { white-space: nowrap; }
.answered .word { font-weight: 600; }
.answered .how { color: var(--muted); }
.explain { display: block; margin-top: 2px; font-size: 12.5px; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; padding: 12px 16px; }
dl.meta dt { color: var(--muted); }
dl.meta dd { margin: 0; }
.label { display: inline-block; margin: 0 6px 2px 0; padding: 0 6px; border: 1px solid var(--line); border-radius: 4px; font-family: var(--mono); font-size: 12px; }
.task-head { display: flex; flex-wrap: wrap; align-items: center; gap: 10px; padding: 10px 16px; border-bottom: 1px solid var(--line); }
.task-head .name { font-weight: 600; }
.task-head .dur { margin-left: auto; }
pre.logs, .no-output { margin: 0; padding: 10px 16px; background: #0d1117; color: #e6edf3; font: 12.5px/1.5 var(--mono); border-radius: 0 0 6px 6px; }
pre.logs { max-height: 480px; overflow: auto; white-space: pre-wrap; word-break: break-word; }
.no-output { color: #8b949e; font-style: italic; }
pre.logs .stderr { color: #ffa198; }
pre.logs .system { color: #d29922; }
.error { color: var(--bad); white-space: pre-wrap; }
/* A bidi control inside one of the service's own sentences is shown, not obeyed. */
.ctl { display: inline-block; margin: 0 1px; padding: 0 3px; border: 1px solid currentColor; border-radius: 3px; font: 10px/1.3 var(--mono); vertical-align: 1px; color: var(--warn); }
.back { display: inline-block; margin-bottom: 12px; }
`;

export const APP_JS = String.raw`'use strict';
(function () {
  var main = document.getElementById('main');
  var live = document.getElementById('live');
  var stream = null;
  var ticker = null;

  // The service's words, each explained where it is shown (title): the page says what the API says.
  var RUN_STATUS = {
    queued: 'taken; waits for a free slot (.started is sent)',
    running: 'its tasks are running',
    answering: 'its tasks are over; its .finished is on its way',
    succeeded: 'every task passed (or warned, or was ignored: see the result)',
    failed: 'a task failed (the answer says errored)',
    errored: 'could not be carried out: config, template, policy, files, an undeliverable .started or a restart',
    'no-config': 'no config for the event\'s project, stage and service',
    'no-match': 'no action of the config matched the event',
    detached: 'the service stopped while a Kubernetes Job ran; the instance that takes the run over answers it'
  };
  var TASK_STATUS = {
    pending: 'not started',
    running: 'running',
    succeeded: 'ended with exit code 0',
    failed: 'ended with another exit code, or could not start',
    timeout: 'ran past its deadline and was stopped',
    cancelled: 'stopped before it ended (the service stopped, or an earlier failure)',
    detached: 'left running when the service stopped; the instance that takes the run over follows it'
  };
  var DELIVERY = { pending: 'being delivered', delivered: 'delivered', failed: 'not delivered (see the error)' };
  var FINAL = ['succeeded', 'failed', 'errored', 'no-config', 'no-match', 'detached'];

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

  // Text that came from outside (an event, a config, a task): isolated in a bdi with its own direction, so a
  // right-to-left override in it, or right-to-left letters, cannot reorder the words around it.
  function u(value, cls) {
    return el('bdi', { dir: 'auto', class: cls, text: value === undefined || value === null ? '' : value });
  }

  // One of the service's sentences that quotes outside text (an error, a reason): isolated as a whole, and its
  // bidi controls (embeddings, overrides, isolates) are shown as their code points instead of obeyed, since
  // they could otherwise reverse the service's own words after them.
  var CONTROLS = /[\u202A-\u202E\u2066-\u2069]/g;
  function message(text, cls, id) {
    var s = String(text);
    var box = el('bdi', { dir: 'auto', class: cls, id: id });
    var at = 0;
    s.replace(CONTROLS, function (c, i) {
      if (i > at) box.appendChild(document.createTextNode(s.slice(at, i)));
      var code = 'U+' + c.charCodeAt(0).toString(16).toUpperCase();
      box.appendChild(el('span', { class: 'ctl', title: 'a bidi control character (' + code + '), shown instead of obeyed', text: code }));
      at = i + c.length;
      return c;
    });
    if (at < s.length) box.appendChild(document.createTextNode(s.slice(at)));
    return box;
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

  function badge(status, meanings, cls) {
    var word = String(status);
    var known = Object.prototype.hasOwnProperty.call(meanings, word);
    return el('span', { class: 'status status-' + (known ? word : 'other') + (cls ? ' ' + cls : ''), 'data-status': word, title: known ? meanings[word] : undefined, text: word });
  }

  function resultChip(result) {
    if (!result) return null;
    var word = String(result);
    return el('span', { class: 'result result-' + word, 'data-result': word, title: 'the result Keptn is told', text: word });
  }

  // Project / stage / service, each isolated: one value's direction must not run into the next.
  function scope(r) {
    return el('span', { class: 'scope' }, [u(r.project, 'project'), ' / ', u(r.stage, 'stage'), ' / ', u(r.service, 'service')]);
  }

  // The last .finished answer's own words (data.status, data.result), which Keptn shows.
  function finishedAnswer(run) {
    var answers = (run.answers || []).filter(function (a) { return /\.finished$/.test(String(a.type)) && a.event && a.event.data; });
    return answers.length ? answers[answers.length - 1] : null;
  }

  function answeredAs(data) {
    if (!data || (!data.status && !data.result)) return null;
    var parts = [el('span', { class: 'how', text: 'answered ' })];
    if (data.status) parts.push(el('span', { class: 'word answer-status', 'data-status': data.status, text: data.status }));
    if (data.status && data.result) parts.push(' · ');
    if (data.result) parts.push(resultChip(data.result));
    return el('span', { class: 'answered', title: 'what the .finished answer says: status and result' }, parts);
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
        el('th', { text: 'Status' }), el('th', { text: 'Result' }), el('th', { text: 'Project / Stage / Service' }), el('th', { text: 'Event type' }),
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
          el('td', null, [badge(r.status, RUN_STATUS), r.resumed ? el('span', { class: 'muted', text: ' resumed' }) : null]),
          el('td', null, [resultChip(r.result)]),
          el('td', null, [scope(r)]),
          el('td', null, [el('a', { href: href, class: 'mono' }, [u(shortType(r.type))])]),
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

  // Items joined by a comma, each isolated.
  function joined(items, make) {
    var out = [];
    items.forEach(function (item, i) {
      if (i > 0) out.push(', ');
      out.push(make(item));
    });
    return out.length ? el('span', null, out) : '';
  }

  function labels(event) {
    var l = event && event.data && event.data.labels;
    if (!l || typeof l !== 'object') return '';
    var keys = Object.keys(l);
    if (keys.length === 0) return '';
    return el('span', { class: 'labels' }, keys.map(function (k) { return el('span', { class: 'label' }, [u(k), '=', u(l[k])]); }));
  }

  function statusLine(r) {
    var answer = finishedAnswer(r);
    return el('span', { id: 'run-status' }, [
      badge(r.status, RUN_STATUS),
      answer ? ' ' : null,
      answer ? answeredAs(answer.event.data) : null,
      RUN_STATUS[r.status] ? el('span', { class: 'muted explain', text: RUN_STATUS[r.status] }) : null
    ]);
  }

  // What an empty log box says: a task that ended says so, one on its way says "yet".
  function noOutputText(task, run) {
    if (task.status === 'running') return 'no output yet';
    if (task.status === 'pending') return FINAL.indexOf(run.status) >= 0 ? 'did not run' : 'not started yet';
    if (task.status === 'detached') return 'no output before the service stopped';
    return 'no output';
  }

  // ---- one run: event, tasks with live logs, answers ----
  function showRun(id) {
    var state = null;
    var taskViews = [];
    var head = el('div');
    var tasksBox = el('div', { id: 'tasks' });
    var answersBox = el('div');
    main.replaceChildren(el('a', { class: 'back', href: '#/', text: '← All runs' }), head, tasksBox, answersBox);
    head.appendChild(el('p', { class: 'muted' }, ['Loading run ', u(id), '…']));

    function renderHead() {
      var r = state;
      var rows = [
        ['Status', statusLine(r)],
        ['Project / Stage / Service', scope(r)],
        ['Event type', u(r.type, 'mono')],
        ['Labels', labels(r.event)],
        ['Event id', u(r.eventId, 'mono')],
        ['shkeptncontext', u(r.shkeptncontext, 'mono')],
        ['Run id', u(r.id, 'mono')],
        ['Actions', joined(r.actions || [], function (a) { return el('span', null, [u(a.name), a.silent ? ' (silent)' : null]); })],
        ['Config', r.config ? u(r.config, 'mono') : ''],
        ['Received', time(r.receivedAt)],
        ['Started', time(r.startedAt)],
        ['Finished', time(r.finishedAt)],
        ['Duration', el('span', { class: 'run-duration', text: elapsed(r) })]
      ];
      if (r.resumed) rows.push(['Resumed', 'picked up again after a restart']);
      if (r.error) rows.push(['Error', message(r.error, 'error', 'run-error-text')]);
      var dl = el('dl', { class: 'meta' });
      rows.forEach(function (row) {
        if (row[1] === undefined || row[1] === '') return;
        dl.appendChild(el('dt', { text: row[0] }));
        dl.appendChild(el('dd', null, [row[1]]));
      });
      head.replaceChildren(el('h2', { id: 'run-title', 'data-status': r.status }, [u(shortType(r.type))]), el('div', { class: 'card' }, [dl]));
    }

    function taskView(i) {
      var view = {
        head: el('div', { class: 'task-head' }),
        logs: el('pre', { class: 'logs', 'data-task': i, hidden: '' }),
        none: el('div', { class: 'no-output' }),
        box: el('div', { class: 'card task', 'data-task': i })
      };
      view.box.appendChild(view.head);
      view.box.appendChild(view.none);
      view.box.appendChild(view.logs);
      return view;
    }

    // Either the log lines or a note that there are none, never an empty box.
    function showLogsOrNote(i) {
      var v = taskViews[i];
      var any = v.logs.childNodes.length > 0;
      v.logs.hidden = !any;
      v.none.hidden = any;
      if (!any) v.none.textContent = noOutputText(state.tasks[i], state);
    }

    function renderTaskHead(i) {
      var t = state.tasks[i];
      var v = taskViews[i];
      v.box.setAttribute('data-status', t.status);
      put(v.head, [
        u(t.name, 'name'),
        badge(t.status, TASK_STATUS),
        u(t.image, 'muted mono'),
        el('span', { class: 'muted' }, ['action ', u(t.actionName)]),
        t.exitCode !== undefined && t.exitCode !== null ? el('span', { class: 'muted', text: 'exit ' + t.exitCode }) : null,
        t.reason ? message(t.reason, 'error') : null,
        el('span', { class: 'dur num task-duration', text: elapsed(t) })
      ]);
      showLogsOrNote(i);
    }

    // One line: an isolate of its own (a control in it ends with it), then the line break outside it.
    function appendLog(i, line) {
      var v = taskViews[i];
      if (!v) return;
      var pre = v.logs;
      var atBottom = pre.hidden || pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      pre.appendChild(el('span', { class: 'line ' + line.stream, dir: 'auto', text: line.text }));
      pre.appendChild(document.createTextNode('\n'));
      showLogsOrNote(i);
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
        if (withLogs) {
          taskViews[i].logs.replaceChildren();
          (t.logs || []).forEach(function (l) { appendLog(i, l); });
        }
        renderTaskHead(i);
      });
    }

    function renderAnswers() {
      var answers = state.answers || [];
      if (answers.length === 0) { answersBox.replaceChildren(); return; }
      var body = el('tbody', null, answers.map(function (a) {
        var data = (a.event && a.event.data) || {};
        return el('tr', { 'data-type': a.type }, [
          el('td', null, [u(shortType(a.type), 'mono')]),
          el('td', { class: 'answer-status' }, [data.status ? u(data.status) : null]),
          el('td', null, [resultChip(data.result)]),
          el('td', { class: 'delivery' }, [badge(a.status, DELIVERY)]),
          el('td', { class: 'num', text: a.attempts === undefined ? '' : a.attempts }),
          el('td', { class: 'muted', text: time(a.time) }),
          el('td', null, [a.error ? message(a.error, 'error') : null])
        ]);
      }));
      answersBox.replaceChildren(el('h3', { text: 'Answers sent' }), el('div', { class: 'card' }, [el('table', { id: 'answers' }, [
        el('thead', null, [el('tr', null, ['Type', 'Status', 'Result', 'Delivery', 'Attempts', 'Time', 'Error'].map(function (h) {
          return el('th', { class: h === 'Attempts' ? 'num' : undefined, text: h });
        }))]),
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
          var text = body && body.error ? body.error.message : 'the run could not be loaded';
          head.replaceChildren(el('p', null, [message(text, 'error', 'run-error')]));
        }).catch(function () {
          head.replaceChildren(el('p', null, [message('the service could not be reached', 'error', 'run-error')]));
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
