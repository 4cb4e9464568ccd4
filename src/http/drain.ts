import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';

/**
 * Draining keep-alive connections on shutdown without resetting a request that is already on its way.
 *
 * Node's `server.close()` (which `app.close()` calls) destroys every idle keep-alive connection at once. A client
 * that had just written its next request on one of them gets ECONNRESET or "socket hang up", and cannot tell
 * whether the request was processed. Instead, once `app.close()` starts:
 *
 * - the listener closes at once, before any response says `Connection: close`: new connections are refused
 *   (ECONNREFUSED: nothing was sent, safe to retry elsewhere). Connections the kernel had queued but Node had not
 *   yet accepted (under load it takes one per event-loop turn) are reset by the kernel then; they were never read,
 *   and a load balancer that stops routing before SIGTERM leaves none;
 * - every response not yet started, in flight or on a connection that is still open, says `Connection: close`, so
 *   Node ends the connection right after it and the client opens a new one (to another instance) for its next
 *   request. Requests that arrive on open connections are served as usual (the database closes only after the
 *   last connection), so a busy connection ends with a complete response, never a reset;
 * - a connection with no request in progress is closed only once it has been quiet for `quietMs`: a connection
 *   that clients keep using gets its `Connection: close` response instead. HTTP/1.1 cannot close an idle
 *   connection without racing a client that writes to it at that instant; this leaves that race only to a client
 *   that was quiet for `quietMs` and sends within a network round trip of the close, and such a request was never
 *   read, so retrying it (answers with the same `clientAnswerId`) is safe.
 *
 * The process-level bound stays `SHUTDOWN_GRACE_MS` (close-with-grace in `main.ts`).
 */

interface Connection {
  /** Responses started on this connection and not yet finished or aborted. */
  readonly pending: Set<ServerResponse>;
  /** When the connection last went quiet: accepted, or its last pending response ended (performance.now()). */
  quietSince: number;
}

export interface DrainOptions {
  /** A connection without a request in progress is closed once it has been quiet this long during the drain. */
  quietMs: number;
}

/** The quiet period for a grace period: a quarter of it, at most 1 s, so idle connections go well within it. */
export const drainQuietMs = (shutdownGraceMs: number): number => Math.max(10, Math.min(1000, Math.floor(shutdownGraceMs / 4)));

export function registerDrain(app: FastifyInstance, { quietMs }: DrainOptions): void {
  const server = app.server;
  const connections = new Map<Socket, Connection>();
  let draining = false;
  let sweeper: NodeJS.Timeout | undefined;
  let requestsDuringDrain = 0;
  let closedQuiet = 0;

  server.on('connection', (socket: Socket) => {
    connections.set(socket, { pending: new Set(), quietSince: performance.now() });
    socket.once('close', () => connections.delete(socket));
  });

  // Before Fastify's own listener, so the header is set before any handler can send.
  server.prependListener('request', (request: IncomingMessage, response: ServerResponse) => {
    if (draining) {
      requestsDuringDrain += 1;
      response.setHeader('connection', 'close');
    }
    const connection = connections.get(request.socket);
    if (!connection) return;
    connection.pending.add(response);
    response.once('close', () => {
      connection.pending.delete(response);
      connection.quietSince = performance.now();
    });
  });

  /** Destroys the connections with nothing in progress that have been quiet for `quietMs`. */
  const closeQuietConnections = () => {
    const now = performance.now();
    for (const [socket, connection] of connections) {
      if (connection.pending.size === 0 && now - connection.quietSince >= quietMs) {
        connections.delete(socket);
        closedQuiet += 1;
        socket.destroy();
      }
    }
  };

  app.addHook('preClose', (done) => {
    if (!server.listening) return done();
    draining = true;
    const open = connections.size;
    let busy = 0;
    for (const connection of connections.values()) {
      if (connection.pending.size > 0) busy += 1;
      for (const response of connection.pending) {
        if (!response.headersSent) response.setHeader('connection', 'close');
      }
    }
    // http.Server#close() calls closeIdleConnections(), which would destroy every idle connection now; during the
    // drain it closes only the quiet ones. Fastify's own server.close() (after the preClose hooks) goes through
    // the same method and then waits for the remaining connections.
    server.closeIdleConnections = closeQuietConnections;
    server.close();
    server.once('close', () => {
      clearInterval(sweeper);
      app.log.info({ requestsDuringDrain, closedQuiet }, 'drained: every connection closed');
    });
    sweeper = setInterval(closeQuietConnections, Math.max(5, Math.floor(quietMs / 4))).unref();
    app.log.info({ connections: open, busy, quietMs }, 'draining: listener closed; responses say Connection: close');
    done();
  });
}
