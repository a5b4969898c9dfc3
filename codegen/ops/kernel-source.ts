/** What an op emits for one kernel: an AssemblyScript function, as ts-morph structure pieces. */
export interface EmittedFunction {
  readonly name: string;
  readonly params: ReadonlyArray<readonly [name: string, type: string]>;
  /** Statements of the body (AssemblyScript source). */
  readonly body: string;
  /** One-line doc comment: what it computes, with its shapes. */
  readonly doc: string;
  readonly exported: boolean;
}

/** Byte offset expression for `count` f32 elements. */
export function bytes(count: number): number {
  return count * 4;
}


/**
 * Body of a row-wise kernel: clamps r1 to rows and, when rows remain, runs `call` with `n` bound to
 * the row count and with pointer `p` of a [rows, width] operand advanced to row r0 by `at(p, width)`.
 */
export function rowRangeBody(call: (at: (p: string, width: number) => string, n: string) => string): string {
  return `const end = min<i32>(r1, rows);\nif (r0 < end) ${call((p, width) => `${p} + <usize>r0 * ${width * 4}`, 'end - r0')};`;
}
