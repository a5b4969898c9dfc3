/**
 * A backend runs the model's two programs (encoder, decoder) for one image at a time on weights it
 * packed once at load. The host does everything around them (patchify, masking, loss), the same
 * for every backend.
 */
export interface MaeBackend {
  /** 'wasm' or 'webgpu'. */
  readonly kind: string;
  /** What runs and why, e.g. "wasm: SIMD128, 1 thread". */
  readonly description: string;
  /**
   * Encoder on the patches `ids` (in token order) of one image [C,H,W].
   * Returns latent [1 + ids.length, D] (a copy).
   */
  encode(pixels: Float32Array, ids: Int32Array): Promise<Float32Array>;
  /**
   * Decoder on latent [1 + keep, D] with ids_restore [L].
   * Returns pred [L, p·p·C] (cls dropped, a copy).
   */
  decode(latent: Float32Array, idsRestore: Int32Array, keep: number): Promise<Float32Array>;
  dispose(): void;
}
