/**
 * Errors are values with a stable code (for logs, metrics and tests) and a message a user can act on.
 * The message names the field or attribute at fault, e.g. `actions[0].tasks[1].image: required`.
 */
export type ErrorCode =
  | 'EVENT_INVALID'
  | 'EVENT_NOT_KEPTN'
  | 'CONFIG_NOT_FOUND'
  | 'CONFIG_INVALID'
  | 'TEMPLATE_ERROR'
  | 'ENV_ERROR'
  | 'FILE_NOT_FOUND'
  | 'FILE_REFUSED'
  | 'POLICY_IMAGE'
  | 'POLICY_NAMESPACE'
  | 'POLICY_PRIVILEGED'
  | 'TASK_FAILED'
  | 'TASK_TIMEOUT'
  | 'TASK_CANCELLED'
  | 'TASK_START_FAILED'
  | 'RUNNER_UNSUPPORTED'
  | 'QUEUE_FULL'
  | 'SETTINGS_INVALID'
  | 'DELIVERY_FAILED'
  | 'KEPTN_API_ERROR'
  | 'TRANSPORT_ERROR'
  | 'JOURNAL_ERROR'
  | 'USAGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'BODY_TOO_LARGE'
  | 'BODY_TIMEOUT';

export class JobExecutorError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'JobExecutorError';
    this.code = code;
  }
}

export function isJobExecutorError(e: unknown): e is JobExecutorError {
  return e instanceof JobExecutorError;
}

/** The message of anything thrown, for places that must turn a failure into text. */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
