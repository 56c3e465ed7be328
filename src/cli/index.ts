import { EXIT, fail, processIo, type Io } from './common.js';
import { lintCommand } from './lint.js';
import { renderCommand } from './render.js';
import { runCommand } from './run.js';
import { schemaCommand, settingsCommand } from './schema.js';
import { serveCommand } from './serve.js';

const COMMANDS: Record<string, (argv: string[], io: Io) => Promise<number>> = {
  serve: serveCommand,
  run: runCommand,
  lint: lintCommand,
  render: renderCommand,
  schema: schemaCommand,
  settings: settingsCommand,
};

const HELP = `job-executor: runs tasks in answer to Keptn CloudEvents

usage:
  job-executor serve  [--config FILE|DIR] [--sink SINK] [--port N] ...   the service (POST / takes events)
  job-executor run    --event FILE [--config FILE|DIR] [--sink SINK]      one event, one run; answers on stdout
  job-executor lint   FILE...                                            check job/config.yaml files
  job-executor render --event FILE [--config FILE|DIR]                   what would run, without running it
  job-executor schema [--markdown]                                       JSON Schema (or reference) of job/config.yaml
  job-executor settings                                                  every flag and environment variable
`;

export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    io.out(HELP);
    return command ? EXIT.ok : EXIT.usage;
  }
  const handler = COMMANDS[command];
  if (!handler) {
    io.err(`job-executor: unknown command "${command}"\n\n${HELP}`);
    return EXIT.usage;
  }
  try {
    return await handler(rest, io);
  } catch (e) {
    return fail(io, e);
  }
}
