/**
 * How busy the page's main thread is while something runs elsewhere: the longest task the browser
 * reports ('longtask' entries, tasks over 50 ms) and the longest gap of a 10 ms timer chain (which
 * also sees a thread that was not scheduled at all, so it reads high on a loaded machine).
 */
export class MainThreadMonitor {
  longestTaskMs = 0;
  longestGapMs = 0;
  private observer?: PerformanceObserver;
  private timer?: ReturnType<typeof setTimeout>;

  start(): void {
    this.stop();
    this.longestTaskMs = 0;
    this.longestGapMs = 0;
    if (PerformanceObserver.supportedEntryTypes?.includes('longtask')) {
      this.observer = new PerformanceObserver((list) => {
        for (const e of list.getEntries()) this.longestTaskMs = Math.max(this.longestTaskMs, e.duration);
      });
      this.observer.observe({ type: 'longtask' });
    }
    let last = performance.now();
    const tick = (): void => {
      const now = performance.now();
      this.longestGapMs = Math.max(this.longestGapMs, now - last - 10);
      last = now;
      this.timer = setTimeout(tick, 10);
    };
    this.timer = setTimeout(tick, 10);
  }

  stop(): void {
    if (this.observer) {
      for (const e of this.observer.takeRecords()) this.longestTaskMs = Math.max(this.longestTaskMs, e.duration);
      this.observer.disconnect();
    }
    this.observer = undefined;
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
