/**
 * model.gradients (the WASM training module: forward with tape, backward walked in reverse)
 * against PyTorch autograd through the authors' code (golden grads.safetensors, both losses) and
 * against the independent float64 reference backward (test/reference/mae-backward.ts, itself
 * checked by central differences) on odd configs: 1–3 channels, odd patch counts, MLP widths not
 * a multiple of 4, head widths 5 and 6, no qkv bias, loss over all patches. Bounds from
 * ../shared/golden/README.md: per tensor T, |x − g| ≤ 2e-5·max|g_T| (key.bias scaled by key.weight).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type MaeConfig, shapesOf, toHfJson } from '../src/config.js';
import { ConfigError, InputError } from '../src/errors.js';
import { MaeModel } from '../src/node/index.js';
import { encodeSafetensors } from '../src/safetensors.js';
import { trainableParams } from '../src/training/params.js';
import { checkTrainingFits, trainingBatchThatFits } from '../src/training/layout.js';
import { preset } from '../src/config.js';
import { lenKeep } from '../src/shapes.js';
import { hfTensors, paramsFromWeights, referenceGradients, type MaeGrads } from './reference/mae-backward.js';
import { randomWeights, toHfTensors } from './reference/mae-reference.js';
import { oddConfig, oddInputs } from './support/odd-inputs.js';
import { GOLDEN, LOSS_TOL, goldenCase, readTensors, tempDir } from './helpers.js';

/** Per tensor T: |x − g| ≤ 2e-5·max|g_T| (the golden README's check). */
const GRAD_TOL = 2e-5;

const maxAbs = (a: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
};
const scaleName = (name: string): string => (name.endsWith('.key.bias') ? name.replace(/\.key\.bias$/, '.key.weight') : name);

/** Worst |x − g| / (2e-5·max|g_T|) over every tensor (≤ 1 passes), and which. */
function worstRatio(ours: Record<string, { data: ArrayLike<number> }>, golden: (name: string) => ArrayLike<number>, names: string[]): { ratio: number; name: string } {
  let out = { ratio: 0, name: '' };
  for (const name of names) {
    const g = golden(name);
    const x = ours[name]!.data;
    assert.equal(x.length, g.length, `${name}: length`);
    const scale = GRAD_TOL * maxAbs(golden(scaleName(name)));
    for (let i = 0; i < g.length; i++) {
      const r = Math.abs(x[i]! - g[i]!) / scale;
      if (!(r <= out.ratio)) out = { ratio: r, name: `${name}[${i}]` };
    }
  }
  return out;
}

for (const name of ['tiny', 'small'] as const) {
  test(`${name}: model.gradients of both losses match PyTorch autograd (batch 2 in one call, and in calls of 1)`, async () => {
    const { cfg, io } = goldenCase(name);
    const file = readTensors(join(GOLDEN, name, 'grads.safetensors'));
    const pixels = io.f32('pixel_values'), noise = io.f32('noise');
    const N = io.info('pixel_values').shape[0]!;
    const names = trainableParams(cfg).map((p) => p.name);
    assert.deepEqual(names.slice().sort(), file.names().filter((k) => k.startsWith('grad/')).map((k) => k.slice(5)).sort(), 'the trainable parameters are the file\'s');
    for (const batch of [2, 1]) {
      const model = await MaeModel.load({ model: join(GOLDEN, name), batch });
      try {
        for (const [normPix, prefix, lossName] of [[false, 'grad', 'loss'], [true, 'grad_norm_pix', 'loss_norm_pix']] as const) {
          const r = await model.gradients(pixels, { batch: N, noise, normPix });
          const w = worstRatio(r.grads, (n) => file.f32(`${prefix}/${n}`), names);
          assert.ok(w.ratio <= 1, `${prefix}, calls of ${batch}: ${w.name} at ${w.ratio.toFixed(3)}× the bound`);
          for (const [k, v] of Object.entries(r.grads)) assert.deepEqual(v.shape, file.info(`${prefix}/${k}`).shape, `${k}: shape`);
          const ref = io.f32(lossName)[0]!;
          const got = normPix ? r.lossNormPix : r.loss;
          assert.ok(Math.abs(got - ref) <= LOSS_TOL * (1 + Math.abs(ref)), `${lossName}: ${got} vs ${ref}`);
        }
        // The check can fail: the plain loss's gradients are not the norm-pix loss's.
        const plain = await model.gradients(pixels, { batch: N, noise, normPix: false });
        assert.ok(worstRatio(plain.grads, (n) => file.f32(`grad_norm_pix/${n}`), names).ratio > 1, 'plain gradients pass as norm-pix ones');
      } finally {
        model.dispose();
      }
    }
  });
}


