import { isPlainObject } from "./is-plain-object.ts";

/**
 * A copy of a parsed JSON tree with every string value replaced by `replace(value, keyPath)`
 * (keys are left alone; `__proto__` keys are dropped so a parsed one cannot reach a prototype).
 * The walk the `{env:…}` and `{file:…}` substitutions share; key paths read `target.url`,
 * `list[0].x`, and `""` for the root.
 */
export function mapStrings(tree: unknown, replace: (value: string, keyPath: string) => string): unknown {
  const walk = (node: unknown, key: string): unknown => {
    if (typeof node === "string") return replace(node, key);
    if (Array.isArray(node)) return node.map((item, index) => walk(item, `${key}[${index}]`));
    if (isPlainObject(node)) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(node)) {
        if (k === "__proto__") continue;
        out[k] = walk(v, key ? `${key}.${k}` : k);
      }
      return out;
    }
    return node;
  };
  return walk(tree, "");
}
