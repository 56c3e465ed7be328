import type { RunRecord, RunStore, TaskRecord } from '../executor/run-store.js';
import type { LogLine } from '../runners/runner.js';

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)}s`;
}

/**
 * What `job-executor run` shows on stderr while a run goes: each task starting and ending with its duration,
 * and its log lines as they come. Symbols and colour on a terminal, plain words otherwise.
 */
export function reportProgress(store: RunStore, write: (text: string) => void, tty: boolean): () => void {
  const seen = new Map<string, string>();
  const key = (t: TaskRecord) => `${t.actionIndex}/${t.taskIndex}`;
  const c = (code: string, text: string) => (tty ? `\u001b[${code}m${text}\u001b[0m` : text);
  const onUpdate = (run: RunRecord) => {
    for (const t of run.tasks) {
      const before = seen.get(key(t));
      if (before === t.status) continue;
      seen.set(key(t), t.status);
      if (t.status === 'running')
        write(`${tty ? c('36', '▶') : 'task started:'} ${t.name} ${c('2', `(${t.image})`)}\n`);
      else if (t.status !== 'pending') {
        const took = t.startedAt && t.finishedAt ? seconds(t.finishedAt - t.startedAt) : '';
        const ok = t.status === 'succeeded';
        const mark = tty ? (ok ? c('32', '✔') : c('31', '✘')) : 'task ended:';
        write(`${mark} ${t.name} ${t.status} in ${took}${t.reason ? `: ${t.reason}` : ''}\n`);
      }
    }
  };
  const onLog = (_run: RunRecord, task: TaskRecord, line: LogLine) => {
    write(`  ${c('2', tty ? '│' : `[${task.name}]`)} ${line.stream === 'system' ? c('33', line.text) : line.text}\n`);
  };
  store.on('update', onUpdate);
  store.on('log', onLog);
  return () => {
    store.off('update', onUpdate);
    store.off('log', onLog);
  };
}
