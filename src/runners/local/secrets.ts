import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { JobExecutorError } from '../../errors.js';

/**
 * Secrets for the local runner, laid out like a Kubernetes Secret mounted as a volume:
 * `<dir>/<secret-name>/<key>`, one file per key. `valueFrom: secret` adds one variable per key, named by the
 * key, as JES does with a Secret. Values go to the task's environment only, never to logs or events.
 */
export class DirectorySecretStore {
  constructor(private readonly dir: string | undefined) {}

  async read(name: string): Promise<Array<[string, string]>> {
    if (!this.dir) {
      throw new JobExecutorError(
        'ENV_ERROR',
        `could not add env with name ${name}, valueFrom secret: no secrets directory is configured (JOB_SECRETS_DIR)`,
      );
    }
    if (name === '' || name.startsWith('.') || /[/\\]/.test(name)) {
      throw new JobExecutorError(
        'ENV_ERROR',
        `could not add env with name ${name}, valueFrom secret: not a valid secret name`,
      );
    }
    const secretDir = path.join(this.dir, name);
    let keys: string[];
    try {
      keys = (await readdir(secretDir, { withFileTypes: true }))
        .filter((e) => e.isFile() && !e.name.startsWith('.'))
        .map((e) => e.name)
        .sort();
    } catch {
      throw new JobExecutorError(
        'ENV_ERROR',
        // The directory is the service's business: the message reaches answers, so it names the setting only.
        `could not add env with name ${name}, valueFrom secret: secret "${name}" not found in the secrets directory (JOB_SECRETS_DIR)`,
      );
    }
    return Promise.all(keys.map(async (k) => [k, await readFile(path.join(secretDir, k), 'utf8')] as [string, string]));
  }
}
