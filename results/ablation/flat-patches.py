# Why the normalised-pixel target can hurt on Fashion-MNIST: how much of the per-patch normalised
# target lies in near-flat 4x4 patches. Run: python3 results/ablation/flat-patches.py
import gzip
import numpy as np

raw = gzip.open('/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz').read()[16:]
x = np.frombuffer(raw, np.uint8).reshape(-1, 28, 28)[:2000]
x = (x / 255 - 0.286) / 0.353                      # the bundled preprocessor_config.json
p = x.reshape(-1, 7, 4, 7, 4).transpose(0, 1, 3, 2, 4).reshape(-1, 16)
var = p.var(1, ddof=1)                             # the official norm_pix_loss: unbiased variance
near_flat = (var > 0) & (var < 1e-2)               # std < 0.1 normalised units (~9 grey levels)
within = ((p - p.mean(1, keepdims=True)) ** 2).sum(1)
target = ((p - p.mean(1, keepdims=True)) ** 2 / (var[:, None] + 1e-6)).sum(1)
print(f'patches flat: {(var == 0).mean():.3f}, near-flat: {near_flat.mean():.3f}')
print(f'near-flat share of within-patch variation, raw pixels: {within[near_flat].sum() / within.sum():.4f}')
print(f'near-flat share of the normalised target: {target[near_flat].sum() / target.sum():.4f}')
