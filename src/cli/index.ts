import { isJobExecutorError } from '../errors.js';
import { EXIT, fail, processIo, type Io } from './common.js';
import { EXIT_CODES, commandHelp, packageVersion, unknownFlagHint, type CommandSpec } from './help.js';
import { LINT_COMMAND, lintCommand } from './lint.js';
import { RENDER_COMMAND, renderCommand } from './render.js';
import { RUN_COMMAND, runCommand } from './run.js';
import { SCHEMA_COMMAND, SETTINGS_COMMAND, schemaCommand, settingsCommand } from './schema.js';
import { SERVE_COMMAND, serveCommand } from './serve.js';
import { closest } from '../util/strings.js';

interface Command {
  readonly spec: CommandSpec;
  readonly handler: (argv: string[], io: Io) => Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  serve: { spec: SERVE_COMMAND, handler: serveCommand },
  run: { spec: RUN_COMMAND, handler: runCommand },
  lint: { spec: LINT_COMMAND, handler: lintCommand },
  render: { spec: RENDER_COMMAND, handler: renderCommand },
  schema: { spec: SCHEMA_COMMAND, handler: schemaCommand },
  settings: { spec: SETTINGS_COMMAND, handler: settingsCommand },
};

function overview(): string {
  const rows = Object.values(COMMANDS).map(({ spec }) => `  job-executor ${spec.name.padEnd(9)}${spec.summary}`);
  return `job-executor ${packageVersion()}: runs tasks in answer to Keptn CloudEvents

usage:
${rows.join('\n')}

\`job-executor <command> --help\` lists a command's options. Exit codes: ${EXIT_CODES}.
`;
}

export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const [command, ...rest] = argv;
  const early = topLevel(command, io);
  if (early !== undefined) return early;
  const found = COMMANDS[command as string];
  if (!found) {
    const best = closest(command as string, Object.keys(COMMANDS));
    io.err(`job-executor: unknown command "${command}"${best ? ` (did you mean "${best}"?)` : ''}\n\n${overview()}`);
    return EXIT.usage;
  }
  // Before the command reads anything else: `--help` works whatever else is on the line.
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(commandHelp(found.spec));
    return EXIT.ok;
  }
  if (rest.includes('--version')) return version(io);
  try {
    return await found.handler(rest, io);
  } catch (e) {
    const hint = isJobExecutorError(e) && e.code === 'USAGE' ? unknownFlagHint(e.message, found.spec) : undefined;
    const code = fail(io, e);
    if (hint) io.err(`${hint}\n`);
    return code;
  }
}

function version(io: Io): number {
  io.out(`job-executor ${packageVersion()}\n`);
  return EXIT.ok;
}

/** `--version`, `--help` and no command at all; undefined when a command is named. */
function topLevel(command: string | undefined, io: Io): number | undefined {
  if (command === '--version' || command === '-v' || command === 'version') return version(io);
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    io.out(overview());
    return command ? EXIT.ok : EXIT.usage;
  }
  return undefined;
}
