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
