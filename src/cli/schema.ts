import { jobConfigJsonSchema, jobConfigReference } from '../config/json-schema.js';
import { settingsMarkdown } from '../settings/settings.js';
import { parse, type Io } from './common.js';

/** `job-executor schema [--markdown]`: the JSON Schema of job/config.yaml, or its field reference. */
export async function schemaCommand(argv: string[], io: Io): Promise<number> {
  const { values } = parse(argv, { markdown: { type: 'boolean' } });
  io.out(values.markdown ? jobConfigReference() : `${JSON.stringify(jobConfigJsonSchema(), null, 2)}\n`);
  return 0;
}

/** `job-executor settings`: the table of flags and environment variables, as in the README. */
export async function settingsCommand(argv: string[], io: Io): Promise<number> {
  parse(argv, { markdown: { type: 'boolean' } });
  io.out(`${settingsMarkdown()}\n`);
  return 0;
}
