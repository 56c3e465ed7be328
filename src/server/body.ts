import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import zlib from 'node:zlib';
import { JobExecutorError } from '../errors.js';

/**
 * Reading an event body from a hostile client: the limit holds for the bytes on the wire and for what they
 * decompress to (a gzip bomb stops at the limit), a declared `content-length` over the limit is refused before
 * a byte is read, a client that does not finish sending within the timeout is cut off, and the body must be
 * UTF-8 (JSON is, RFC 8259).
 */
export interface BodyLimits {
  readonly limitBytes: number;
  /** The text of the limit as configured (`1mb`), for messages. */
  readonly limitText: string;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

const UNITS: Readonly<Record<string, number>> = { '': 1, b: 1, kb: 1024, mb: 1024 * 1024 };

/** `1mb` → 1048576, `4kb` → 4096, `100`/`100b` → 100 (the JOB_EXECUTOR_BODY_LIMIT syntax; 1 kb = 1024 bytes). */
export function parseByteSize(text: string): number {
  const m = /^(\d+)(b|kb|mb)?$/i.exec(text.trim());
  if (!m)
    throw new JobExecutorError('SETTINGS_INVALID', `body limit: "${text}" is not a size such as 1mb, 64kb or 1000`);
  return Number(m[1]) * (UNITS[(m[2] ?? '').toLowerCase()] ?? 1);
}

type Encoding = 'identity' | 'gzip' | 'deflate' | 'br';

const DECODERS: Readonly<
  Record<Exclude<Encoding, 'identity'>, () => zlib.Gunzip | zlib.Inflate | zlib.BrotliDecompress>
> = {
  gzip: () => zlib.createGunzip(),
  deflate: () => zlib.createInflate(),
  br: () => zlib.createBrotliDecompress(),
};

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/** A header value as it may appear in a message: short, printable ASCII. */
export function shownHeader(value: string): string {
  const cut = value.length > 100 ? `${value.slice(0, 100)}…` : value;
  return cut.replace(/[^\x20-\x7e…]/g, '?');
}

function encodingOf(headers: IncomingHttpHeaders): Encoding | JobExecutorError {
  const raw = (single(headers['content-encoding']) ?? '').trim().toLowerCase();
  if (raw === '' || raw === 'identity') return 'identity';
  if (raw === 'gzip' || raw === 'x-gzip') return 'gzip';
  if (raw === 'deflate' || raw === 'br') return raw;
  return new JobExecutorError(
    'UNSUPPORTED_MEDIA_TYPE',
    `content-encoding: "${shownHeader(raw)}" is not supported; send the body as is, or with gzip, deflate or br`,
  );
}

function tooLarge(limits: BodyLimits, encoding: Encoding): JobExecutorError {
  const decoded = encoding === 'identity' ? '' : ` once decompressed (content-encoding: ${encoding})`;
  return new JobExecutorError(
    'BODY_TOO_LARGE',
    `body: the event is larger than the body limit of ${limits.limitText}${decoded} (JOB_EXECUTOR_BODY_LIMIT)`,
  );
}

/**
 * What the headers alone say is wrong, before any of the body is read: an encoding we do not decode (415) or
 * a declared length over the limit (413).
 */
export function bodyHeaderProblem(headers: IncomingHttpHeaders, limits: BodyLimits): JobExecutorError | undefined {
  const encoding = encodingOf(headers);
  if (encoding instanceof JobExecutorError) return encoding;
  const declared = single(headers['content-length']);
  if (declared !== undefined && /^\d+$/.test(declared.trim()) && Number(declared) > limits.limitBytes) {
    return new JobExecutorError(
      'BODY_TOO_LARGE',
      `content-length: ${declared.trim()} bytes declared, larger than the body limit of ${limits.limitText} (JOB_EXECUTOR_BODY_LIMIT)`,
    );
  }
  return undefined;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function utf8(chunks: readonly Buffer[]): string {
  try {
    return UTF8.decode(Buffer.concat(chunks));
  } catch {
    throw new JobExecutorError('EVENT_INVALID', 'body: not valid UTF-8 (JSON is UTF-8)');
  }
}

/**
 * The body as text, or a JobExecutorError: BODY_TOO_LARGE, BODY_TIMEOUT, UNSUPPORTED_MEDIA_TYPE (encoding),
 * EVENT_INVALID (corrupt compression, not UTF-8, the client went away). On an error the request is left
 * unread; the caller answers and closes the connection.
 */
export function readBody(req: IncomingMessage, limits: BodyLimits): Promise<string> {
  const early = bodyHeaderProblem(req.headers, limits);
  if (early) return Promise.reject(early);
  const encoding = encodingOf(req.headers) as Encoding;
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let wire = 0;
    let size = 0;
    let settled = false;
    const decoder = encoding === 'identity' ? undefined : DECODERS[encoding]();

    const finish = (error: JobExecutorError | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      limits.signal?.removeEventListener('abort', onAbort);
      req.off('data', onWire).off('end', onWireEnd).off('error', onGone).off('close', onClose);
      decoder
        ?.removeAllListeners('data')
        .on('error', () => {})
        .destroy();
      if (error) reject(error);
      else {
        try {
          resolve(utf8(chunks));
        } catch (e) {
          reject(e as JobExecutorError);
        }
      }
    };
    const take = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limits.limitBytes) finish(tooLarge(limits, encoding));
      else chunks.push(chunk);
    };
    const onWire = (chunk: Buffer) => {
      wire += chunk.length;
      if (wire > limits.limitBytes) finish(tooLarge(limits, 'identity'));
      else if (decoder) decoder.write(chunk);
      else take(chunk);
    };
    const onWireEnd = () => (decoder ? decoder.end() : finish(undefined));
    const onGone = () =>
      finish(new JobExecutorError('EVENT_INVALID', 'body: the client went away before sending all of it'));
    const onClose = () => {
      if (!req.complete) onGone();
    };
    const onAbort = () =>
      finish(new JobExecutorError('BODY_TIMEOUT', 'body: reading was cancelled (the service is stopping)'));
    const timer = setTimeout(
      () =>
        finish(
          new JobExecutorError(
            'BODY_TIMEOUT',
            `body: not all of it arrived within ${limits.timeoutMs / 1000} s; the connection is closed`,
          ),
        ),
      limits.timeoutMs,
    );

    decoder?.on('data', take);
    decoder?.on('end', () => finish(undefined));
    decoder?.on('error', (e: Error) =>
      finish(
        new JobExecutorError(
          'EVENT_INVALID',
          `content-encoding: the body is not valid ${encoding} data (${e.message})`,
        ),
      ),
    );
    if (limits.signal?.aborted) onAbort();
    limits.signal?.addEventListener('abort', onAbort, { once: true });
    req.on('data', onWire).on('end', onWireEnd).on('error', onGone).on('close', onClose);
  });
}
