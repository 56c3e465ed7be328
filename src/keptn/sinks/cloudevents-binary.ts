import type { OutgoingEvent } from '../responses.js';

// Printable ASCII but space, '"' and '%': what the CloudEvents HTTP binding lets through unencoded.
const PLAIN = /^[\x21\x23\x24\x26-\x7e]*$/;

/**
 * A header value as the CloudEvents HTTP protocol binding 1.0.2 §3.1.3.2 wants it: space, `"`, `%` and every
 * character outside printable ASCII (U+0021–U+007E) percent-encoded from its UTF-8 bytes. So `é` arrives as
 * `%C3%A9` (a receiver decodes it back) instead of as a Latin-1 byte, and CR/LF can never end a header.
 */
export function encodeHeaderValue(value: string): string {
  if (PLAIN.test(value)) return value;
  let out = '';
  for (const ch of value) {
    const c = ch.codePointAt(0) as number;
    if (c >= 0x21 && c <= 0x7e && c !== 0x22 && c !== 0x25) {
      out += ch;
      continue;
    }
    // A lone surrogate becomes U+FFFD, as UTF-8 cannot carry it.
    for (const b of Buffer.from(ch, 'utf8')) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * Binary mode: every attribute but `data` as a `ce-` header, `datacontenttype` as Content-Type. Keptn's
 * `contenttype` goes along as the extension `ce-contenttype`, as the cloudevents SDK sent it before.
 */
export function binaryHeaders(event: OutgoingEvent): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  for (const [key, value] of Object.entries(event)) {
    if (key === 'data' || value === undefined) continue;
    headers[`ce-${key}`] = encodeHeaderValue(String(value));
  }
  return headers;
}
