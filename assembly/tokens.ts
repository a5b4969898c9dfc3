// Token movement: patch extraction for the visible patches, position-embedding gathers and the
// decoder's unshuffle with the shared mask token. Widths arrive as literals from generated wrappers.

/**
 * Writes, for each of `count` patch indices in ids (i32), the patch's pixels from a [C,H,W] image
 * as one row of C·p·p values in the conv weight's (c, p, q) order.
 */
@inline export function patchGather(pixels: usize, ids: usize, count: i32, out: usize, channels: i32, patch: i32, grid: i32): void {
  const side = patch * grid;
  const rowLen = channels * patch * patch;
  for (let r = 0; r < count; r++) {
    const l = load<i32>(ids + (<usize>r << 2));
    const py = l / grid;
    const px = l - py * grid;
    let dst = out + <usize>(r * rowLen) * 4;
    for (let c = 0; c < channels; c++) {
      for (let y = 0; y < patch; y++) {
        const src = pixels + <usize>((c * side + py * patch + y) * side + px * patch) * 4;
        memory.copy(dst, src, <usize>patch * 4);
        dst += <usize>patch * 4;
      }
    }
  }
}

/** x[r] += table[1 + ids[r]] for r < count (row 0 of the table belongs to cls). */
@inline export function addRowsGathered(x: usize, table: usize, ids: usize, count: i32, width: i32): void {
  const vecEnd = width & ~3;
  for (let r = 0; r < count; r++) {
    const xr = x + <usize>(r * width) * 4;
    const tr = table + <usize>((1 + load<i32>(ids + (<usize>r << 2))) * width) * 4;
    let i = 0;
    for (; i < vecEnd; i += 4) {
      const o = <usize>i << 2;
      v128.store(xr + o, f32x4.add(v128.load(xr + o), v128.load(tr + o)));
    }
    for (; i < width; i++) {
      const o = <usize>i << 2;
      store<f32>(xr + o, load<f32>(xr + o) + load<f32>(tr + o));
    }
  }
}

@inline function addRow(dst: usize, a: usize, b: usize, width: i32): void {
  const vecEnd = width & ~3;
  let i = 0;
  for (; i < vecEnd; i += 4) {
    const o = <usize>i << 2;
    v128.store(dst + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
  }
  for (; i < width; i++) {
    const o = <usize>i << 2;
    store<f32>(dst + o, load<f32>(a + o) + load<f32>(b + o));
  }
}

/**
 * The decoder's input: emb holds [cls, kept tokens in ids_keep order] (1 + keep rows); out gets
 * 1 + L rows in original patch order, mask_token where a patch was removed, each plus its
 * position-embedding row: out[0] = emb[0] + pos[0], out[1+l] = (ids_restore[l] < keep ?
 * emb[1 + ids_restore[l]] : mask) + pos[1+l].
 */
@inline export function unshuffle(emb: usize, mask: usize, pos: usize, idsRestore: usize, keep: i32, out: usize, width: i32, numPatches: i32): void {
  const rowBytes = <usize>width * 4;
  addRow(out, emb, pos, width);
  for (let l = 0; l < numPatches; l++) {
    const j = load<i32>(idsRestore + (<usize>l << 2));
    const src = j < keep ? emb + <usize>(1 + j) * rowBytes : mask;
    const o = <usize>(1 + l) * rowBytes;
    addRow(out + o, src, pos + o, width);
  }
}

/**
 * The encoder's mask token (the paper's Table 1c ablation, encoder "w/ [M]"): of x [count, width]
 * (an image's embedded patches, all of them in order), the rows whose mask is non-zero (removed)
 * become the token, before the position rows are added.
 */
@inline export function maskRows(x: usize, token: usize, mask: usize, count: i32, width: i32): void {
  const rowBytes = <usize>width * 4;
  for (let l = 0; l < count; l++) {
    if (load<f32>(mask + (<usize>l << 2)) != 0) memory.copy(x + <usize>l * rowBytes, token, rowBytes);
  }
}
