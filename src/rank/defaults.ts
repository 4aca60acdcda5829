/**
 * `{...defaults, ...options}` where an option explicitly `undefined` (an absent CLI flag) keeps
 * the default instead of erasing it.
 */
export function withDefaults<T extends object>(defaults: T, options: { [K in keyof T]?: T[K] | undefined } = {}): T {
  const out = { ...defaults };
  for (const [k, v] of Object.entries(options)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
