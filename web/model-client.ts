/** The page's side of the model worker: requests as promises, one reply per request id. */
import { type Device, type LoadedReply, type ReconstructRequest, type ReconstructedReply, type Reply, type Request, type TrainData, type TrainEvent, type TrainRecipe, type TrainedReply, isTrainEvent } from './protocol.js';

type Pending = { resolve: (r: Reply) => void; reject: (e: Error) => void };
/** A request before it gets its id (Omit on each member of the union). */
type Unsent = Request extends infer R ? (R extends Request ? Omit<R, 'id'> : never) : never;

export class ModelClient {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  /** Called with every training event of the run in progress. */
  onTrainEvent: (e: TrainEvent) => void = () => {};

  constructor(workerUrl: URL) {
    this.worker = new Worker(workerUrl, { type: 'module', name: 'edge-mae model' });
    this.worker.addEventListener('message', (e: MessageEvent) => {
      if (isTrainEvent(e.data as { type: string })) { this.onTrainEvent(e.data as TrainEvent); return; }
      const reply = e.data as Reply;
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if (reply.type === 'error') p.reject(new Error(reply.message));
      else p.resolve(reply);
    });
    this.worker.addEventListener('error', (e: ErrorEvent) => {
      e.preventDefault();
      const err = new Error(`model worker failed: ${e.message || 'could not start'}`);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    });
  }

  private send<R extends Reply>(req: Unsent, transfer: Transferable[] = []): Promise<R> {
    const id = this.nextId++;
    return new Promise<R>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (r: Reply) => void, reject });
      this.worker.postMessage({ ...req, id }, transfer);
    });
  }

  /** Loads (or reloads with other threads or device) the model from the model folder's URL. */
  load(base: URL, threads: number, device: Device): Promise<LoadedReply> {
    return this.send<LoadedReply>({ type: 'load', base: base.href, threads, device });
  }

  /** Reconstructs one image; `image` is copied, so the caller keeps its bytes. */
  reconstruct(r: Omit<ReconstructRequest, 'type' | 'id'>): Promise<ReconstructedReply> {
    const image = r.image.slice(0);
    return this.send<ReconstructedReply>({ type: 'reconstruct', ...r, image }, [image]);
  }

  /** Trains in the worker until the recipe's steps are done or it is stopped; events arrive on onTrainEvent. */
  train(base: URL, recipe: TrainRecipe, data: TrainData, preview?: { name: string; bytes: ArrayBuffer; seed: number; scale: number }): Promise<TrainedReply> {
    const copy = preview && { ...preview, bytes: preview.bytes.slice(0) };
    const transfer = data.kind === 'files' ? data.files.map((f) => f.bytes) : [];
    return this.send<TrainedReply>({ type: 'train', base: base.href, recipe, data, preview: copy }, copy ? [...transfer, copy.bytes] : transfer);
  }

  /** Pause, resume or stop the training run (no reply: a train-state event, or the run's end). */
  control(action: 'pause' | 'resume' | 'stop'): void {
    this.worker.postMessage({ type: 'train-control', id: 0, action });
  }
}
