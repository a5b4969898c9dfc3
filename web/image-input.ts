/** Where images come from: a file dropped on the drop zone, picked with the file input, or a bundled sample. */

export interface PickedImage {
  name: string;
  bytes: ArrayBuffer;
}

export interface ImageInputElements {
  drop: HTMLElement;
  file: HTMLInputElement;
  samples: HTMLElement;
}

/** Calls `onImage` for every image chosen; `onError` when one cannot be read. */
export function wireImageInput(els: ImageInputElements, onImage: (img: PickedImage) => void, onError: (message: string) => void): void {
  const readFile = async (f: File | undefined): Promise<void> => {
    if (!f) return;
    try {
      onImage({ name: f.name, bytes: await f.arrayBuffer() });
    } catch (e) {
      onError(`${f.name}: ${(e as Error).message}`);
    }
  };
  els.file.addEventListener('change', () => { void readFile(els.file.files?.[0]); els.file.value = ''; });
  for (const type of ['dragenter', 'dragover'] as const) {
    els.drop.addEventListener(type, (e) => { e.preventDefault(); els.drop.classList.add('over'); });
  }
  for (const type of ['dragleave', 'drop'] as const) {
    els.drop.addEventListener(type, () => els.drop.classList.remove('over'));
  }
  els.drop.addEventListener('drop', (e) => {
    e.preventDefault();
    void readFile(e.dataTransfer?.files?.[0]);
  });
  // The whole zone opens the picker from the keyboard too.
  els.drop.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); els.file.click(); }
  });
}

/** One button per bundled sample (its picture, fetched from the model folder). */
export function showSamples(container: HTMLElement, samples: readonly { name: string; url: URL }[], onImage: (img: PickedImage) => void, onError: (message: string) => void): void {
  container.replaceChildren();
  for (const s of samples) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'sample';
    button.dataset.sample = s.name;
    button.title = s.name;
    const img = document.createElement('img');
    img.src = s.url.href;
    img.alt = s.name;
    img.width = 56;
    img.height = 56;
    button.append(img);
    button.addEventListener('click', async () => {
      try {
        const r = await fetch(s.url);
        if (!r.ok) throw new Error(`HTTP ${r.status}`);
        onImage({ name: s.name, bytes: await r.arrayBuffer() });
      } catch (e) {
        onError(`${s.name}: ${(e as Error).message}`);
      }
    });
    container.append(button);
  }
}
