import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The service's Prometheus metrics, on a registry of its own (so tests can build several). */
export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'stt_requests_total',
    help: 'Transcription requests by source and outcome (ok or an error code).',
    labelNames: ['source', 'outcome'],
    registers: [this.registry],
  });
  readonly processingSeconds = new Histogram({
    name: 'stt_processing_seconds',
    help: 'Time from the start of decoding to the transcript.',
    labelNames: ['source'],
    buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120],
    registers: [this.registry],
  });
  readonly audioSeconds = new Counter({
    name: 'stt_audio_seconds_total',
    help: 'Seconds of audio transcribed.',
    labelNames: ['source'],
    registers: [this.registry],
  });
  readonly realTimeFactor = new Histogram({
    name: 'stt_real_time_factor',
    help: 'Processing time divided by audio duration (below 1 is faster than real time).',
    buckets: [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2],
    registers: [this.registry],
  });
  /** The three counts, each under the one word /healthz and the README use for it. */
  readonly waiting = new Gauge({
    name: 'stt_jobs_waiting',
    help: 'Jobs taken in and not yet running: decoding, or waiting their turn.',
    registers: [this.registry],
  });
  readonly running = new Gauge({ name: 'stt_jobs_running', help: 'Jobs running inference.', registers: [this.registry] });
  readonly uploading = new Gauge({
    name: 'stt_uploading',
    help: 'Request bodies on the transcription routes still arriving.',
    registers: [this.registry],
  });
  readonly httpRequests = new Counter({
    name: 'stt_http_requests_total',
    help: 'HTTP requests by route and status code.',
    labelNames: ['route', 'method', 'status'],
    registers: [this.registry],
  });

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }
}
