import { describe, expect, it } from 'vitest';
import { checkPolicy, type PolicySettings } from '../../src/policy/checks.js';
import { imagePolicy } from '../../src/policy/images.js';
import type { TaskSpec } from '../../src/render/task-spec.js';

const policy = (p: Partial<PolicySettings> = {}): PolicySettings => ({
  images: imagePolicy(['alpine:*']),
  allowedNamespaces: [],
  defaultNamespace: 'jobs',
  allowPrivileged: false,
  ...p,
});
const task = (p: Partial<TaskSpec> = {}): TaskSpec => ({
  actionIndex: 0,
  taskIndex: 1,
  actionName: 'a',
  name: 't',
  image: 'alpine:3.20',
  cmd: [],
  args: [],
  env: [],
  files: [],
  maxPollDuration: 300,
  onError: 'fail',
  ...p,
});

describe('policy, checked before anything runs', () => {
  it('refuses an image outside the allow-list, naming the task and the rule', () => {
    expect(() => checkPolicy([task(), task({ taskIndex: 2, image: 'evil/miner' })], policy())).toThrow(
      'Forbidden: Image evil/miner does not match configured image allowlist (actions[0].tasks[2].image; JOB_ALLOWED_IMAGE_LIST=alpine:*)',
    );
  });

  it('allows the default namespace and listed ones only', () => {
    expect(() => checkPolicy([task({ namespace: 'jobs' })], policy())).not.toThrow();
    expect(() => checkPolicy([task({ namespace: 'kube-system' })], policy())).toThrow(
      'Forbidden: namespace kube-system is not in the namespace allow-list (actions[0].tasks[1].namespace; JOB_ALLOWED_NAMESPACES=(empty))',
    );
    expect(() => checkPolicy([task({ namespace: 'team-a' })], policy({ allowedNamespaces: ['team-a'] }))).not.toThrow();
    expect(() => checkPolicy([task({ namespace: 'any' })], policy({ allowedNamespaces: ['*'] }))).not.toThrow();
  });

  it('refuses privileged containers unless allowed', () => {
    const privileged = task({ securityContext: { privileged: true } });
    expect(() => checkPolicy([privileged], policy())).toThrow(
      /^Forbidden: privileged containers are not allowed \(actions\[0\]\.tasks\[1\]\.securityContext\.privileged; set ALLOW_PRIVILEGED_JOBS=true/,
    );
    expect(() => checkPolicy([privileged], policy({ allowPrivileged: true }))).not.toThrow();
  });
});
