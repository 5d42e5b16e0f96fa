// Assertions for the tests: node:assert under the names Deno's std uses (JSR is not reachable here).

import nodeAssert from "node:assert/strict";

export function assert(cond: unknown, msg?: string): asserts cond {
  nodeAssert.ok(cond, msg);
}

export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  nodeAssert.deepStrictEqual(actual, expected, msg);
}

export function assertMatch(actual: string, re: RegExp, msg?: string): void {
  nodeAssert.match(actual, re, msg);
}

/** Asserts `fn` throws an instance of `Cls` whose message matches `re`; returns the error. */
export function assertThrows<E extends Error>(
  fn: () => unknown,
  Cls: new (...a: never[]) => E,
  re?: RegExp,
): E {
  try {
    fn();
  } catch (e) {
    nodeAssert.ok(
      e instanceof Cls,
      `expected ${Cls.name}, got ${(e as Error)?.name}: ${(e as Error)?.message}`,
    );
    if (re) nodeAssert.match((e as Error).message, re);
    return e as E;
  }
  throw new nodeAssert.AssertionError({ message: `expected ${Cls.name} to be thrown` });
}

export async function assertRejects<E extends Error>(
  fn: () => Promise<unknown>,
  Cls: new (...a: never[]) => E,
  re?: RegExp,
): Promise<E> {
  try {
    await fn();
  } catch (e) {
    nodeAssert.ok(
      e instanceof Cls,
      `expected ${Cls.name}, got ${(e as Error)?.name}: ${(e as Error)?.message}`,
    );
    if (re) nodeAssert.match((e as Error).message, re);
    return e as E;
  }
  throw new nodeAssert.AssertionError({ message: `expected ${Cls.name} to be thrown` });
}
