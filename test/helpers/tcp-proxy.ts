import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy in front of a test server (PostgreSQL, Redis), for making it go away or go silent under a running app
 * without touching the real server, which other test files may be using.
 */
export interface TcpProxy {
  /** The target's URL (user, password, database) with the proxy's address. */
  readonly url: string;
  /** Client connections open through the proxy. */
  readonly connections: number;
  /** Closes every connection and stops listening: clients see the connection drop, then refused reconnects. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
  /**
   * Relays nothing any more, in either direction, and closes nothing: a dead network path or a hung server, which
   * gives no error. Connections made meanwhile wait.
   */
  hang(): void;
  /** Relays again what was held back, and opens the connections that waited. */
  resume(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetUrl: string, defaultPort: number): Promise<TcpProxy> {
  const target = new URL(targetUrl);
  const targetHost = target.hostname.replace(/^\[|\]$/g, '');
  const targetPort = Number(target.port || defaultPort);
  const pairs = new Set<[Socket, Socket]>();
  const clients = new Set<Socket>();
  const waiting: (() => void)[] = [];
  let hung = false;

  const relay = (inbound: Socket, outbound: Socket) => {
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  };
  const server: Server = createServer((inbound) => {
    clients.add(inbound);
    inbound.on('error', () => inbound.destroy());
    inbound.on('close', () => clients.delete(inbound));
    const open = () => {
      if (inbound.destroyed) return;
      const outbound = connect(targetPort, targetHost);
      const pair: [Socket, Socket] = [inbound, outbound];
      pairs.add(pair);
      relay(inbound, outbound);
      const end = () => {
        pairs.delete(pair);
        inbound.destroy();
        outbound.destroy();
      };
      outbound.on('error', end).on('close', end);
      inbound.on('close', end);
    };
    if (hung) {
      inbound.pause();
      waiting.push(open);
    } else open();
  });
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  await listen(0);
  const port = (server.address() as { port: number }).port;
  const url = new URL(targetUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);

  const stop = async () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const client of clients) client.destroy();
    for (const [inbound, outbound] of pairs) {
      inbound.destroy();
      outbound.destroy();
    }
    await closed;
  };
  return {
    url: url.toString(),
    get connections() {
      return clients.size;
    },
    stop,
    start: async () => {
      hung = false;
      await listen(port);
    },
    hang() {
      hung = true;
      for (const [inbound, outbound] of pairs) {
        inbound.unpipe(outbound);
        outbound.unpipe(inbound);
        inbound.pause();
        outbound.pause();
      }
    },
    resume() {
      hung = false;
      for (const [inbound, outbound] of pairs) relay(inbound, outbound);
      for (const open of waiting.splice(0)) open();
    },
    close: async () => {
      if (server.listening) await stop();
    },
  };
}
