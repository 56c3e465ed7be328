// Config limits benchmark: a config at each documented limit (src/config/limits.ts) loads within 100 ms, and
// hostile configs of the largest allowed size are refused without blocking the event loop for long.
// Each case is written to a temp directory and loaded the way the service loads it (DirectoryConfigSource:
// read, parse in line-aligned pieces with turns of the event loop between them, check), with a fresh source
// every time so nothing is cached. Reported: the first (cold) load in a fresh process, then the median and max
// of 20 loads after 3 warm-ups, and the longest the event loop was held (monitorEventLoopDelay) in those 20.
// Usage: npm run build --silent && node bench/config-limits.bench.mjs   (writes bench/results/config-limits-<date>.json)
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const DIST = path.resolve('dist/src');
const { LIMITS } = await import(path.join(DIST, 'config/limits.js'));
const TARGET_MS = 100;

const head = 'apiVersion: v2\nactions:\n';
const list = (n, item) => `[${Array.from({ length: n }, (_, i) => item(i)).join(', ')}]`;
const task = (i, extra = '') =>
  `      - name: "task {{service}} ${i}"\n        image: "alpine:3.20"\n        cmd: ["/bin/sh", "-c"]\n        args: ["echo {{shq data.note}} $(KEPTN_PROJECT) ${i}"]\n${extra}`;

/** Realistic actions and tasks with distinct texts: the most actions, each with an inline script, filling the file. */
function atSize() {
  const action = (a, script) =>
    `  - name: "action ${a}"\n    events:\n      - name: "sh.keptn.event.a${a}.triggered"\n        jsonpath: { property: "$.data.action.action", match: "go-${a}" }\n    tasks:\n` +
    task(
      a,
      `        env:\n          - { name: NOTE_${a}, value: "$.data.note", valueFrom: event }\n          - { name: MODE, value: "{{default data.mode 'safe'}}-${a}", valueFrom: string }\n        files: [charts/c${a}.tgz]\n      - name: "script ${a}"\n        image: alpine\n        cmd: [/bin/sh, -c]\n        args:\n          - |\n${script}`,
    );
  const bare = head + Array.from({ length: LIMITS.actions }, (_, a) => action(a, '')).join('');
  const room = Math.floor((LIMITS.configBytes - bare.length - 512) / LIMITS.actions);
  const line = (a, i) =>
    `            echo "step ${i} of action ${a} for {{service}} in {{project}}-{{stage}}" && test -n "$KEPTN_PROJECT"\n`;
  return (
    head +
    Array.from({ length: LIMITS.actions }, (_, a) => {
      let script = '';
      for (let i = 0; script.length + line(a, i).length <= room; i++) script += line(a, i);
      return action(a, script);
    }).join('')
  );
}

/** Every count at its limit at once where the size allows: actions, events, tasks per action and per config. */
function atCounts() {
  let text = head;
  const perAction = LIMITS.tasksPerConfig / LIMITS.actions;
  for (let a = 0; a < LIMITS.actions; a++) {
    text += `  - name: a${a}\n    events: ${list(a === 0 ? LIMITS.eventsPerAction : 1, (e) => `{ name: "sh.keptn.event.e${a}x${e}.triggered" }`)}\n    tasks:\n`;
    for (let t = 0; t < perAction; t++)
      text += `      - { name: t${t}, image: alpine, cmd: [echo], args: ["{{data.x}}-${a}-${t}"] }\n`;
  }
  return text;
}

/**
 * One action with its 100 tasks, the first with 200 cmd, 200 args, 100 env and 100 files entries, the others
 * with as many args as the file size leaves room for.
 */
function atTaskLimits() {
  let text = `${head}  - events: [{ name: sh.keptn.event.x.triggered }]\n    tasks:\n`;
  text += `      - name: big\n        image: alpine\n        cmd: ${list(LIMITS.argsPerTask, (i) => `c${i}`)}\n        args: ${list(LIMITS.argsPerTask, (i) => `"{{data.a${i}}}"`)}\n`;
  text += `        env: ${list(LIMITS.envPerTask, (i) => `{ name: E${i}, value: "$.data.e${i}", valueFrom: event }`)}\n`;
  text += `        files: ${list(LIMITS.filesPerTask, (i) => `dir/f${i}.txt`)}\n`;
  const rest = LIMITS.tasksPerAction - 1;
  const args = Math.min(LIMITS.argsPerTask, Math.floor((LIMITS.configBytes - text.length - rest * 60) / rest / 5));
  for (let t = 1; t <= rest; t++)
    text += `      - { name: t${t}, image: alpine, args: ${list(args, (i) => `a${i}`)} }\n`;
  return text;
}

/** Anchors used as a shorthand up to just under the node limit: one big task aliased into many. */
function atNodes() {
  // The task's map, 4 key/value pairs (name, image, args, env), its args, and env entries of 7 values each.
  const perTask = 1 + 8 + 1 + LIMITS.argsPerTask + 1 + 7 * LIMITS.envPerTask;
  const tasks = Math.min(LIMITS.tasksPerConfig, Math.floor((LIMITS.yamlNodes - 100) / perTask));
  const big = `{ name: t, image: alpine, args: ${list(LIMITS.argsPerTask, (i) => `"{{data.a}} ${i}"`)}, env: ${list(LIMITS.envPerTask, (i) => `{ name: E${i}, value: "$.data.e${i}", valueFrom: event }`)} }`;
  let text = head;
  for (let a = 0; a * LIMITS.tasksPerAction < tasks; a++) {
    text += `  - events: [{ name: sh.keptn.event.x.triggered }]\n    tasks:\n`;
    for (let i = a * LIMITS.tasksPerAction; i < Math.min(tasks, (a + 1) * LIMITS.tasksPerAction); i++)
      text += i === 0 ? `      - &t ${big}\n` : '      - *t\n';
  }
  return text;
}

