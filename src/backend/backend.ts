/**
 * A backend runs the model's two programs (encoder, decoder) on a batch of images at a time, on
 * weights it packed once at load. The host does everything around them (patchify, masking, loss),
 * the same for every backend, and divides larger batches into calls of at most `maxBatch` images.
 */
export interface MaeBackend {
  /** 'wasm' or 'webgpu'. */
  readonly kind: string;
  /** What runs and why, e.g. "wasm: SIMD128, 1 thread". */
  readonly description: string;
  /** The most images one call takes (the memory for them was sized at load). */
  readonly maxBatch: number;
  /**
   * Encoder on n images [n, C, H, W], each on its patches `ids` [n, keep] (in token order).
   * Returns latent [n, 1 + keep, D] (a copy).
   */
  encode(pixels: Float32Array, ids: Int32Array, n: number): Promise<Float32Array>;
  /**
   * Decoder on latent [n, 1 + keep, D] with ids_restore [n, L].
   * Returns pred [n, L, p·p·C] (cls dropped, a copy).
   */
  decode(latent: Float32Array, idsRestore: Int32Array, keep: number, n: number): Promise<Float32Array>;
  dispose(): void;
}
