/**
 * The accuracy figures of the README: the largest |x − ref| / (1 + |ref|) of `latent`, `pred`,
 * `latent_all` and both losses against the authors' PyTorch outputs, on everything the tests
 * compare (test/fixtures/golden tiny and small in both weight namings, the bundled model's
 * reference.safetensors), for both kernel variants. The bounds the tests hold these to are in
 * test/helpers.ts.
 * Run: node dist/scripts/accuracy.js
 */
import v8 from 'node:v8';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MaeModel } from '../src/node/index.js';
import { SafetensorsFile } from '../src/safetensors.js';
import { DEFAULT_MODEL_DIR, PACKAGE_ROOT } from '../src/node/paths.js';

v8.setFlagsFromString('--experimental-wasm-relaxed-simd');

const GOLDEN = join(PACKAGE_ROOT, 'test', 'fixtures', 'golden');
const CASES: Array<{ name: string; model: string; weights: string; reference: string }> = [
  ...['tiny', 'small'].flatMap((c) => [
    { name: `golden ${c}`, model: join(GOLDEN, c), weights: join(GOLDEN, c, 'model.safetensors'), reference: join(GOLDEN, c, 'io.safetensors') },
    { name: `golden ${c} (original names)`, model: join(GOLDEN, c), weights: join(GOLDEN, c, 'model.official.safetensors'), reference: join(GOLDEN, c, 'io.safetensors') },
  ]),
  { name: 'bundled mae-fashion-mnist', model: DEFAULT_MODEL_DIR, weights: join(DEFAULT_MODEL_DIR, 'model.safetensors'), reference: join(DEFAULT_MODEL_DIR, 'reference.safetensors') },
];

function maxScaledError(actual: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (actual.length !== ref.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < ref.length; i++) {
    const e = Math.abs(actual[i]! - ref[i]!) / (1 + Math.abs(ref[i]!));
    if (!(e <= worst)) worst = Number.isNaN(e) ? Infinity : e;
  }
  return worst;
}

const fmt = (x: number): string => x.toExponential(1);
console.log('case | kernels | latent | pred | latent_all | loss | loss_norm_pix');
for (const c of CASES) {
  const ref = SafetensorsFile.parse(new Uint8Array(readFileSync(c.reference)), c.reference);
  const pixels = ref.f32('pixel_values');
  const batch = ref.info('pixel_values').shape[0]!;
  for (const simd of ['simd128', 'relaxed'] as const) {
    const model = await MaeModel.load({ model: c.model, weights: c.weights, simd });
    try {
      const r = await model.forward(pixels, { batch, noise: ref.f32('noise') });
      const all = await model.encode(pixels, { batch });
      const errors = [
        maxScaledError(r.latent, ref.f32('latent')), maxScaledError(r.pred, ref.f32('pred')), maxScaledError(all, ref.f32('latent_all')),
        maxScaledError([r.loss], ref.f32('loss')), maxScaledError([r.lossNormPix], ref.f32('loss_norm_pix')),
      ];
      console.log(`${c.name} | ${simd} | ${errors.map(fmt).join(' | ')}`);
    } finally {
      model.dispose();
    }
  }
}
