import { readFileSync } from 'node:fs';
import { SETTINGS, settingFlags, type SettingKey } from '../settings/settings.js';
import { closest } from '../util/strings.js';

/** A flag of a command that is not a service setting (`--event`, `--markdown`, `--format`). */
export interface CommandOption {
  readonly type: 'string' | 'boolean';
  /** What the value is, for the usage line: `FILE`, `json|text`. */
  readonly value?: string;
  readonly description: string;
}

/**
 * What a command takes. Its `--help` is made from this and from the settings table (the same one the README's
 * settings table comes from), so the two cannot drift apart.
 */
export interface CommandSpec {
  readonly name: string;
  readonly summary: string;
  /** After `job-executor <name>`: `--event FILE [options]`. */
  readonly usage: string;
  readonly options: Readonly<Record<string, CommandOption>>;
  readonly settings: readonly SettingKey[];
  readonly positionals?: boolean;
}

/** The exit codes every command uses. */
export const EXIT_CODES =
  '0 done (the run passed, or nothing matched); 1 the work failed; 2 usage, settings or config errors';

/** Options for node:util parseArgs. */
export function parseOptions(spec: CommandSpec): Record<string, { type: 'string' | 'boolean'; short?: string }> {
  const own = Object.fromEntries(Object.entries(spec.options).map(([flag, o]) => [flag, { type: o.type }]));
  return {
    ...own,
    ...settingFlags(spec.settings),
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean' },
  };
}

/** Every flag the command accepts, for "did you mean". */
export function knownFlags(spec: CommandSpec): string[] {
  return Object.keys(parseOptions(spec));
}

function wrap(text: string, indent: number, width = 110): string {
  const words = text.split(/\s+/);
  const lines: string[] = [];
  let line = '';
  for (const w of words) {
    if (line !== '' && line.length + w.length + 1 > width - indent) {
      lines.push(line);
      line = w;
    } else line = line === '' ? w : `${line} ${w}`;
  }
  if (line !== '') lines.push(line);
  return lines.join(`\n${' '.repeat(indent)}`);
}

export function commandHelp(spec: CommandSpec): string {
  const rows: Array<[string, string]> = [];
  for (const [flag, o] of Object.entries(spec.options))
    rows.push([`--${flag}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`, o.description]);
  for (const key of spec.settings) {
    const d = SETTINGS[key] as {
      flag: string;
      env: readonly string[];
      default?: string;
      description: string;
      boolean?: boolean;
    };
    const env = d.env.length > 0 ? ` [${d.env.join(', ')}]` : '';
    const dflt = d.default !== undefined && d.default !== '' ? ` (default: ${d.default})` : '';
    rows.push([`--${d.flag}${d.boolean ? '' : ' VALUE'}`, `${d.description}${dflt}${env}`]);
  }
  rows.push(['-h, --help', 'this help'], ['--version', 'the version of job-executor']);
  const width = Math.min(34, Math.max(...rows.map(([f]) => f.length)) + 2);
  const body = rows
    .map(([flag, text]) =>
      flag.length + 2 > width
        ? `  ${flag}\n${' '.repeat(width + 2)}${wrap(text, width + 2)}`
        : `  ${flag.padEnd(width)}${wrap(text, width + 2)}`,
    )
    .join('\n');
  return `job-executor ${spec.name}: ${spec.summary}\n\nusage: job-executor ${spec.name} ${spec.usage}\n\noptions:\n${body}\n\nexit codes: ${EXIT_CODES}\n`;
}

/** `Unknown option '--foo'` from parseArgs, with the closest flag the command has. */
export function unknownFlagHint(message: string, spec: CommandSpec): string | undefined {
  const m = /Unknown option '-{1,2}([^']+)'/.exec(message);
  if (!m?.[1]) return undefined;
  const best = closest(m[1], knownFlags(spec));
  return best
    ? `did you mean --${best}? (job-executor ${spec.name} --help lists every option)`
    : `job-executor ${spec.name} --help lists every option`;
}

/** This package's version, from its package.json (next to src/ or dist/src/). */
export function packageVersion(): string {
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'job-executor' && pkg.version) return pkg.version;
    } catch {
      /* not at this level */
    }
  }
  return 'unknown';
}
