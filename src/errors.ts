/**
 * Errors are values with a stable code (for logs, metrics and tests) and a message a user can act on.
 * The message names the field or attribute at fault, e.g. `actions[0].tasks[1].image: required`.
 *
 * The one catalogue of codes: what each means and, for those an HTTP caller can get, the status it is
 * answered with. The README's table of errors is `errorsMarkdown()`, and a test keeps the two in step.
 */
export const ERRORS = {
  EVENT_INVALID: {
    status: 400,
    meaning: 'The event is not a valid CloudEvent, or breaks a limit; the message names the attribute',
  },
  EVENT_NOT_KEPTN: {
    status: 400,
    meaning: 'A valid CloudEvent that is not a Keptn event (its type, or no shkeptncontext)',
  },
  UNAUTHORIZED: { status: 401, meaning: 'POST / without the bearer token the service was given (--auth-token)' },
  NOT_FOUND: { status: 404, meaning: 'No such endpoint, or a run that left the history' },
  BODY_TIMEOUT: { status: 408, meaning: 'The request body did not arrive in time' },
  BODY_TOO_LARGE: { status: 413, meaning: 'The body (declared, sent or decompressed) is over --body-limit' },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    meaning: 'The content-type or content-encoding is not one the service takes (JSON only)',
  },
  BAD_REQUEST: { status: 400, meaning: 'An HTTP request the server could not read' },
  QUEUE_FULL: { status: 503, meaning: 'The run queue is full (--queue-size, --queue-max-bytes); retry later' },
  SHUTTING_DOWN: { status: 503, meaning: 'The service is stopping and takes no new events' },
  INTERNAL: { status: 500, meaning: 'A bug: the request failed in a way the service did not foresee (it is logged)' },
  CONFIG_NOT_FOUND: {
    meaning: "No job/config.yaml for the event's scope (not answered unless ALWAYS_SEND_FINISHED_EVENT)",
  },
  CONFIG_INVALID: { meaning: 'The config breaks the schema or a limit; the message names the path, line and column' },
  TEMPLATE_ERROR: {
    meaning: 'A template of the config could not be rendered for this event; the message names the field',
  },
  ENV_ERROR: { meaning: 'An env entry could not be made (a missing event value, a missing Secret)' },
  FILE_NOT_FOUND: { meaning: 'A files entry names nothing that exists next to the config' },
  FILE_REFUSED: { meaning: 'A files entry leaves the config folder, or breaks a file limit' },
  POLICY_IMAGE: { meaning: 'An image outside the allow-list (JOB_ALLOWED_IMAGE_LIST)' },
  POLICY_NAMESPACE: { meaning: 'A namespace that JOB_ALLOWED_NAMESPACES does not list' },
  POLICY_PRIVILEGED: { meaning: 'A privileged container while ALLOW_PRIVILEGED_JOBS is off' },
  TASK_START_FAILED: { meaning: 'A task could not be started (its program, working directory, environment)' },
  LAUNCHER_ERROR: { meaning: "The local runner's process launcher could not be started or went away" },
  SETTINGS_INVALID: {
    meaning: 'A setting (flag or environment variable) has a value the service cannot use; it does not start',
  },
  USAGE: { meaning: 'A command line the CLI cannot read (exit code 2)' },
  DELIVERY_FAILED: { meaning: 'An answer could not be delivered to a sink (retried, then logged whole)' },
  KEPTN_API_ERROR: { meaning: "Keptn's API answered an error, or something that is not what its contract says" },
  KUBERNETES_API_ERROR: { meaning: 'The Kubernetes API answered an error, or could not be reached' },
  TRANSPORT_ERROR: { meaning: 'The transport events come in by (NATS, the Keptn API) failed' },
  JOURNAL_ERROR: { meaning: "The local runner's journal of open runs could not be read or written" },
} as const satisfies Record<string, { readonly status?: number; readonly meaning: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** The HTTP status a code is answered with (500 for a code that is not an HTTP caller's). */
export function httpStatus(code: ErrorCode): number {
  const entry: { readonly status?: number; readonly meaning: string } = ERRORS[code];
  return entry.status ?? 500;
}

/** The README's table. */
export function errorsMarkdown(): string {
  const rows = (Object.entries(ERRORS) as Array<[ErrorCode, { status?: number; meaning: string }]>).map(
    ([code, e]) => `| \`${code}\` | ${e.status ?? ''} | ${e.meaning} |`,
  );
  return ['| code | HTTP status | meaning |', '| --- | --- | --- |', ...rows].join('\n');
}

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