/** The reference-grads test's odd configs (1–3 channels, L = 9/25, MLP 37/22/30/19/50/45, head widths 5 and 6). */
const ODD_CASES: Array<{ what: string; n: number; cfg: MaeConfig; lossOn: 'removed' | 'all'; maskRatio?: number }> = [
  {
    what: 'C=1, 15 px / patch 5 (L = 9, keep 3), encoder 20/2/4 (d = 5) mlp 37, decoder 12/1/2 (d = 6) mlp 22, N = 2',
    n: 2, lossOn: 'removed',
    cfg: oddConfig({ image_size: 15, patch_size: 5, num_channels: 1, hidden_size: 20, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 37, decoder_hidden_size: 12, decoder_num_hidden_layers: 1, decoder_num_attention_heads: 2, decoder_intermediate_size: 22, mask_ratio: 0.6 }),
  },
  {
    what: 'C=3, 10 px / patch 2 (L = 25, keep 6), encoder 12/1/2 (d = 6) mlp 30, decoder 20/2/4 (d = 5) mlp 19, no qkv bias, N = 3, loss on all patches',
    n: 3, lossOn: 'all',
    cfg: oddConfig({ image_size: 10, patch_size: 2, num_channels: 3, hidden_size: 12, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 30, decoder_hidden_size: 20, decoder_num_hidden_layers: 2, decoder_num_attention_heads: 4, decoder_intermediate_size: 19, mask_ratio: 0.75, qkv_bias: false }),
  },
  {
    what: 'C=2, 9 px / patch 3 (L = 9), encoder 24/1/4 (d = 6) mlp 50, decoder 20/1/4 (d = 5) mlp 45, N = 2, mask ratio 0.3 (not the config\'s)',
    n: 2, lossOn: 'removed', maskRatio: 0.3,
    cfg: oddConfig({ image_size: 9, patch_size: 3, num_channels: 2, hidden_size: 24, num_hidden_layers: 1, num_attention_heads: 4, intermediate_size: 50, decoder_hidden_size: 20, decoder_num_hidden_layers: 1, decoder_num_attention_heads: 4, decoder_intermediate_size: 45, mask_ratio: 0.5 }),
  },
];


ODD_CASES.forEach((c, idx) => {
  test(`odd config: ${c.what} — model.gradients match the float64 reference backward`, async () => {
    const dir = join(tempDir(), 'model');
    mkdirSync(dir, { recursive: true });
    const weights = randomWeights(c.cfg, 40 + idx);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(toHfJson(c.cfg)));
    writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors(toHfTensors(c.cfg, weights)));
    const { pixels, noise } = oddInputs(c.cfg, c.n, 70 + idx);
    const ratio = c.maskRatio ?? c.cfg.maskRatio;
    const ref = referenceGradients(c.cfg, paramsFromWeights(weights), pixels, noise, c.n, ratio, { allPatches: c.lossOn === 'all' });
    const model = await MaeModel.load({ model: dir });
    try {
      for (const [normPix, grads, label] of [[false, ref.grad, 'loss'], [true, ref.gradNormPix, 'loss_norm_pix']] as [boolean, MaeGrads, string][]) {
        const r = await model.gradients(pixels, { batch: c.n, noise, normPix, lossOn: c.lossOn, maskRatio: ratio });
        assert.equal(r.lenKeep, lenKeep(shapesOf(c.cfg).numPatches, ratio));
        const refNamed = hfTensors(c.cfg, grads);
        const names = Object.keys(refNamed);
        assert.deepEqual(Object.keys(r.grads).sort(), names.slice().sort(), 'the same parameters');
        const w = worstRatio(r.grads, (n) => refNamed[n]!.data, names);
        assert.ok(w.ratio <= 1, `${label}: ${w.name} at ${w.ratio.toFixed(3)}× the bound`);
        const got = normPix ? r.lossNormPix : r.loss;
        const want = normPix ? ref.lossNormPix : ref.loss;
        assert.ok(Math.abs(got - want) <= LOSS_TOL * (1 + Math.abs(want)), `${label}: ${got} vs ${want}`);
      }
    } finally {
      model.dispose();
    }
  });
});

