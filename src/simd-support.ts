/**
 * Which WebAssembly SIMD the engine runs. SIMD128 is everywhere edge-mae runs; relaxed SIMD
 * (relaxed_madd: a fused multiply-add where the engine fuses it, else mul + add) ships in newer engines and behind `--experimental-wasm-relaxed-simd` in
 * Node 20. Edge-safe: only WebAssembly.validate.
 */

export type SimdVariant = 'simd128' | 'relaxed';

/** (func (drop (f32x4.relaxed_madd (v128.const 0) (v128.const 0) (v128.const 0)))) */
const RELAXED_PROBE = (() => {
  const zero16 = new Array<number>(16).fill(0);
  const constant = [0xfd, 0x0c, ...zero16];
  const body = [0x00, ...constant, ...constant, ...constant, 0xfd, 0x85, 0x02, 0x1a, 0x0b];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // \0asm, version 1
    0x01, 0x04, 0x01, 0x60, 0x00, 0x00,             // type section: () → ()
    0x03, 0x02, 0x01, 0x00,                         // function section: one function of type 0
    0x0a, body.length + 2, 0x01, body.length, ...body,
  ]);
})();

export function relaxedSimdSupported(): boolean {
  return WebAssembly.validate(RELAXED_PROBE);
}

/** The variant to run: the one asked for, or for 'auto' relaxed when the engine validates it. */
export function chooseSimd(requested: SimdVariant | 'auto' = 'auto'): SimdVariant {
  if (requested === 'auto') return relaxedSimdSupported() ? 'relaxed' : 'simd128';
  return requested;
}
