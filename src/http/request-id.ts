import { randomUUID } from 'node:crypto';
import { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';

/** A client-supplied X-Request-Id is honoured only when it is short and plain, so it cannot forge log lines. */
const acceptable = /^[A-Za-z0-9._:-]{1,128}$/;

export const requestIdOptions: Pick<FastifyServerOptions, 'genReqId' | 'requestIdHeader' | 'logController'> = {
  requestIdHeader: false,
  logController: new LogController({
    requestIdLogLabel: 'requestId',
    // Probes would drown the log; their failures still surface through the error handler.
    disableRequestLogging: (request) => request.url === '/healthz' || request.url === '/readyz',
  }),
  genReqId: (request) => {
    const supplied = request.headers['x-request-id'];
    return typeof supplied === 'string' && acceptable.test(supplied) ? supplied : randomUUID();
  },
};

/** Echoes the request id so clients can quote it; problem bodies carry it too. */
export function exposeRequestId(app: FastifyInstance): void {
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });
}
