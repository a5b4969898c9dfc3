"""The bench's PyTorch peer: the MAE architecture (He et al. 2021) written for this bench from the
paper and config.json, loading a Hugging Face ViTMAEForPreTraining model folder.

Run with Debian's /usr/bin/python3 (its python3-torch), not a pyenv python:
  /usr/bin/python3 bench/torch_mae.py check --model DIR --io IO.safetensors
      → one JSON line: loss, loss_norm_pix, max |pred − io's pred| for io's pixel_values and noise
  /usr/bin/python3 bench/torch_mae.py serve --model DIR --data DATA.safetensors --batch B --threads T
      → loads, warms up, prints one JSON line {"ready": ...}; then for each stdin line "pass" runs
        the forward over all of DATA's images (pixel_values, noise) at batch B and prints
        {"seconds", "cpu_seconds" (the process's CPU time, all threads), "loss", "loss_norm_pix"}; "quit" ends it.
  /usr/bin/python3 bench/torch_mae.py train --model DIR --data DATA.safetensors --batch B --threads T --steps S
      → MAE pretraining steps (forward, loss on the removed patches, backward, AdamW as MAE's
        main_pretrain.py: betas 0.9/0.95, weight decay 0.05 on ≥ 2-D parameters) on DATA's
        pixel_values in batches of B with fresh noise; after one warm-up step prints one JSON line
        per timed step {"step", "seconds", "loss"}, then {"done": …}.
All print only JSON lines on stdout (bench/batch-forward.ts and bench/train-peer.ts read them).
"""
import argparse
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# ── safetensors, read with json + numpy: u64 LE header length, JSON header, raw LE data ──

_DTYPES = {'F32': '<f4', 'F64': '<f8', 'I64': '<i8', 'I32': '<i4', 'F16': '<f2'}


def read_safetensors(path):
    with open(path, 'rb') as f:
        raw = f.read()
    (n,) = struct.unpack('<Q', raw[:8])
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        start, end = info['data_offsets']
        a = np.frombuffer(raw, dtype=_DTYPES[info['dtype']], count=(end - start) // np.dtype(_DTYPES[info['dtype']]).itemsize, offset=base + start)
        out[name] = a.reshape(info['shape'])
    return out


# ── fixed 2-D sin-cos position table (paper §A.1; cls row zeros) ──

def sincos_1d(dim, pos):
    """[len(pos), dim]: sin(pos·ω) then cos(pos·ω), ω_k = 10000^(−k/(dim/2)), float64."""
    omega = 1.0 / 10000 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2))
    x = np.outer(pos.reshape(-1).astype(np.float64), omega)
    return np.concatenate([np.sin(x), np.cos(x)], axis=1)


