import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy to the test server that can stop relaying without closing anything, as a dead network path does. New
 * connections made while frozen wait until it thaws.
 */
export async function freezableProxy(target: URL): Promise<{ urlFor(url: string): string; freeze(): void; thaw(): void; close(): Promise<void> }> {
  let frozen = false;
  const pairs = new Set<[Socket, Socket]>();
  const waiting: (() => void)[] = [];
  const server: Server = createServer((inbound) => {
    const open = () => {
      const outbound = connect(Number(target.port || 5432), target.hostname);
      const pair: [Socket, Socket] = [inbound, outbound];
      pairs.add(pair);
      inbound.pipe(outbound);
      outbound.pipe(inbound);
      const end = () => {
        pairs.delete(pair);
        inbound.destroy();
        outbound.destroy();
      };
      inbound.on('error', end).on('close', end);
      outbound.on('error', end).on('close', end);
    };
    if (frozen) waiting.push(open);
    else open();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    urlFor(url) {
      const proxied = new URL(url);
      proxied.hostname = '127.0.0.1';
      proxied.port = String(port);
      return proxied.toString();
    },
    freeze() {
      frozen = true;
      for (const [inbound, outbound] of pairs) {
        inbound.unpipe(outbound);
        outbound.unpipe(inbound);
        inbound.pause();
        outbound.pause();
      }
    },
    thaw() {
      frozen = false;
      for (const open of waiting.splice(0)) open();
    },
    async close() {
      for (const [inbound, outbound] of pairs) {
        inbound.destroy();
        outbound.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
