/**
 * `fn` remembering its last argument and result: what every attempt toward one target asks for
 * again (its URL, parsed or rebuilt) is computed once. `fn` must be pure; a throw is not remembered.
 */
export function rememberLast<A, R>(fn: (arg: A) => R): (arg: A) => R {
  let last: { arg: A; result: R } | undefined;
  return (arg) => {
    if (last === undefined || last.arg !== arg) last = { arg, result: fn(arg) };
    return last.result;
  };
}
