// Backward of the token movement (assembly/tokens.ts), over a range of images [i0, i1) of a batch.
// Each image's rows are a scatter of the gradient it received; the shared parameters' gradients
// (mask token, cls token) are sums into an accumulator, so threads splitting the images each
// accumulate into their own and the host adds them in thread order. The position tables are
// frozen and adding them is the identity for x: they need no kernel.

/** acc[width] += src[width]. */
@inline function addInto(acc: usize, src: usize, width: i32): void {
  const vecEnd = width & ~3;
  let i = 0;
  for (; i < vecEnd; i += 4) {
    const o = <usize>i << 2;
    v128.store(acc + o, f32x4.add(v128.load(acc + o), v128.load(src + o)));
  }
  for (; i < width; i++) {
    const o = <usize>i << 2;
    store<f32>(acc + o, load<f32>(acc + o) + load<f32>(src + o));
  }
}

/**
 * The unshuffle's backward per image: dy [1 + L, width] → de [1 + keep, width] and dmask += the rows
 * of removed patches. de[0] = dy[0] (cls); de[1 + j] = dy[1 + l] where ids_restore[l] = j < keep
 * (a permutation: each kept row is written once); dmask += dy[1 + l] where ids_restore[l] ≥ keep.
 * Images are (1 + L) rows of dy, 1 + keep rows of de and L ids apart.
 */
@inline export function unshuffleBackward(dy: usize, idsRestore: usize, keep: i32, de: usize, dmask: usize, width: i32, numPatches: i32, i0: i32, i1: i32): void {
  const rowBytes = <usize>width * 4;
  for (let img = i0; img < i1; img++) {
    const src = dy + <usize>(img * (1 + numPatches)) * rowBytes;
    const dst = de + <usize>(img * (1 + keep)) * rowBytes;
    const ids = idsRestore + (<usize>(img * numPatches) << 2);
    memory.copy(dst, src, rowBytes);
    for (let l = 0; l < numPatches; l++) {
      const j = load<i32>(ids + (<usize>l << 2));
      const row = src + <usize>(1 + l) * rowBytes;
      if (j < keep) memory.copy(dst + <usize>(1 + j) * rowBytes, row, rowBytes);
      else addInto(dmask, row, width);
    }
  }
}

/**
 * The encoder input's backward per image (x0 = [cls + pos[0]; patch embeddings of ids_keep + their
 * pos rows]): dx0 [1 + keep, width] → dcls += dx0[0], and dembeds [L, width] = dx0[1 + t] at row
 * ids_keep[t], zero at removed patches (the gather's backward: a scatter into zeros). Images are
 * 1 + keep rows of dx0, L rows of dembeds and keep ids apart.
 */
@inline export function encoderInputBackward(dx0: usize, idsKeep: usize, keep: i32, dembeds: usize, dcls: usize, width: i32, numPatches: i32, i0: i32, i1: i32): void {
  const rowBytes = <usize>width * 4;
  for (let img = i0; img < i1; img++) {
    const src = dx0 + <usize>(img * (1 + keep)) * rowBytes;
    const dst = dembeds + <usize>(img * numPatches) * rowBytes;
    const ids = idsKeep + (<usize>(img * keep) << 2);
    addInto(dcls, src, width);
    memory.fill(dst, 0, <usize>numPatches * rowBytes);
    for (let t = 0; t < keep; t++) {
      const l = load<i32>(ids + (<usize>t << 2));
      memory.copy(dst + <usize>l * rowBytes, src + <usize>(1 + t) * rowBytes, rowBytes);
    }
  }
}

/**
 * maskRows' backward per image: dtoken += the rows of removed patches of dx [count, width], which
 * are then zeroed (their embeddings were replaced, so the patch projection gets nothing from them).
 */
@inline export function maskRowsBackward(dx: usize, mask: usize, dtoken: usize, count: i32, width: i32): void {
  const rowBytes = <usize>width * 4;
  for (let l = 0; l < count; l++) {
    if (load<f32>(mask + (<usize>l << 2)) == 0) continue;
    const row = dx + <usize>l * rowBytes;
    addInto(dtoken, row, width);
    memory.fill(row, 0, rowBytes);
  }
}
