/**
 * The fixed 2-D sin-cos position embedding of MAE (`get_2d_sincos_pos_embed(dim, grid, cls_token=True)`
 * in util/pos_embed.py), used when a weights file leaves the position tables out.
 */
import { ConfigError } from './errors.js';

/**
 * Returns [(1 + grid²)·dim], row-major. Row 0 (cls) is zeros; patch l = r·grid + c uses row l + 1.
 * Within a row, the first dim/2 values encode the column c and the last dim/2 the row r, each as
 * [sin(x·ω_k) for k < dim/4, cos(x·ω_k) for k < dim/4] with ω_k = 10000^(−k/(dim/4)).
 * Computed in float64 (as numpy does) and rounded once to float32.
 */
export function sincos2dPositionEmbedding(dim: number, grid: number): Float32Array {
  if (!Number.isInteger(dim) || dim <= 0 || dim % 4 !== 0) throw new ConfigError(`sin-cos position embedding width must be a positive multiple of 4, got ${dim}`);
  if (!Number.isInteger(grid) || grid <= 0) throw new ConfigError(`sin-cos position embedding grid must be a positive integer, got ${grid}`);
  const quarter = dim / 4;
  const omega = new Float64Array(quarter);
  // numpy: omega = arange(D/4) / (D/4); omega = 1 / 10000**omega
  for (let k = 0; k < quarter; k++) omega[k] = 1 / Math.pow(10000, k / quarter);
  const out = new Float32Array((1 + grid * grid) * dim);
  for (let r = 0; r < grid; r++) {
    for (let c = 0; c < grid; c++) {
      const row = (1 + r * grid + c) * dim;
      // meshgrid(grid_w, grid_h) puts the column index first: the first half encodes the column.
      for (let k = 0; k < quarter; k++) {
        const xc = c * omega[k]!;
        const xr = r * omega[k]!;
        out[row + k] = Math.sin(xc);
        out[row + quarter + k] = Math.cos(xc);
        out[row + 2 * quarter + k] = Math.sin(xr);
        out[row + 3 * quarter + k] = Math.cos(xr);
      }
    }
  }
  return out;
}
