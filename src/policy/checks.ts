import { JobExecutorError } from '../errors.js';
import type { TaskSpec } from '../render/task-spec.js';
import type { ImagePolicy } from './images.js';

export interface PolicySettings {
  readonly images: ImagePolicy;
  /** Namespaces a task may name; empty means only the default job namespace. */
  readonly allowedNamespaces: readonly string[];
  readonly defaultNamespace: string;
  readonly allowPrivileged: boolean;
}

/**
 * Checks every task of a run before the first one starts, so a refused run starts nothing. Throws a
 * POLICY_* error naming the rule and the task.
 */
export function checkPolicy(tasks: readonly TaskSpec[], policy: PolicySettings): void {
  for (const t of tasks) {
    const where = `actions[${t.actionIndex}].tasks[${t.taskIndex}]`;
    if (!policy.images.allows(t.image)) {
      throw new JobExecutorError(
        'POLICY_IMAGE',
        `Forbidden: Image ${t.image} does not match configured image allowlist (${where}.image; JOB_ALLOWED_IMAGE_LIST=${policy.images.patterns.join(',') || '(empty)'})`,
      );
    }
    const ns = t.namespace ?? policy.defaultNamespace;
    if (
      ns !== policy.defaultNamespace &&
      !policy.allowedNamespaces.includes(ns) &&
      !policy.allowedNamespaces.includes('*')
    ) {
      throw new JobExecutorError(
        'POLICY_NAMESPACE',
        `Forbidden: namespace ${ns} is not in the namespace allow-list (${where}.namespace; JOB_ALLOWED_NAMESPACES=${policy.allowedNamespaces.join(',') || '(empty)'})`,
      );
    }
    if (t.securityContext?.privileged === true && !policy.allowPrivileged) {
      throw new JobExecutorError(
        'POLICY_PRIVILEGED',
        `Forbidden: privileged containers are not allowed (${where}.securityContext.privileged; set ALLOW_PRIVILEGED_JOBS=true to allow)`,
      );
    }
  }
}
