/**
 * The paper's Table 1c ablation, the encoder "w/ [M]": every patch embedded, the removed ones
 * replaced by a learned encoder mask token. Checked two ways: with nothing removed it is the plain
 * encoder on all patches, gradients bit for bit (the token gets exactly zero); with 75 % removed,
 * its gradients agree with central finite differences of the trainer's own float32 loss (the
 * token, the patch projection, whose removed rows must give nothing, and an attention weight).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { compileTrainingKernels } from '../src/node/load.js';
import { loadWeights } from '../src/weights.js';
import { shapesOf } from '../src/shapes.js';
import { maskingFromNoise } from '../src/masking.js';
import { WasmTrainer } from '../src/training/trainer.js';
import { ENCODER_MASK_TOKEN, trainableParams } from '../src/training/params.js';
import { initialEncoderMaskToken } from '../src/training/init.js';
import { sampleMasking } from '../src/training/masking-strategies.js';
import { GOLDEN, goldenCase, readTensors } from './helpers.js';

async function trainers() {
  const { cfg, io } = goldenCase('tiny');
  const weights = loadWeights(readTensors(join(GOLDEN, 'tiny', 'model.safetensors')), cfg);
  const kernels = await compileTrainingKernels(cfg, undefined, undefined, 'simd128');
  const L = shapesOf(cfg).numPatches;
  const token = initialEncoderMaskToken(cfg, 1);
  const plain = await WasmTrainer.create({ config: cfg, weights, kernels, batch: 2, keep: L });
  const masked = await WasmTrainer.create({ config: cfg, weights, kernels, batch: 2, keep: L, variant: { encoderMaskTokens: true }, encoderMaskToken: token });
  return { cfg, io, L, plain, masked };
}

test('encoder mask tokens with nothing removed: the plain all-patch encoder, bit for bit; the token gets zero', async () => {
  const { cfg, io, L, plain, masked } = await trainers();
  const pixels = io.f32('pixel_values');
  const none = maskingFromNoise(Float32Array.from({ length: 2 * L }, (_, i) => i % L), 2, L, L);
  const a = await plain.gradients(pixels, 2, none, { normPix: false, allPatches: true });
  const b = await masked.gradients(pixels, 2, none, { normPix: false, allPatches: true });
  assert.equal(b.loss, a.loss);
  for (const p of trainableParams(cfg)) assert.deepEqual(b.grads[p.name]!.data, a.grads[p.name]!.data, p.name);
  assert.ok(b.grads[ENCODER_MASK_TOKEN]!.data.every((v) => v === 0));
  plain.dispose();
  masked.dispose();
});

test('encoder mask tokens at mask 0.75: gradients agree with central differences of the loss', async () => {
  const { cfg, io, masked } = await trainers();
  const pixels = io.f32('pixel_values');
  const m = sampleMasking('random', 2, shapesOf(cfg).grid, 0.75, 5);
  const g = await masked.gradients(pixels, 2, m, { normPix: false, allPatches: false });
  // The decoder sees no mask token now: its gradient is exactly zero.
  assert.ok(g.grads['decoder.mask_token']!.data.every((v) => v === 0));
  const byName = new Map(trainableParams(cfg, { encoderMaskTokens: true }).map((p) => [p.name, p]));
  const h = 2e-3;
  for (const name of [ENCODER_MASK_TOKEN, 'vit.embeddings.patch_embeddings.projection.weight', 'vit.embeddings.patch_embeddings.projection.bias', 'vit.encoder.layer.1.attention.attention.value.weight']) {
    const grad = g.grads[name]!.data;
    const scale = grad.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
    assert.ok(scale > 0, `${name}: some gradient`);
    const p = byName.get(name)!;
    const values = masked.params.get(p.canonical)!;
    // The three largest entries of the tensor.
    const top = [...grad.keys()].sort((i, j) => Math.abs(grad[j]!) - Math.abs(grad[i]!)).slice(0, 3);
    for (const i of top) {
      const at = p.offset + i;
      const v0 = values[at]!;
      const loss = async (v: number): Promise<number> => {
        values[at] = v;
        masked.repack();
        return (await masked.forward(pixels, 2, m, { allPatches: false })).loss;
      };
      const fd = ((await loss(v0 + h)) - (await loss(v0 - h))) / (2 * h);
      values[at] = v0;
      masked.repack();
      // float32 forward: the difference of two losses ≈ 1 carries ~1e-7/h of noise; 3 % of the tensor's scale catches a missing or doubled term.
      assert.ok(Math.abs(fd - grad[i]!) <= 0.03 * scale + 2e-4, `${name}[${i}]: finite difference ${fd}, gradient ${grad[i]}`);
    }
  }
  masked.dispose();
});
