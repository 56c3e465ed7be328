import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { keptnEvent, runEvent, tempTree, testService } from '../helpers/service.js';

/**
 * The JES e2e scenarios (jes-anchor.md §5.2) that make sense without a cluster, on the local runner: real
 * processes, real files, the answers as Keptn would receive them.
 */

const finished = <T extends { type: string }>(events: T[]) => events.filter((e) => e.type.endsWith('.finished'));

describe('JES e2e scenarios on the local runner', () => {
  it('hello world: .started then .finished succeeded/pass with the output in the message', async () => {
    const dir = await tempTree({
      'job/config.yaml': `apiVersion: v2
actions:
  - name: "Run hello world"
    events: [{ name: "sh.keptn.event.deployment.triggered" }]
    tasks:
      - name: "Greet the world"
        image: "alpine"
        cmd: ["echo"]
        args: ["Hello World"]
`,
    });
    const { service, sink } = await testService(dir);
    const ev = keptnEvent('sh.keptn.event.deployment.triggered');
    const run = await runEvent(service, ev);
    expect(run.status).toBe('succeeded');
    expect(sink.events.map((e) => e.type)).toEqual([
      'sh.keptn.event.deployment.started',
      'sh.keptn.event.deployment.finished',
    ]);
    const fin = sink.events[1];
    expect(fin?.triggeredid).toBe(ev.id);
    expect(fin?.data).toMatchObject({
      project: 'proj',
      stage: 'dev',
      service: 'svc',
      status: 'succeeded',
      result: 'pass',
    });
    expect(fin?.data.message).toBe("Task 'Greet the world' finished successfully!\n\nLogs:\nHello World\n\n\n");
  });

  it('environment variables: the exact lines, in order', async () => {
    const secrets = await mkdtemp(path.join(os.tmpdir(), 'je-sec-'));
    await mkdir(path.join(secrets, 'e2e-kubernetes-secret'));
    await writeFile(path.join(secrets, 'e2e-kubernetes-secret', 'E2E-Secret'), 'secret-kubernetes-variable');
    await writeFile(path.join(secrets, 'e2e-kubernetes-secret', 'E2E-HOST'), 'https://keptn.sh');
    // envvar.config.yaml of JES: four tasks printing selected variables. bash, because Debian's dash drops
    // variables whose names are not shell names (E2E-Secret) from the environment of its children.
    const dir = await tempTree({
      'job/config.yaml': `apiVersion: v2
actions:
  - name: "Print env"
    events: [{ name: "sh.keptn.event.deployment.triggered" }]
    tasks:
      - name: "Labels"
        image: alpine
        cmd: ["bash", "-c", "env | grep LABELS_ | sort"]
      - name: "Event values"
        image: alpine
        env:
          - { name: E2E-jsonPathLabel, value: "$.data.labels.jsonPathLabel", valueFrom: event }
          - { name: E2E-EVENT, value: "$.data.additionalData", valueFrom: event, as: json }
          - { name: E2E-jsonPathArray, value: "$.data.additionalData.jsonPathArray[1]", valueFrom: event }
        cmd: ["bash", "-c", "env | grep E2E- | sort -r"]
      - name: "Secret"
        image: alpine
        env: [{ name: e2e-kubernetes-secret, valueFrom: secret }]
        cmd: ["bash", "-c", "env | grep -E 'E2E-Secret|LABELS_E2E_LABEL'; env | grep -E 'E2E-HOST|LABELS_E2E_LABEL'"]
      - name: "String"
        image: alpine
        env: [{ name: E2E_DATA_DIR, value: /tmp/data, valueFrom: string }]
        cmd: ["bash", "-c", "env | grep -E 'LABELS_E2E_LABEL|E2E_DATA_DIR' | sort"]
`,
    });
    const { service, sink } = await testService(dir, { 'secrets-dir': secrets });
    await runEvent(
      service,
      keptnEvent('sh.keptn.event.deployment.triggered', {
        labels: { 'e2e-label': 'EXAMPLE_LABEL', jsonPathLabel: 'JSON_PATH_LABEL_VALUE' },
        additionalData: { jsonPathArray: ['<not-displayed>', '<displayed>'] },
      }),
    );
    const fin = finished(sink.events)[0];
    expect(fin?.data).toMatchObject({ status: 'succeeded', result: 'pass' });
    const lines = String(fin?.data.message)
      .split('\n')
      .filter((l) => /^[A-Za-z0-9_-]+=/.test(l));
    expect(lines).toEqual([
      'LABELS_E2E_LABEL=EXAMPLE_LABEL',
      'LABELS_JSONPATHLABEL=JSON_PATH_LABEL_VALUE',
      'E2E-jsonPathLabel=JSON_PATH_LABEL_VALUE',
      'E2E-jsonPathArray=<displayed>',
      'E2E-EVENT={"jsonPathArray":["\\u003cnot-displayed\\u003e","\\u003cdisplayed\\u003e"]}',
      'E2E-Secret=secret-kubernetes-variable',
      'LABELS_E2E_LABEL=EXAMPLE_LABEL',
      'E2E-HOST=https://keptn.sh',
      'LABELS_E2E_LABEL=EXAMPLE_LABEL',
      'E2E_DATA_DIR=/tmp/data',
      'LABELS_E2E_LABEL=EXAMPLE_LABEL',
    ]);
  });

  it('files: 1 KiB, 128 KiB and 767 KiB arrive intact (sha1), and a folder brings only its own files', async () => {
    const files: Record<string, Buffer> = {
      'small.file': randomBytes(1024),
      'folder/file.py': randomBytes(128 * 1024),
      'folder/big.file': randomBytes(767 * 1024),
      'helm/values.yaml': randomBytes(100),
      'helm/chart.archive': randomBytes(100),
      'helm-abc': randomBytes(10),
      helmDEFG: randomBytes(10),
    };
    const dir = await tempTree({
      ...files,
      'job/config.yaml': `apiVersion: v2
actions:
  - name: files
    events: [{ name: "sh.keptn.event.deployment.triggered" }]
    tasks:
      - name: files
        image: alpine
        files: [small.file, folder/file.py, folder/big.file]
        cmd: ["sh", "-c", "find /keptn -type f -exec sha1sum {} + | sort -k2"]
  - name: folder
    events: [{ name: "sh.keptn.event.deployment.triggered" }]
    tasks:
      - name: folder
        image: alpine
        files: [helm]
        cmd: ["sh", "-c", "cd /keptn && find . -type f | sort"]
`,
    });
    const { service, sink } = await testService(dir);
    await runEvent(service, keptnEvent('sh.keptn.event.deployment.triggered'));
    const message = String(finished(sink.events)[0]?.data.message);
    const sha1 = (b: Buffer) => createHash('sha1').update(b).digest('hex');
    const lines = message.split('\n').filter((l) => /^[0-9a-f]{40} {2}/.test(l));
    expect(lines.map((l) => l.replace(/ {2}.*\/keptn\//, '  /keptn/'))).toEqual(
      ['folder/big.file', 'folder/file.py', 'small.file'].map((f) => `${sha1(files[f] as Buffer)}  /keptn/${f}`),
    );
    expect(message).toContain('./helm/chart.archive\n./helm/values.yaml\n\n');
    expect(message).not.toContain('helm-abc');
  });

  it('config layering: service, then stage, then project, then the global default', async () => {
    const cfg = (text: string) => `apiVersion: v2
actions:
  - events: [{ name: "sh.keptn.event.deployment.triggered" }]
    tasks: [{ name: greet, image: alpine, cmd: [echo], args: ["${text}"] }]
`;
    const dir = await tempTree({
      'proj/dev/service-1/job/config.yaml': cfg('Hallo Welt'),
      'proj/dev/job/config.yaml': cfg('Buon Giorno'),
      'proj/job/config.yaml': cfg('Hello World'),
      'job/config.yaml': cfg('Bonjour'),
    });
    const { service, sink } = await testService(dir);
    const cases: Array<[Record<string, string>, string]> = [
      [{ stage: 'dev', service: 'service-1' }, 'Hallo Welt'],
      [{ stage: 'dev', service: 'service-2' }, 'Buon Giorno'],
      [{ stage: 'prod', service: 'service-1' }, 'Hello World'],
      [{ project: 'other', stage: 'prod', service: 'service-1' }, 'Bonjour'],
    ];
    for (const [scope, text] of cases) {
      sink.events.length = 0;
      await runEvent(service, keptnEvent('sh.keptn.event.deployment.triggered', scope));
      expect(finished(sink.events)[0]?.data.message, JSON.stringify(scope)).toContain(`Logs:\n${text}\n`);
    }
  });

  it('task deadline: a task past maxPollDuration is stopped and answered errored/fail naming the limit', async () => {
    const dir = await tempTree({
      'job/config.yaml': `apiVersion: v2
actions:
  - events: [{ name: "sh.keptn.event.deployment.triggered" }]
    tasks:
      - { name: sleeper, image: alpine, cmd: [sh, -c, "echo going to sleep; sleep 30"], maxPollDuration: 1 }
      - { name: never, image: alpine, cmd: [echo, never] }
`,
    });
    const { service, sink } = await testService(dir);
    const started = Date.now();
    const run = await runEvent(service, keptnEvent('sh.keptn.event.deployment.triggered'));
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(run.status).toBe('failed');
    expect(finished(sink.events)[0]?.data).toMatchObject({
      status: 'errored',
      result: 'fail',
      message:
        "Task 'sleeper' failed: task exceeded maxPollDuration of 1s and was stopped\n\nLogs:\ngoing to sleep\n\n\nTask 'never' was not run: an earlier task failed\n\n",
    });
  });

  it('test.finished carries test.start and test.end around the run', async () => {
    const dir = await tempTree({
      'job/config.yaml': `apiVersion: v2
actions:
  - events: [{ name: "sh.keptn.event.test.triggered" }]
    tasks: [{ name: load, image: locustio/locust, cmd: [sleep, "1.1"] }]
`,
    });
    const { service, sink } = await testService(dir);
    const before = Math.floor(Date.now() / 1000) * 1000;
    await runEvent(service, keptnEvent('sh.keptn.event.test.triggered'));
    const fin = finished(sink.events)[0];
    expect(fin?.type).toBe('sh.keptn.event.test.finished');
    const test = fin?.data.test as { start: string; end: string };
    expect(test.start).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(Date.parse(test.start)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(test.end) - Date.parse(test.start)).toBeGreaterThanOrEqual(1000);
  });
});

describe('runs beyond JES', () => {
  it('onError warn and ignore go on; warn ends with result warning; job output is merged', async () => {
    const dir = await tempTree({
      'job/config.yaml': `apiVersion: v2
actions:
  - name: first
    events: [{ name: "sh.keptn.event.deployment.triggered" }]
    tasks:
      - { name: flaky, image: alpine, cmd: [sh, -c, "echo flaky; exit 1"], onError: warn }
      - { name: optional, image: alpine, cmd: [sh, -c, "exit 2"], onError: ignore }
      - { name: report, image: alpine, cmd: [sh, -c, "echo '{\\"deploymentURIsLocal\\":[\\"http://x\\"]}' > $KEPTN_OUTPUT"] }
  - name: second
    events: [{ name: "sh.keptn.event.*.triggered" }]
    tasks:
      - { name: also, image: alpine, cmd: [echo, also ran] }
`,
    });
    const { service, sink } = await testService(dir);
    await runEvent(service, keptnEvent('sh.keptn.event.deployment.triggered'));
    expect(sink.events).toHaveLength(2);
    const fin = finished(sink.events)[0];
    expect(fin?.data).toMatchObject({ status: 'succeeded', result: 'warning', deploymentURIsLocal: ['http://x'] });
    expect(fin?.data.message).toContain("Task 'flaky' failed (onError: warn): exited with code 1\n\nLogs:\nflaky\n");
    expect(fin?.data.message).toContain("Task 'optional' failed (onError: ignore): exited with code 2");
    expect(fin?.data.message).toContain("Task 'also' finished successfully!\n\nLogs:\nalso ran\n");
  });

  it('a silent action sends nothing, even .started', async () => {
    const dir = await tempTree({
      'job/config.yaml': `apiVersion: v2
actions:
  - silent: true
    events: [{ name: "sh.keptn.event.deployment.triggered" }]
    tasks: [{ name: quiet, image: alpine, cmd: ["true"] }]
`,
    });
    const { service, sink } = await testService(dir);
    const run = await runEvent(service, keptnEvent('sh.keptn.event.deployment.triggered'));
    expect(run.status).toBe('succeeded');
    expect(sink.events).toEqual([]);
  });

  it('a refused image starts nothing and answers errored/fail naming the rule', async () => {
    const dir = await tempTree({
      'job/config.yaml': `apiVersion: v2
actions:
  - events: [{ name: "sh.keptn.event.deployment.triggered" }]
    tasks:
      - { name: ok, image: alpine, cmd: [sh, -c, "touch ran"] }
      - { name: bad, image: evil/miner, cmd: ["true"] }
`,
    });
    const { service, sink } = await testService(dir, { 'allowed-images': 'alpine:*' });
    const run = await runEvent(service, keptnEvent('sh.keptn.event.deployment.triggered'));
    expect(run.tasks).toEqual([]);
    expect(finished(sink.events)[0]?.data).toMatchObject({
      status: 'errored',
      result: 'fail',
      message:
        'Forbidden: Image evil/miner does not match configured image allowlist (actions[0].tasks[1].image; JOB_ALLOWED_IMAGE_LIST=alpine:*)',
    });
  });

  it('a template with a missing value answers errored naming the field and path', async () => {
    const dir = await tempTree({
      'job/config.yaml': `apiVersion: v2
actions:
  - events: [{ name: "sh.keptn.event.action.triggered" }]
    tasks: [{ name: scale, image: alpine, cmd: [echo], args: ["--set replicaCount={{data.action.value}}"] }]
`,
    });
    const { service, sink } = await testService(dir);
    await runEvent(service, keptnEvent('sh.keptn.event.action.triggered', { action: { action: 'scale' } }));
    expect(finished(sink.events)[0]?.data.message).toBe(
      'actions[0].tasks[0].args[0]: template "--set replicaCount={{data.action.value}}" refers to data.action.value, which the event does not have',
    );
  });

  it('a command that does not exist answers errored with the cause', async () => {
    const dir = await tempTree({
      'job/config.yaml': `apiVersion: v2
actions:
  - events: [{ name: "sh.keptn.event.deployment.triggered" }]
    tasks: [{ name: missing, image: alpine, cmd: [definitely-not-installed] }]
`,
    });
    const { service, sink } = await testService(dir);
    await runEvent(service, keptnEvent('sh.keptn.event.deployment.triggered'));
    expect(finished(sink.events)[0]?.data).toMatchObject({
      status: 'errored',
      result: 'fail',
      message: expect.stringContaining(
        `Task 'missing' failed: could not start "definitely-not-installed": command not found`,
      ),
    });
  });

  it('a broken config is answered errored only when ALWAYS_SEND_FINISHED_EVENT is on', async () => {
    const dir = await tempTree({ 'job/config.yaml': 'apiVersion: v2\nactions:\n  - evnts: []\n' });
    const quiet = await testService(dir);
    const r1 = await quiet.service.executor.submit(keptnEvent('sh.keptn.event.deployment.triggered'));
    expect(r1).toMatchObject({ status: 'ignored', reason: 'config-invalid' });
    expect(quiet.sink.events).toEqual([]);
    const loud = await testService(dir, { 'always-send-finished': true });
    await runEvent(loud.service, keptnEvent('sh.keptn.event.deployment.triggered'));
    expect(loud.sink.events.map((e) => e.type)).toEqual([
      'sh.keptn.event.deployment.started',
      'sh.keptn.event.deployment.finished',
    ]);
    expect(loud.sink.events[1]?.data).toMatchObject({ status: 'errored', result: 'fail' });
    expect(loud.sink.events[1]?.data.message).toMatch(
      /^could not retrieve config for job-executor: .*job\/config.yaml: invalid job config: actions\[0\]\.evnts: unknown key \(did you mean "events"\?\)/,
    );
  });

  it('limits concurrency and answers a duplicate event id once', async () => {
    const dir = await tempTree({
      'job/config.yaml': `apiVersion: v2
actions:
  - events: [{ name: "sh.keptn.event.deployment.triggered" }]
    tasks: [{ name: wait, image: alpine, cmd: [sleep, "0.3"] }]
`,
    });
    const { service, sink } = await testService(dir, { concurrency: '1', 'queue-size': '1' });
    const a = keptnEvent('sh.keptn.event.deployment.triggered');
    const [r1, dup] = await Promise.all([service.executor.submit(a), service.executor.submit(a)]);
    const r2 = await service.executor.submit(keptnEvent('sh.keptn.event.deployment.triggered'));
    const r3 = await service.executor.submit(keptnEvent('sh.keptn.event.deployment.triggered'));
    expect([r1.status, dup.status, r2.status, r3.status]).toEqual(['accepted', 'duplicate', 'accepted', 'queue-full']);
    expect(service.executor.inFlight).toBe(1);
    if (r2.status === 'accepted') await r2.done;
    expect(sink.events.filter((e) => e.triggeredid === a.id).map((e) => e.type)).toEqual([
      'sh.keptn.event.deployment.started',
      'sh.keptn.event.deployment.finished',
    ]);
  });
});
