/**
 * What an op emits for WebGPU: one WGSL compute module per kernel and how a program step (src/program.ts)
 * binds and dispatches it. Pure strings, no generator dependencies: a host can emit WGSL at run
 * time, in a browser too.
 *
 * Binding convention of every module: @group(0) @binding(0) is a uniform `Params` struct of u32
 * fields (each taken from a step argument: a buffer argument's element offset, or an integer
 * argument); bindings 1.. are storage buffers, one per listed step argument, in order. Weights are
 * whole buffers (offset 0); activations are bound whole and addressed from their offset param.
 */

/** Where a u32 uniform field comes from: the element offset of buffer argument i, or integer argument i. */
export type WgslParamSource = { readonly offsetOf: number } | { readonly int: number };

export interface WgslKernel {
  /** Pipeline key: the kernel's name (src/plan.ts kernelName) plus a variant suffix where there is one. */
  readonly name: string;
  /** The WGSL module: entry point `main`. */
  readonly code: string;
  /** u32 fields of the uniform struct at binding 0, in order. */
  readonly params: ReadonlyArray<{ readonly name: string; readonly from: WgslParamSource }>;
  /** Storage buffers at bindings 1.., in order: which step argument, and whether the kernel writes it. */
  readonly buffers: ReadonlyArray<{ readonly arg: number; readonly write: boolean }>;
  /** Workgroup counts for a dispatch, from the params' values (by name). */
  workgroups(p: Readonly<Record<string, number>>): [number, number, number];
}

/** Per-step choices that change the emitted WGSL (and the pipeline). */
export interface WgslVariant {
  /**
   * A GEMM whose residual is its own output (x = x + f(x)): the residual is read from C before C is
   * written by the same invocation, so one read-write binding serves both (WebGPU forbids binding
   * one buffer range as writable and read-only in the same dispatch).
   */
  readonly residualInPlace?: boolean;
}

/** Invocations per workgroup along x for 2-D element-wise kernels and row kernels. */
export const WG = 64;

/** An f32 literal (abstract float, converted where used): always with a '.' or an exponent. */
export function f32Lit(x: number): string {
  if (!Number.isFinite(x)) throw new Error(`WGSL literal for ${x}`);
  const s = String(x);
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

export function u32Lit(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`WGSL u32 literal for ${n}`);
  return `${n}u`;
}

export const ceilDiv = (a: number, b: number): number => Math.ceil(a / b);

/** The Params struct and binding declarations for a kernel's header. */
export function wgslHeader(params: ReadonlyArray<{ name: string }>, buffers: ReadonlyArray<{ name: string; type: string; write: boolean }>): string {
  const L: string[] = [];
  // A struct needs at least one member; a kernel without params still binds a uniform (kept simple).
  const fields = params.length > 0 ? params.map((p) => `  ${p.name}: u32,`) : ['  unused: u32,'];
  L.push('struct Params {', ...fields, '}');
  L.push('@group(0) @binding(0) var<uniform> P: Params;');
  buffers.forEach((b, i) => L.push(`@group(0) @binding(${i + 1}) var<storage, ${b.write ? 'read_write' : 'read'}> ${b.name}: array<${b.type}>;`));
  return L.join('\n');
}

/**
 * e^y for y <= 0 and GELU (exact erf form), in WGSL: the same polynomials as assembly/gelu.ts
 * (exp4, gelu4), for f32 or vec4<f32> (`t`).
 */
export function wgslExp(name: string, t: 'f32' | 'vec4<f32>'): string {
  const i = t === 'f32' ? 'i32' : 'vec4<i32>';
  const u = t === 'f32' ? 'u32' : 'vec4<u32>';
  return `
// e^y for y <= 0 (below -87: ~0); relative error ~2e-7 (assembly/gelu.ts exp4).
fn ${name}(y0: ${t}) -> ${t} {
  let y = max(y0, ${t}(-87.0));
  let k = round(y * ${t}(1.4426950408889634));
  var r = y - k * ${t}(0.693145751953125);
  r = r - k * ${t}(1.428606765330187e-6);
  var p = ${t}(${f32Lit(1 / 5040)});
  p = p * r + ${t}(${f32Lit(1 / 720)});
  p = p * r + ${t}(${f32Lit(1 / 120)});
  p = p * r + ${t}(${f32Lit(1 / 24)});
  p = p * r + ${t}(${f32Lit(1 / 6)});
  p = p * r + ${t}(0.5);
  p = p * r + ${t}(1.0);
  p = p * r + ${t}(1.0);
  // 2^k from the exponent field.
  let two_k = bitcast<${t}>(${u}((${i}(k) + ${i}(127)) << ${u}(23)));
  return p * two_k;
}`.trim();
}

export function wgslGelu4(expName: string): string {
  return `
// GELU(x) = x/2 · (1 + erf(x/√2)) (assembly/gelu.ts gelu4): a = |x|/√2; a < 1: erf(a) = a·A(a²);
// a >= 1: erfc(a) = e^(−a²)·B(1/(1 + a)); for x < 0, 1 + erf(x) = erfc(a) directly.
fn gelu4(x: vec4<f32>) -> vec4<f32> {
  let a = abs(x) * 0.7071067811865476;
  let a2 = a * a;
  var pa = vec4<f32>(7.933446220899164e-05);
  pa = pa * a2 + vec4<f32>(-0.0008034834199392154);
  pa = pa * a2 + vec4<f32>(0.005191217196651064);
  pa = pa * a2 + vec4<f32>(-0.02685539896494589);
  pa = pa * a2 + vec4<f32>(0.1128362571714294);
  pa = pa * a2 + vec4<f32>(-0.3761262987742331);
  pa = pa * a2 + vec4<f32>(1.1283791665932934);
  let erf_small = a * pa;
  let t = vec4<f32>(1.0) / (vec4<f32>(1.0) + a);
  var pb = vec4<f32>(1.0271333018987832);
  pb = pb * t + vec4<f32>(-3.4781718316717747);
  pb = pb * t + vec4<f32>(4.776621872531593);
  pb = pb * t + vec4<f32>(-2.9824257783310393);
  pb = pb * t + vec4<f32>(0.36126231022892774);
  pb = pb * t + vec4<f32>(0.1652728982967431);
  pb = pb * t + vec4<f32>(0.577578487858004);
  pb = pb * t + vec4<f32>(0.5633044518352892);
  pb = pb * t + vec4<f32>(2.5788464085144996e-05);
  let erfc_large = ${expName}(-a2) * pb;
  let one = vec4<f32>(1.0);
  let erfc = select(erfc_large, one - erf_small, a < one);
  let one_plus_erf = one + (one - erfc);
  let phi2 = select(erfc, one_plus_erf, x >= vec4<f32>(0.0));
  return x * 0.5 * phi2;
}`.trim();
}
