/**
 * `$(VAR)` expansion with Kubernetes' rules (k8s.io/kubernetes third_party/forked/golang/expansion), so a
 * config behaves the same in the local runner as in a Pod:
 * `$(NAME)` becomes the value when NAME is defined and stays literal when it is not; `$$` is one `$`;
 * any other `$x` stays as it is; an unclosed `$(` stays literal.
 */
export function expandVars(input: string, lookup: (name: string) => string | undefined): string {
  let out = '';
  let checkpoint = 0;
  for (let cursor = 0; cursor < input.length; cursor++) {
    if (input[cursor] !== '$' || cursor + 1 >= input.length) continue;
    out += input.slice(checkpoint, cursor);
    const next = input[cursor + 1];
    let advance = 1;
    if (next === '$') {
      out += '$';
    } else if (next === '(') {
      const close = input.indexOf(')', cursor + 2);
      if (close === -1) {
        out += '$(';
      } else {
        const name = input.slice(cursor + 2, close);
        out += lookup(name) ?? `$(${name})`;
        advance = close - cursor;
      }
    } else {
      out += `$${next}`;
    }
    cursor += advance;
    checkpoint = cursor + 1;
  }
  return out + input.slice(checkpoint);
}

/**
 * The container environment as Kubernetes computes it: each value may refer to variables defined before it
 * (and to nothing defined after it).
 */
export function expandEnvironment(vars: ReadonlyArray<readonly [string, string]>): Map<string, string> {
  const env = new Map<string, string>();
  for (const [name, value] of vars)
    env.set(
      name,
      expandVars(value, (n) => env.get(n)),
    );
  return env;
}

/**
 * Text that must come out of `$(VAR)` expansion exactly as it is (event text in cmd, args and env values):
 * every `$` that expansion would read as part of `$$` or `$(`, or that could join the text after it (a `$`
 * at the end), becomes `$$`. Any other `$` already stays as it is. `expandVars(escapeForExpansion(s)) === s`
 * for every s, also when the result is put next to other text.
 */
export function escapeForExpansion(text: string): string {
  return text.includes('$') ? text.replace(/\$(?=[$(]|$)/g, '$$$$') : text;
}
