/** Inputs for the odd-config gradient checks (test/reference-grads, test/gradients): no ties in the noise. */
import { type MaeConfig, parseConfig, shapesOf } from '../../src/config.js';
import { mulberry32 } from '../reference/mae-reference.js';

/** A config from a few fields, with the golden cases' eps, GELU and qkv bias unless given. */
export const oddConfig = (fields: Record<string, unknown>): MaeConfig =>
  parseConfig({ layer_norm_eps: 1e-6, hidden_act: 'gelu', qkv_bias: true, norm_pix_loss: false, model_type: 'vit_mae', ...fields }, 'odd config');

/** Seeded pixels ~ N(0, 1) and noise that is a random permutation of (k + ½)/L per image (no ties). */
export function oddInputs(cfg: MaeConfig, n: number, seed: number): { pixels: Float32Array; noise: Float32Array } {
  const uniform = mulberry32(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  const pixels = Float32Array.from({ length: n * cfg.numChannels * cfg.imageSize ** 2 }, gauss);
  const { numPatches: L } = shapesOf(cfg);
  const noise = new Float32Array(n * L);
  for (let img = 0; img < n; img++) {
    const perm = Array.from({ length: L }, (_, k) => k);
    for (let k = L - 1; k > 0; k--) {
      const j = Math.floor(uniform() * (k + 1));
      [perm[k], perm[j]] = [perm[j]!, perm[k]!];
    }
    perm.forEach((v, l) => (noise[img * L + l] = (v + 0.5) / L));
  }
  return { pixels, noise };
}