def sincos_2d(dim, grid):
    """[1 + grid², dim]: patch r·grid + c gets [1-D table of c | 1-D table of r]; row 0 (cls) zeros."""
    rows, cols = np.meshgrid(np.arange(grid), np.arange(grid), indexing='ij')
    table = np.concatenate([sincos_1d(dim // 2, cols), sincos_1d(dim // 2, rows)], axis=1)
    return np.concatenate([np.zeros((1, dim)), table], axis=0).astype(np.float32)


# ── the model ──

class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)  # query, key, value in one GEMM
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        n, t, d = x.shape
        qkv = self.qkv(x).reshape(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        att = torch.softmax((q @ k.transpose(-2, -1)) * (d // self.heads) ** -0.5, dim=-1)
        return self.proj((att @ v).transpose(1, 2).reshape(n, t, d))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(LN(x)), then x + MLP(LN(x)) with exact (erf) GELU."""

    def __init__(self, dim, heads, hidden, eps):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class Mae(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.p = c['patch_size']
        self.chans = c['num_channels']
        self.grid = c['image_size'] // self.p
        self.num_patches = self.grid ** 2
        d, dd, eps = c['hidden_size'], c['decoder_hidden_size'], c['layer_norm_eps']
        self.patch_embed = nn.Conv2d(self.chans, d, self.p, stride=self.p)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.register_buffer('pos', torch.from_numpy(sincos_2d(d, self.grid))[None])
        self.blocks = nn.ModuleList(Block(d, c['num_attention_heads'], c['intermediate_size'], eps) for _ in range(c['num_hidden_layers']))
        self.norm = nn.LayerNorm(d, eps=eps)
        self.dec_embed = nn.Linear(d, dd)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dd))
        self.register_buffer('dec_pos', torch.from_numpy(sincos_2d(dd, self.grid))[None])
        self.dec_blocks = nn.ModuleList(Block(dd, c['decoder_num_attention_heads'], c['decoder_intermediate_size'], eps) for _ in range(c['decoder_num_hidden_layers']))
        self.dec_norm = nn.LayerNorm(dd, eps=eps)
        self.dec_pred = nn.Linear(dd, self.p * self.p * self.chans)

    def patchify(self, imgs):
        """[N, C, H, W] → [N, L, p·p·C], each patch row-major over (p, q) with c fastest."""
        n, p, g = imgs.shape[0], self.p, self.grid
        x = imgs.reshape(n, self.chans, g, p, g, p).permute(0, 2, 4, 3, 5, 1)
        return x.reshape(n, g * g, p * p * self.chans)

    def masking(self, x, noise, ratio):
        """Keeps the len_keep patches of smallest noise, in that order (argsort, as models_mae.py)."""
        n, length, d = x.shape
        keep = int(length * (1 - ratio))
        ids_shuffle = torch.argsort(noise, dim=1)
        ids_restore = torch.argsort(ids_shuffle, dim=1)
        ids_keep = ids_shuffle[:, :keep]
        kept = torch.gather(x, 1, ids_keep[:, :, None].expand(-1, -1, d))
        mask = torch.ones(n, length)
        mask[:, :keep] = 0
        return kept, torch.gather(mask, 1, ids_restore), ids_restore

    def encoder(self, imgs, noise, ratio):
        x = self.patch_embed(imgs).flatten(2).transpose(1, 2) + self.pos[:, 1:]
        x, mask, ids_restore = self.masking(x, noise, ratio)
        cls = (self.cls_token + self.pos[:, :1]).expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1)
        for b in self.blocks:
            x = b(x)
        return self.norm(x), mask, ids_restore

    def decoder(self, latent, ids_restore):
        x = self.dec_embed(latent)
        n, t, d = x.shape
        # The shared mask token fills every removed position; unshuffle back to patch order.
        tokens = torch.cat([x[:, 1:], self.mask_token.expand(n, self.num_patches + 1 - t, d)], dim=1)
        tokens = torch.gather(tokens, 1, ids_restore[:, :, None].expand(-1, -1, d))
        x = torch.cat([x[:, :1], tokens], dim=1) + self.dec_pos
        for b in self.dec_blocks:
            x = b(x)
        return self.dec_pred(self.dec_norm(x))[:, 1:]

    def loss(self, imgs, pred, mask, norm_pix):
        """Mean squared error per patch, averaged over the removed patches of the whole batch."""
        target = self.patchify(imgs)
        if norm_pix:  # per-patch normalised target, unbiased variance, eps 1e-6
            target = (target - target.mean(-1, keepdim=True)) / (target.var(-1, keepdim=True) + 1e-6) ** 0.5
        per_patch = ((pred - target) ** 2).mean(-1)
        return (per_patch * mask).sum() / mask.sum()

    def forward(self, imgs, noise, ratio=None):
        ratio = self.c['mask_ratio'] if ratio is None else ratio
        latent, mask, ids_restore = self.encoder(imgs, noise, ratio)
        pred = self.decoder(latent, ids_restore)
        return pred, mask, self.loss(imgs, pred, mask, False), self.loss(imgs, pred, mask, True)


def load_model(folder):
    with open(os.path.join(folder, 'config.json')) as f:
        c = json.load(f)
    w = {k: torch.from_numpy(v.copy()) for k, v in read_safetensors(os.path.join(folder, 'model.safetensors')).items()}
    m = Mae(c)
    state = {
        'patch_embed.weight': w['vit.embeddings.patch_embeddings.projection.weight'],
        'patch_embed.bias': w['vit.embeddings.patch_embeddings.projection.bias'],
        'cls_token': w['vit.embeddings.cls_token'],
        'norm.weight': w['vit.layernorm.weight'], 'norm.bias': w['vit.layernorm.bias'],
        'dec_embed.weight': w['decoder.decoder_embed.weight'], 'dec_embed.bias': w['decoder.decoder_embed.bias'],
        'mask_token': w['decoder.mask_token'],
        'dec_norm.weight': w['decoder.decoder_norm.weight'], 'dec_norm.bias': w['decoder.decoder_norm.bias'],
        'dec_pred.weight': w['decoder.decoder_pred.weight'], 'dec_pred.bias': w['decoder.decoder_pred.bias'],
        'pos': m.pos, 'dec_pos': m.dec_pos,
    }
    for ours, hf, count in (('blocks', 'vit.encoder.layer', c['num_hidden_layers']), ('dec_blocks', 'decoder.decoder_layers', c['decoder_num_hidden_layers'])):
        for i in range(count):
            s, h = f'{ours}.{i}.', f'{hf}.{i}.'
            qkv = [f'{h}attention.attention.{r}' for r in ('query', 'key', 'value')]
            state.update({
                f'{s}norm1.weight': w[f'{h}layernorm_before.weight'], f'{s}norm1.bias': w[f'{h}layernorm_before.bias'],
                f'{s}attn.qkv.weight': torch.cat([w[f'{q}.weight'] for q in qkv]),
                f'{s}attn.qkv.bias': torch.cat([w[f'{q}.bias'] for q in qkv]),
                f'{s}attn.proj.weight': w[f'{h}attention.output.dense.weight'], f'{s}attn.proj.bias': w[f'{h}attention.output.dense.bias'],
                f'{s}norm2.weight': w[f'{h}layernorm_after.weight'], f'{s}norm2.bias': w[f'{h}layernorm_after.bias'],
                f'{s}fc1.weight': w[f'{h}intermediate.dense.weight'], f'{s}fc1.bias': w[f'{h}intermediate.dense.bias'],
                f'{s}fc2.weight': w[f'{h}output.dense.weight'], f'{s}fc2.bias': w[f'{h}output.dense.bias'],
            })
    m.load_state_dict(state, strict=True)
    # The file's tables, where present, must be the sin-cos ones computed here (they get no training).
    pos_diff = max(float((w[k][0] - t[0]).abs().max()) for k, t in (('vit.embeddings.position_embeddings', m.pos), ('decoder.decoder_pos_embed', m.dec_pos)) if k in w)
    return m.eval(), pos_diff


def blas_libraries():
    """The BLAS/LAPACK shared objects this process mapped (which BLAS torch really runs on)."""
    with open('/proc/self/maps') as f:
        return sorted({line.split()[-1] for line in f if ('blas' in line or 'lapack' in line) and '/' in line})


def cmd_check(a):
    torch.set_num_threads(a.threads)
    m, pos_diff = load_model(a.model)
    io = read_safetensors(a.io)
    with torch.no_grad():
        pred, mask, loss, loss_np = m(torch.from_numpy(io['pixel_values'].copy()), torch.from_numpy(io['noise'].copy()))
    out = {'loss': float(loss), 'loss_norm_pix': float(loss_np), 'pos_table_max_abs_diff': pos_diff}
    if 'pred' in io:
        out['pred_max_abs_diff'] = float((pred - torch.from_numpy(io['pred'].copy())).abs().max())
    if 'mask' in io:
        out['mask_equal'] = bool(torch.equal(mask, torch.from_numpy(io['mask'].copy())))
    print(json.dumps(out), flush=True)


def cmd_serve(a):
    torch.set_num_threads(a.threads)
    m, pos_diff = load_model(a.model)
    data = read_safetensors(a.data)
    pixels = torch.from_numpy(data['pixel_values'].copy())
    noise = torch.from_numpy(data['noise'].copy())
    n, b = pixels.shape[0], a.batch

    def one_pass():
        total, total_np = 0.0, 0.0
        t0, cpu0 = time.perf_counter(), time.process_time()
        with torch.no_grad():
            for i in range(0, n, b):
                _, _, loss, loss_np = m(pixels[i:i + b], noise[i:i + b])
                total += float(loss)
                total_np += float(loss_np)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        batches = math.ceil(n / b)
        return {'seconds': seconds, 'cpu_seconds': cpu, 'loss': total / batches, 'loss_norm_pix': total_np / batches}

    with torch.no_grad():  # warm-up: one batch (allocator, OpenMP pool, BLAS buffers)
        m(pixels[:b], noise[:b])
    print(json.dumps({'ready': {
        'torch': torch.__version__, 'numpy': np.__version__, 'python': sys.version.split()[0],
        'threads': torch.get_num_threads(), 'os_threads': len(os.listdir('/proc/self/task')),
        'blas': blas_libraries(), 'parallel': torch.__config__.parallel_info().splitlines()[0:6],
        'images': n, 'batch': b, 'pos_table_max_abs_diff': pos_diff,
    }}), flush=True)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == 'pass':
            print(json.dumps(one_pass()), flush=True)
        elif cmd == 'quit':
            break
        else:
            print(json.dumps({'error': f'unknown command {cmd!r}'}), flush=True)


def cmd_train(a):
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    m, _ = load_model(a.model)
    m.train()
    pixels = torch.from_numpy(read_safetensors(a.data)['pixel_values'].copy())
    n, b = pixels.shape[0], a.batch
    # MAE's param groups (timm add_weight_decay): no decay for 1-D tensors and biases.
    decay = [p for name, p in m.named_parameters() if p.ndim > 1 and not name.endswith('.bias')]
    no_decay = [p for name, p in m.named_parameters() if not (p.ndim > 1 and not name.endswith('.bias'))]
    opt = torch.optim.AdamW([{'params': decay, 'weight_decay': 0.05}, {'params': no_decay, 'weight_decay': 0.0}], lr=2e-3, betas=(0.9, 0.95))

    def step(i):
        at = (i * b) % max(1, n - b + 1)
        imgs = pixels[at:at + b]
        noise = torch.rand(imgs.shape[0], m.num_patches)
        t0 = time.perf_counter()
        _, _, loss, _ = m(imgs, noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return time.perf_counter() - t0, float(loss)

    step(0)  # warm-up: allocator, OpenMP pool, BLAS buffers
    for i in range(1, a.steps + 1):
        seconds, loss = step(i)
        print(json.dumps({'step': i, 'seconds': seconds, 'loss': loss}), flush=True)
    print(json.dumps({'done': {'torch': torch.__version__, 'threads': torch.get_num_threads(), 'blas': blas_libraries(), 'batch': b}}), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest='cmd', required=True)
    c = sub.add_parser('check')
    c.add_argument('--model', required=True)
    c.add_argument('--io', required=True)
    c.add_argument('--threads', type=int, default=1)
    s = sub.add_parser('serve')
    s.add_argument('--model', required=True)
    s.add_argument('--data', required=True)
    s.add_argument('--batch', type=int, default=500)
    s.add_argument('--threads', type=int, default=1)
    t = sub.add_parser('train')
    t.add_argument('--model', required=True)
    t.add_argument('--data', required=True)
    t.add_argument('--batch', type=int, default=256)
    t.add_argument('--threads', type=int, default=1)
    t.add_argument('--steps', type=int, default=10)
    a = ap.parse_args()
    {'check': cmd_check, 'serve': cmd_serve, 'train': cmd_train}[a.cmd](a)


if __name__ == '__main__':
    main()
