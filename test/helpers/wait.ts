/**
 * For `vi.waitFor` callbacks, which vitest calls again until they stop throwing: `value` once it is there
 * (anything but undefined or false), until then an Error saying what is missing, the error vi.waitFor reports
 * when its time is up. Waits that need no value use `expect.poll(...).toBe(...)`, which reports the last value.
 */
export function found<T>(value: T | undefined | false, what: string): T {
  if (value === undefined || value === false) throw new Error(`timed out waiting for ${what}`);
  return value;
}
