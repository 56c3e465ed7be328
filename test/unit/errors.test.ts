import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERRORS, errorsMarkdown, httpStatus, type ErrorCode } from '../../src/errors.js';

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await sources(p)));
    else if (e.name.endsWith('.ts') && p !== path.join('src', 'errors.ts')) out.push(await readFile(p, 'utf8'));
  }
  return out;
}

describe('the error catalogue', () => {
  it('is the README table', async () => {
    const readme = await readFile('README.md', 'utf8');
    expect(/<!-- errors:start -->\n([\s\S]*?)\n<!-- errors:end -->/.exec(readme)?.[1]).toBe(errorsMarkdown());
  });

  it('holds only codes the service uses', async () => {
    const code = (await sources('src')).join('\n');
    const unused = (Object.keys(ERRORS) as ErrorCode[]).filter((c) => !code.includes(`'${c}'`));
    expect(unused).toEqual([]);
  });

  it('gives every HTTP refusal its status', () => {
    expect([
      httpStatus('EVENT_INVALID'),
      httpStatus('UNAUTHORIZED'),
      httpStatus('BODY_TOO_LARGE'),
      httpStatus('UNSUPPORTED_MEDIA_TYPE'),
      httpStatus('QUEUE_FULL'),
    ]).toEqual([400, 401, 413, 415, 503]);
    expect(httpStatus('CONFIG_INVALID')).toBe(500);
  });
});
