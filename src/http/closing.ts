import type { FastifyInstance } from 'fastify';
import { AppError } from '../errors.js';
import { sendProblem } from './problem.js';

/**
 * Graceful close for keep-alive clients: once closing starts, new requests get a 503 problem with
 * `Connection: close`, and responses to requests already in flight close their connection too. Without this, a
 * pooled keep-alive connection that received its last response stays open and `server.close()` waits for it
 * until the grace period kills the process.
 */
export function registerGracefulClosing(app: FastifyInstance): void {
  let closing = false;
  let sweeper: NodeJS.Timeout | undefined;
  app.addHook('preClose', (done) => {
    closing = true;
    // Connections can turn idle (or be accepted) after this moment; keep closing the idle ones until done.
    app.server.closeIdleConnections();
    sweeper = setInterval(() => app.server.closeIdleConnections(), 50).unref();
    done();
  });
  app.addHook('onClose', (_instance, done) => {
    clearInterval(sweeper);
    done();
  });
  app.addHook('onRequest', (request, reply, done) => {
    if (!closing) return done();
    reply.header('connection', 'close');
    sendProblem(request, reply, new AppError('MNEMO_SERVICE_UNAVAILABLE', 'the server is shutting down; retry shortly'));
  });
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
}
