// Weight packing, once per Linear at load: W [n, k] (row-major, as in the weights file) → the
// GEMM's B operand Wᵀ in panels of nr columns, each panel [k][nr] contiguous.

/**
 * Packs W [n, k] at src into panels at dst: panel p holds columns p·nr..p·nr+nr−1 of Wᵀ as [k][nr],
 * the last zero-padded. Walks the panels in write order, 4×4 blocks transposed in registers: the
 * writes stream and the reads are nr short row streams. (Row by row, every 4-byte store landed on
 * another cache line: 1.2 s of vit-mae-base's load.)
 */
@inline export function packPanels(src: usize, dst: usize, n: i32, k: i32, nr: i32): void {
  const panels = (n + nr - 1) / nr;
  const rowBytes = <usize>k * 4;
  const lineBytes = <usize>nr * 4;
  for (let p = 0; p < panels; p++) {
    const rows = min<i32>(nr, n - p * nr);
    const panel = dst + <usize>(p * k) * lineBytes;
    const first = src + <usize>(p * nr) * rowBytes;
    if (rows < nr) memory.fill(panel, 0, <usize>k * lineBytes);
    const rows4 = rows & ~3;
    let i = 0;
    for (; i + 4 <= k; i += 4) {
      const out = panel + <usize>i * lineBytes;
      for (let j = 0; j < rows4; j += 4) {
        const r = first + <usize>j * rowBytes + (<usize>i << 2);
        const a = v128.load(r);
        const b = v128.load(r + rowBytes);
        const c = v128.load(r + 2 * rowBytes);
        const d = v128.load(r + 3 * rowBytes);
        const ab01 = v128.shuffle<f32>(a, b, 0, 4, 1, 5);
        const ab23 = v128.shuffle<f32>(a, b, 2, 6, 3, 7);
        const cd01 = v128.shuffle<f32>(c, d, 0, 4, 1, 5);
        const cd23 = v128.shuffle<f32>(c, d, 2, 6, 3, 7);
        const o = out + (<usize>j << 2);
        v128.store(o, v128.shuffle<f32>(ab01, cd01, 0, 1, 4, 5));
        v128.store(o + lineBytes, v128.shuffle<f32>(ab01, cd01, 2, 3, 6, 7));
        v128.store(o + 2 * lineBytes, v128.shuffle<f32>(ab23, cd23, 0, 1, 4, 5));
        v128.store(o + 3 * lineBytes, v128.shuffle<f32>(ab23, cd23, 2, 3, 6, 7));
      }
      for (let j = rows4; j < rows; j++) {
        const r = first + <usize>j * rowBytes + (<usize>i << 2);
        for (let q = 0; q < 4; q++) store<f32>(out + <usize>q * lineBytes + (<usize>j << 2), load<f32>(r + (<usize>q << 2)));
      }
    }
    // The last k % 4 rows of the panel.
    for (; i < k; i++) {
      const out = panel + <usize>i * lineBytes;
      for (let j = 0; j < rows; j++) store<f32>(out + (<usize>j << 2), load<f32>(first + <usize>j * rowBytes + (<usize>i << 2)));
    }
  }
}

/**
 * Packs W [n, k] at src as itself — the B operand of a Linear's dx = dy·W — in panels of nr
 * columns over k: panel p holds W[:, p·nr .. p·nr+nr−1] as [n][nr], the last zero-padded. No
 * transpose: each row of a panel is one copied chunk of a W row.
 */
@inline export function packRowPanels(src: usize, dst: usize, n: i32, k: i32, nr: i32): void {
  const panels = (k + nr - 1) / nr;
  const lineBytes = <usize>nr * 4;
  for (let p = 0; p < panels; p++) {
    const cols = min<i32>(nr, k - p * nr);
    const panel = dst + <usize>(p * n) * lineBytes;
    for (let o = 0; o < n; o++) {
      const out = panel + <usize>o * lineBytes;
      memory.copy(out, src + (<usize>(o * k + p * nr) << 2), <usize>cols << 2);
      if (cols < nr) memory.fill(out + (<usize>cols << 2), 0, <usize>(nr - cols) << 2);
    }
  }
}
