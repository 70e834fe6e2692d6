import fs from "node:fs";
import { syncBuiltinESMExports } from "node:module";

/** What FileHandle's methods live on (`fs.promises.open()`'s result): reached through one handle. */
export async function fileHandlePrototype(): Promise<
  Record<string, (...args: unknown[]) => Promise<unknown>>
> {
  const probe = await fs.promises.open(process.execPath, "r");
  await probe.close();
  return Object.getPrototypeOf(probe) as Record<string, (...args: unknown[]) => Promise<unknown>>;
}

/**
 * Replace real node:fs calls for one test, to see which the code under test makes and in what
 * order (each replacement calls the real one): `replace(fs, "unlinkSync", (real) => …)`, on
 * `fs.promises` or a FileHandle prototype likewise (a method's real one is called with its `this`). Named imports of node:fs and node:fs/promises
 * see the replacement too (syncBuiltinESMExports). `restore()` puts every real one back.
 */
export function replaceFsCalls(): {
  replace<T extends object, K extends keyof T>(target: T, name: K, make: (real: T[K]) => T[K]): void;
  restore(): void;
} {
  const undo: Array<() => void> = [];
  return {
    replace(target, name, make) {
      const real = target[name];
      target[name] = make(real);
      undo.push(() => {
        target[name] = real;
      });
      syncBuiltinESMExports();
    },
    restore() {
      for (const step of undo.splice(0).reverse()) step();
      syncBuiltinESMExports();
    },
  };
}
