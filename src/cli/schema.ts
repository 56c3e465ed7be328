import { jobConfigJsonSchema, jobConfigReference } from '../config/json-schema.js';
import { settingsMarkdown } from '../settings/settings.js';
import { parse, type Io } from './common.js';
import { parseOptions, type CommandSpec } from './help.js';

export const SCHEMA_COMMAND: CommandSpec = {
  name: 'schema',
  summary: 'the JSON Schema of job/config.yaml (for editors), or its field reference',
  usage: '[--markdown]',
  options: {
    markdown: {
      type: 'boolean',
      description: 'The field reference (job-config/REFERENCE.md) instead of the JSON Schema',
    },
  },
  settings: [],
};

export const SETTINGS_COMMAND: CommandSpec = {
  name: 'settings',
  summary: "every flag of the service with its environment variables, default and meaning (the README's table)",
  usage: '',
  options: {},
  settings: [],
};

/** `job-executor schema [--markdown]`: the JSON Schema of job/config.yaml, or its field reference. */
export async function schemaCommand(argv: string[], io: Io): Promise<number> {
  const { values } = parse(argv, parseOptions(SCHEMA_COMMAND));
  io.out(values.markdown ? jobConfigReference() : `${JSON.stringify(jobConfigJsonSchema(), null, 2)}\n`);
  return 0;
}

/** `job-executor settings`: the table of flags and environment variables, as in the README. */
export async function settingsCommand(argv: string[], io: Io): Promise<number> {
  parse(argv, parseOptions(SETTINGS_COMMAND));
  io.out(`${settingsMarkdown()}\n`);
  return 0;
}
