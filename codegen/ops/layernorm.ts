/** LayerNorm over rows of a fixed width (assembly/layernorm.ts, specialised by literal arguments). */
import { type LayerNormSpec, kernelName } from '../../src/plan.js';
import type { EmittedFunction } from './kernel-source.js';

export function emitLayerNorm(s: LayerNormSpec): EmittedFunction {
  return {
    name: kernelName(s),
    params: [['x', 'usize'], ['w', 'usize'], ['b', 'usize'], ['out', 'usize'], ['rows', 'i32']],
    body: `layerNormRows(x, w, b, out, rows, ${s.width}, <f32>${s.eps});`,
    doc: `out[rows,${s.width}] = LayerNorm(x) · w + b, eps ${s.eps}, biased variance.`,
    exported: true,
  };
}
