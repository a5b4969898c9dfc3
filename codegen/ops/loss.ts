/**
 * The gradient of MAE's reconstruction loss with respect to the prediction (the loss itself is
 * computed on the host, src/loss.ts): masked MSE or MSE on all patches, on the plain target or the
 * per-patch normalised one computed in the kernel (assembly/loss.ts).
 */
import { type MseLossBackwardSpec, kernelName } from '../../src/plan.js';
import { signatureOf } from '../../src/kernel-params.js';
import { type EmittedFunction } from './kernel-source.js';

export function emitMseLossBackward(s: MseLossBackwardSpec): EmittedFunction {
  return {
    name: kernelName(s),
    params: signatureOf(s),
    // The scale 2/(P·Σmask) pools all `rows` (the whole batch), so the core takes the range itself.
    body: `mseLossBackwardRows(pred, target, mask, dpred, rows, max<i32>(r0, 0), min<i32>(r1, rows), ${s.patchDim}, ${s.normPix}, ${s.allPatches});`,
    doc: `dpred[rows,${s.patchDim}] = (pred − ${s.normPix ? 'normpix(target)' : 'target'})·${s.allPatches ? '1' : 'mask[row]'}·2/(P·${s.allPatches ? 'rows' : 'Σmask'}) for rows [r0, r1); exactly 0 where the weight is 0.`,
    exported: true,
  };
}
