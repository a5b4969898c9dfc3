/**
 * The bundled default model (models/mae-fashion-mnist) against the reference outputs its authors'
 * code produced for 16 Fashion-MNIST test images (reference.safetensors). Same bounds as golden.
 */
import { test } from 'node:test';
import { join } from 'node:path';
import { MaeModel } from '../src/node/index.js';
import { LOSS_TOL, ROOT, TENSOR_TOL, assertClose, assertExact, readTensors } from './helpers.js';

const DIR = join(ROOT, 'models', 'mae-fashion-mnist');

test('bundled mae-fashion-mnist reproduces its reference outputs', async () => {
  const ref = readTensors(join(DIR, 'reference.safetensors'));
  const model = await MaeModel.load(DIR);
  try {
    const pixels = ref.f32('pixel_values');
    const batch = ref.info('pixel_values').shape[0];
    const r = await model.forward(pixels, { batch, noise: ref.f32('noise') });
    assertClose(r.latent, ref.f32('latent'), TENSOR_TOL, 'latent');
    assertClose(r.pred, ref.f32('pred'), TENSOR_TOL, 'pred');
    assertExact(r.mask, ref.f32('mask'), 'mask');
    assertExact(r.idsRestore, ref.i64('ids_restore'), 'ids_restore');
    assertClose([r.loss], ref.f32('loss'), LOSS_TOL, 'loss');
    assertClose([r.lossNormPix], ref.f32('loss_norm_pix'), LOSS_TOL, 'loss_norm_pix');
    assertClose(await model.encode(pixels, { batch }), ref.f32('latent_all'), TENSOR_TOL, 'latent_all');
  } finally {
    model.dispose();
  }
});
