import autocannon from 'autocannon';

/**
 * Drives a server with autocannon and measures a window after the warm-up.
 *
 * One autocannon instance runs for warm-up + duration, and only responses completed inside the measured window
 * count. Keeping the same connections matters: Node admits new connections slowly while its event loop is
 * saturated (one per turn), so a fresh burst of 50 connections against a busy server leaves some of them waiting
 * seconds for their first response. Reconnecting for the measurement (a second instance) would charge that
 * admission delay to the scenario. For the same reason a connection's first response is left out of the latency
 * figures (it is still counted as a response).
 */

export interface LoadSettings {
  connections: number;
  /** Measured seconds. */
  durationSeconds: number;
  /** Seconds of identical load before measuring (JIT, caches, connection admission). */
  warmupSeconds: number;
  /** Seconds before autocannon counts a request as timed out. */
  timeoutSeconds: number;
}

export interface LoadSpec {
  url: string;
  requests: autocannon.Request[];
  /** Statuses counted as successful besides every 2xx (304 for conditional requests). */
  alsoSuccessful?: readonly number[];
}

export interface LoadResult {
  /** Length of the measured window. */
  durationSeconds: number;
  /** Responses received in the window. */
  responses: number;
  /** Responses with a successful status. */
  successes: number;
  /** Responses with any other status. */
  failures: number;
  /** Connection errors and timeouts (no response at all) in the window. */
  errors: number;
  timeouts: number;
  /** Successful responses per second: the figure ratios are computed from. */
  successRate: number;
  /** All responses per second. */
  responseRate: number;
  /** Over the window's responses, each connection's first excepted; milliseconds. */
  latencyMs: { mean: number; p50: number; p90: number; p99: number; max: number };
  bytesPerSecond: number;
  statusCodes: Record<string, number>;
  /** Connections that had received at least one response when the window closed. */
  activeConnections: number;
}

const isSuccess = (status: number, also: readonly number[] = []) => (status >= 200 && status < 300) || also.includes(status);

function percentile(sorted: Float64Array, fraction: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)]!;
}

const round = (value: number) => Math.round(value * 100) / 100;

export function runLoad(spec: LoadSpec, settings: LoadSettings): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const latencies: number[] = [];
    const statusCodes: Record<string, number> = {};
    const answered = new WeakSet<object>();
    let activeConnections = 0;
    let measuring = false;
    let windowStart = 0;
    let windowEnd = 0;
    let bytes = 0;
    let errors = 0;
    let timeouts = 0;

    const instance = autocannon(
      {
        url: spec.url,
        connections: settings.connections,
        pipelining: 1,
        // Longer than needed: the run is stopped when the window closes.
        duration: settings.warmupSeconds + settings.durationSeconds + 5,
        timeout: settings.timeoutSeconds,
        requests: spec.requests,
        // Only decides how soon stop() takes effect; the figures come from the response events.
        sampleInt: 100,
      },
      (error: unknown) => {
        if (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
          return;
        }
        if (!windowEnd) windowEnd = performance.now();
        const seconds = Math.max((windowEnd - windowStart) / 1000, 1e-3);
        const sorted = Float64Array.from(latencies).sort();
        let responses = 0;
        let successes = 0;
        for (const [status, count] of Object.entries(statusCodes)) {
          responses += count;
          if (isSuccess(Number(status), spec.alsoSuccessful)) successes += count;
        }
        resolve({
          durationSeconds: round(seconds),
          responses,
          successes,
          failures: responses - successes,
          errors,
          timeouts,
          successRate: successes / seconds,
          responseRate: responses / seconds,
          latencyMs: {
            mean: round(sorted.reduce((sum, value) => sum + value, 0) / (sorted.length || 1)),
            p50: round(percentile(sorted, 0.5)),
            p90: round(percentile(sorted, 0.9)),
            p99: round(percentile(sorted, 0.99)),
            max: round(sorted.at(-1) ?? 0),
          },
          bytesPerSecond: bytes / seconds,
          statusCodes,
          activeConnections,
        });
      },
    );

    instance.on('response', (client, statusCode, resBytes, responseTime) => {
      const first = !answered.has(client);
      if (first) {
        answered.add(client);
        activeConnections += 1;
      }
      if (!measuring) return;
      statusCodes[statusCode] = (statusCodes[statusCode] ?? 0) + 1;
      bytes += resBytes;
      if (!first) latencies.push(responseTime);
    });
    instance.on('reqError', (error: unknown) => {
      if (!measuring) return;
      errors += 1;
      if (error instanceof Error && /timed out/.test(error.message)) timeouts += 1;
    });

    setTimeout(() => {
      measuring = true;
      windowStart = performance.now();
      setTimeout(() => {
        measuring = false;
        windowEnd = performance.now();
        instance.stop();
      }, settings.durationSeconds * 1000);
    }, settings.warmupSeconds * 1000);
  });
}