/** The longest string, and templates nested to the limit. */
function atStrings() {
  const nested = `${'{{#if data.x}}'.repeat(LIMITS.templateDepth)}x${'{{/if}}'.repeat(LIMITS.templateDepth)}`;
  return `${head}  - events: [{ name: sh.keptn.event.x.triggered }]\n    tasks:\n      - { name: t, image: alpine, args: ["${'s'.repeat(LIMITS.stringLength)}", "${nested}"] }\n`;
}

const fill = (unit) => unit.repeat(Math.floor((LIMITS.configBytes - 64) / unit.length));
const HOSTILE = {
  'alias bomb (5 kB)': () => {
    let text = `${head}  - events: [{ name: sh.keptn.event.x.triggered }]\n    x0: &a0 { name: t, image: alpine }\n`;
    for (let i = 1; i <= 9; i++) text += `    x${i}: &a${i} ${list(10, () => `*a${i - 1}`)}\n`;
    return `${text}    tasks: *a9\n`;
  },
  'flow nesting [[[[ at the size limit': () => fill('['),
  'block nesting - - - at the size limit': () => `${fill('- ')}x`,
  'unknown keys at the size limit': () =>
    `apiVersion: v2\n${Array.from({ length: Math.floor((LIMITS.configBytes - 64) / 10) }, (_, i) => `k${String(i).padStart(5, '0')}: 1`).join('\n')}\n`,
  'a bad template in every string at the size limit': () => {
    let text = `${head}  - tasks:\n`;
    for (let t = 0; ; t++) {
      const line = `      - { name: t, image: alpine, args: ${list(LIMITS.argsPerTask, (i) => `"{{no${t}x${i} x}}"`)} }\n`;
      if (text.length + line.length > LIMITS.configBytes - 64) return text;
      text += line;
    }
  },
};

const CASES = {
  [`file at the size limit (${LIMITS.configBytes} bytes)`]: atSize,
  [`${LIMITS.actions} actions, ${LIMITS.tasksPerConfig} tasks, ${LIMITS.eventsPerAction} events`]: atCounts,
  [`${LIMITS.tasksPerAction} tasks of ${LIMITS.argsPerTask} args; ${LIMITS.envPerTask} env, ${LIMITS.filesPerTask} files`]:
    atTaskLimits,
  [`aliases up to ${LIMITS.yamlNodes} nodes`]: atNodes,
  [`a ${LIMITS.stringLength}-character string, templates ${LIMITS.templateDepth} deep`]: atStrings,
};

/** One case in a fresh process: the cold load, then warm loads. Prints JSON. */
async function measure(name, kind) {
  const { DirectoryConfigSource } = await import(path.join(DIST, 'config/sources/directory.js'));
  const text = (kind === 'ok' ? CASES : HOSTILE)[name]();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'je-bench-config-'));
  mkdirSync(path.join(dir, 'job'));
  writeFileSync(path.join(dir, 'job', 'config.yaml'), text);
  const once = async () => {
    const started = performance.now();
    let outcome;
    try {
      const loaded = await new DirectoryConfigSource(dir).load({ project: 'p', stage: 's', service: 'v' });
      outcome = `ok, ${loaded.config.actions.reduce((n, a) => n + a.tasks.length, 0)} tasks`;
    } catch (e) {
      outcome = `${e.code}: ${e.message.slice(0, 140)}`;
    }
    return { ms: performance.now() - started, outcome };
  };
  const cold = await once();
  for (let i = 0; i < 3; i++) await once();
  const warm = [];
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  for (let i = 0; i < 20; i++) warm.push((await once()).ms);
  delay.disable();
  warm.sort((a, b) => a - b);
  const blockMs = delay.max / 1e6;
  process.stdout.write(
    `${JSON.stringify({ name, kind, bytes: Buffer.byteLength(text), outcome: cold.outcome, coldMs: cold.ms, p50Ms: warm[10], maxMs: warm[19], blockMs })}\n`,
  );
}

if (process.argv[2] === '--case') {
  await measure(process.argv[3], process.argv[4]);
} else {
  const self = fileURLToPath(import.meta.url);
  const rows = [];
  for (const [kind, cases] of [
    ['ok', CASES],
    ['hostile', HOSTILE],
  ]) {
    for (const name of Object.keys(cases)) {
      const r = spawnSync(process.execPath, [self, '--case', name, kind], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`${name}: ${r.stderr}`);
      rows.push(JSON.parse(r.stdout));
    }
  }
  const ms = (n) => `${n.toFixed(1)} ms`;
  console.log(
    `| case | bytes | outcome | cold | warm p50 | warm max | longest event-loop block | within ${TARGET_MS} ms (warm max) |`,
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    const outcome = r.outcome.length > 90 ? `${r.outcome.slice(0, 90)}…` : r.outcome;
    console.log(
      `| ${r.kind === 'ok' ? '' : 'hostile: '}${r.name} | ${r.bytes} | ${outcome.replace(/\|/g, '\\|')} | ${ms(r.coldMs)} | ${ms(r.p50Ms)} | ${ms(r.maxMs)} | ${ms(r.blockMs)} | ${r.maxMs <= TARGET_MS ? 'yes' : 'no'} |`,
    );
  }
  const out = path.join(
    'bench',
    'results',
    `config-limits-${new Date().toISOString().slice(0, 16).replace(':', '')}.json`,
  );
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(
    out,
    `${JSON.stringify({ machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, load: os.loadavg() }, rows }, null, 2)}\n`,
  );
  console.log(
    `\n(${out}; load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')})`,
  );
}
