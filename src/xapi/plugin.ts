import fp from 'fastify-plugin';
import type { Config } from '../config.js';
import { createLrsClient } from './lrs-client.js';

/**
 * With LRS_ENDPOINT set, the server process pushes the outbox to the LRS (several instances share the work through
 * their claims); started once the app is ready, stopped on close before the database goes.
 */
export const xapiPlugin = fp<{ config: Config['xapi'] }>(
  async (app, { config }) => {
    const { lrs } = config;
    if (!lrs) return;
    const service = app.services.xapi;
    const dispatcher = service.dispatcher({
      client: createLrsClient(lrs),
      batchSize: lrs.batchSize,
      // Longer than a batch's POST can take. A one-by-one resend of a slow LRS may outlast it: another claim then
      // sends some statements twice, which the LRS keeps once (by id), and only the claim's holder parks or reschedules.
      leaseMs: 2 * lrs.timeoutMs + 5000,
      onError: (error) => app.log.error({ err: error }, 'xAPI delivery failed'),
    });
    const unsubscribe = service.onQueued(() => dispatcher.wake());
    app.addHook('onReady', async () => dispatcher.start());
    app.addHook('preClose', async () => {
      unsubscribe();
      await dispatcher.stop();
    });
  },
  { name: 'mnemo-xapi', dependencies: ['mnemo-services'], fastify: '5.x' },
);
