import type { SimCounts } from './types.js';

/** Request and token counters, read by tests and the control endpoint. */
export class Counters {
  requests = 0;
  byStatus: Record<string, number> = {};
  tokensIssued = 0;
  refreshes = 0;
  throttled = 0;
  unavailable = 0;
  dropped = 0;
  unauthorized = 0;

  status(code: number): void {
    this.byStatus[code] = (this.byStatus[code] ?? 0) + 1;
  }

  snapshot(resources: Record<string, number>, patients: number): SimCounts {
    return {
      requests: this.requests,
      byStatus: { ...this.byStatus },
      tokensIssued: this.tokensIssued,
      refreshes: this.refreshes,
      throttled: this.throttled,
      unavailable: this.unavailable,
      dropped: this.dropped,
      unauthorized: this.unauthorized,
      resources,
      patients,
    };
  }
}
