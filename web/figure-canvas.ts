/** Draws renderFigure's RGB image into a canvas, pixel for pixel (the panels are already enlarged). */

export function drawFigure(canvas: HTMLCanvasElement, fig: { width: number; height: number; data: Uint8Array }): void {
  canvas.width = fig.width;
  canvas.height = fig.height;
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('no 2D canvas context');
  const rgba = new Uint8ClampedArray(fig.width * fig.height * 4);
  for (let i = 0, j = 0; i < fig.data.length; i += 3, j += 4) {
    rgba[j] = fig.data[i];
    rgba[j + 1] = fig.data[i + 1];
    rgba[j + 2] = fig.data[i + 2];
    rgba[j + 3] = 255;
  }
  ctx.putImageData(new ImageData(rgba, fig.width, fig.height), 0, 0);
}

/** Lines the captions up under the panels: `cell` px each, separated and framed by `gap` px. */
export function alignCaptions(captions: HTMLElement, cell: number, gap: number): void {
  captions.style.gridTemplateColumns = `repeat(${captions.children.length}, ${cell}px)`;
  captions.style.columnGap = `${gap}px`;
  captions.style.paddingInline = `${gap}px`;
}