test('gradients refuse what they cannot do, with the reason', async () => {
  const model = await MaeModel.load({ model: join(GOLDEN, 'tiny') });
  try {
    const { io } = goldenCase('tiny');
    const pixels = io.f32('pixel_values');
    await assert.rejects(model.gradients(pixels, { batch: 2, maskRatio: 0 }), (e: unknown) => e instanceof InputError && /removes no patch/.test((e as Error).message));
    await assert.rejects(model.gradients(pixels, { batch: 2, lossOn: 'some' as 'all' }), (e: unknown) => e instanceof InputError && /lossOn/.test((e as Error).message));
    await assert.rejects(model.gradients(pixels.subarray(1), { batch: 2 }), InputError);
    // Mask ratio 0 with the loss on all patches is well defined.
    const all = await model.gradients(pixels, { batch: 2, maskRatio: 0, lossOn: 'all' });
    assert.ok(Number.isFinite(all.loss) && all.loss > 0);
  } finally {
    model.dispose();
  }
});

test('training memory past wasm32 is refused with the numbers and the largest batch that fits', () => {
  const base = preset('vit-mae-base');
  const keep = lenKeep(196, 0.75);
  const fits = trainingBatchThatFits(base, 10_000, keep);
  assert.ok(fits >= 4 && fits < 200, `vit-mae-base trains ${fits} images per call in 4 GiB`);
  checkTrainingFits(base, fits, keep);
  assert.throws(() => checkTrainingFits(base, fits + 1, keep), (e: unknown) => e instanceof ConfigError && /more than wasm32's 4 GiB/.test((e as Error).message) && (e as Error).message.includes(`at most ${fits} images per call fit`));
  assert.equal(trainingBatchThatFits(preset('vit-mae-huge'), 1, lenKeep(256, 0.75)), 0, 'huge cannot train in wasm32');
});

for (const name of ['tiny', 'small'] as const) {
  test(`${name}: the AdamW kernel over the parameter arena, fed the golden gradients, gives adamw1 (within 5e-7) and loss_after_adamw1 (within 1e-5); without weight decay it does not`, async () => {
    const { io } = goldenCase(name);
    const file = readTensors(join(GOLDEN, name, 'grads.safetensors'));
    const grads = Object.fromEntries(file.names().filter((k) => k.startsWith('grad/')).map((k) => [k.slice(5), file.f32(k)]));
    const lr = Number(file.metadata.lr);
    const worstStep = async (weightDecay: number): Promise<{ worst: number; lossAfter: number }> => {
      const model = await MaeModel.load({ model: join(GOLDEN, name) });
      try {
        const pixels = io.f32('pixel_values'), noise = io.f32('noise');
        await model.gradients(pixels, { batch: 2, noise });
        const trainer = (model as unknown as { trainer: import('../src/training/trainer.js').WasmTrainer }).trainer;
        trainer.setGradients(grads);
        trainer.step({ lr, weightDecay });
        assert.equal(trainer.steps, 1);
        let worst = 0;
        for (const [k, p] of Object.entries(trainer.namedParams())) {
          const g = file.f32(`adamw1/${k}`);
          for (let i = 0; i < g.length; i++) worst = Math.max(worst, Math.abs(p.data[i]! - g[i]!));
        }
        const after = await model.gradients(pixels, { batch: 2, noise });
        return { worst, lossAfter: after.loss };
      } finally {
        model.dispose();
      }
    };
    const { worst, lossAfter } = await worstStep(0.05);
    assert.ok(worst <= 5e-7, `adamw1: worst |Δ| ${worst}`);
    const golden = file.f32('loss_after_adamw1')[0]!;
    assert.ok(Math.abs(lossAfter - golden) <= 1e-5, `loss_after_adamw1 ${lossAfter} vs ${golden}`);
    assert.ok((await worstStep(0)).worst > 5e-7, 'no weight decay passes the adamw1 check');
  });
}
