import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Metrics } from '../core/metrics.js';
import type { Transcriber } from '../core/types.js';
import type { Logger } from '../logger.js';

export interface WorkerAppOptions {
  /** The local core's transcriber: what the worker runs its jobs on. */
  transcriber: Transcriber;
  metrics: Metrics;
  logger: Logger;
  /** Whether the worker's connection to QUEUE_URL is up. */
  queueConnected: () => boolean;
}

/** A worker process's HTTP face. */
export type WorkerApp = FastifyInstance<Server, IncomingMessage, ServerResponse, Logger> & {
  /** From now on /healthz answers `503 draining`, so that an orchestrator sees the worker leave. */
  startDraining(): void;
};

/**
 * What a worker (ROLE=worker) serves: `/healthz` and `/metrics`, nothing that takes audio. Jobs
 * reach it only through the queue.
 */
export function buildWorkerApp(options: WorkerAppOptions): WorkerApp {
  const { transcriber, metrics } = options;
  const app = Fastify({ loggerInstance: options.logger, genReqId: () => randomUUID(), forceCloseConnections: true });
  let draining = false;

  app.get('/healthz', async (_request, reply) => {
    const status = transcriber.status();
    const connected = options.queueConnected();
    if (draining || !connected) reply.code(503);
    return {
      status: draining ? 'draining' : connected ? 'ok' : 'queue_unavailable',
      role: 'worker',
      model: status.model,
      device: status.device,
      queue: { waiting: status.waiting, running: status.running, max: status.maxPending },
    };
  });
  app.get('/metrics', async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
  app.setNotFoundHandler((_request, reply) => {
    reply.code(404).send({ status: 'error', error: 'not_found', message: 'A worker serves only /healthz and /metrics: send audio to a front.' });
  });
  return Object.assign(app, { startDraining: () => void (draining = true) });
}
