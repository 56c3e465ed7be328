/**
 * Counters, gauges and histograms in the Prometheus text format (version 0.0.4), for the few metrics the
 * service has. Not prom-client: it weighed 1.3 MB of resident memory, and its default metrics sample the
 * event loop every 10 ms (100 wake-ups a second of a service that is idle most of the time).
 */

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

type Labels<L extends string> = Partial<Record<L, string>>;

/** One metric of a registry: its `# HELP`/`# TYPE` block and samples, read when scraped. */
export interface Collectable {
  collect(): string | Promise<string>;
}

export class Registry {
  private readonly entries: Collectable[] = [];
  readonly contentType = CONTENT_TYPE;

  register(metric: Collectable): void {
    this.entries.push(metric);
  }

  /** The exposition: every metric's block, in the order they were registered. */
  async metrics(): Promise<string> {
    const blocks: string[] = [];
    for (const m of this.entries) blocks.push(await m.collect());
    return `${blocks.join('\n\n')}\n`;
  }
}

/** A label value as the text format writes it: backslash, double quote and line feed escaped. */
function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function formatLabels(pairs: ReadonlyArray<readonly [string, string]>): string {
  return pairs.length === 0 ? '' : `{${pairs.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

export function header(name: string, help: string, type: 'counter' | 'gauge' | 'histogram'): string {
  return `# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n# TYPE ${name} ${type}`;
}

/** A sample line: `name{labels} value`. */
export function sample(name: string, value: number, labels: Record<string, string> = {}): string {
  return `${name}${formatLabels(Object.entries(labels))} ${formatValue(value)}`;
}

interface MetricOptions<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly labelNames?: readonly L[];
  readonly registers?: readonly Registry[];
}

/** Series of one metric, one per set of label values, in the order the metric's label names give. */
class Series<L extends string, V> {
  private readonly byKey = new Map<string, { readonly labels: [string, string][]; value: V }>();

  constructor(
    private readonly labelNames: readonly L[],
    private readonly initial: () => V,
  ) {}

  get(labels: Labels<L>): { readonly labels: [string, string][]; value: V } {
    const pairs: [string, string][] = [];
    for (const name of this.labelNames) {
      const value = labels[name];
      if (value !== undefined) pairs.push([name, value]);
    }
    const key = JSON.stringify(pairs);
    let entry = this.byKey.get(key);
    if (!entry) this.byKey.set(key, (entry = { labels: pairs, value: this.initial() }));
    return entry;
  }

  get size(): number {
    return this.byKey.size;
  }

  *[Symbol.iterator]() {
    yield* this.byKey.values();
  }
}

export class Counter<L extends string = never> implements Collectable {
  private readonly series: Series<L, number>;

  constructor(private readonly o: MetricOptions<L>) {
    this.series = new Series(o.labelNames ?? [], () => 0);
    for (const r of o.registers ?? []) r.register(this);
  }

  /** Adds `by` (default 1; 0 makes the series exist before its first count). */
  inc(labels: Labels<L> = {}, by = 1): void {
    if (!(by >= 0)) throw new RangeError(`${this.o.name}: a counter only goes up`);
    this.series.get(labels).value += by;
  }

  collect(): string {
    const lines = [header(this.o.name, this.o.help, 'counter')];
    // An unlabelled counter exists from the start, at 0.
    if (this.series.size === 0 && (this.o.labelNames ?? []).length === 0) this.series.get({});
    for (const s of this.series) lines.push(sample(this.o.name, s.value, Object.fromEntries(s.labels)));
    return lines.join('\n');
  }
}

/** A gauge read when scraped: `collect` gives its value. */
export class Gauge implements Collectable {
  constructor(private readonly o: Omit<MetricOptions<never>, 'labelNames'> & { readonly collect: () => number }) {
    for (const r of o.registers ?? []) r.register(this);
  }

  collect(): string {
    return `${header(this.o.name, this.o.help, 'gauge')}\n${sample(this.o.name, this.o.collect())}`;
  }
}

interface Buckets {
  readonly counts: number[];
  sum: number;
  count: number;
}

export class Histogram<L extends string = never> implements Collectable {
  private readonly series: Series<L, Buckets>;
  private readonly bounds: readonly number[];

  constructor(private readonly o: MetricOptions<L> & { readonly buckets: readonly number[] }) {
    this.bounds = [...o.buckets].sort((a, b) => a - b);
    this.series = new Series(o.labelNames ?? [], () => ({ counts: this.bounds.map(() => 0), sum: 0, count: 0 }));
    for (const r of o.registers ?? []) r.register(this);
  }

  observe(labels: Labels<L>, value: number): void {
    const b = this.series.get(labels).value;
    for (let i = 0; i < this.bounds.length; i++) if (value <= (this.bounds[i] as number)) b.counts[i]! += 1;
    b.sum += value;
    b.count += 1;
  }

  collect(): string {
    const { name } = this.o;
    const lines = [header(name, this.o.help, 'histogram')];
    for (const { labels, value } of this.series) {
      const rest = Object.fromEntries(labels);
      // `le` first, as prom-client wrote it: queries and tests keyed on the whole series name keep working.
      this.bounds.forEach((bound, i) =>
        lines.push(sample(`${name}_bucket`, value.counts[i] ?? 0, { le: String(bound), ...rest })),
      );
      lines.push(sample(`${name}_bucket`, value.count, { le: '+Inf', ...rest }));
      lines.push(sample(`${name}_sum`, value.sum, rest));
      lines.push(sample(`${name}_count`, value.count, rest));
    }
    return lines.join('\n');
  }
}
