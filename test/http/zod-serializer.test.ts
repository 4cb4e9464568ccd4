import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { compilePendingSerializers, useZodSchemas } from '../../src/http/zod.js';
import { buildTestApp } from '../helpers/app.js';

describe('response serializers', () => {
  it('drop fields outside the response schema', async () => {
    const app = Fastify();
    useZodSchemas(app);
    app.get('/item', { schema: { response: { 200: z.object({ id: z.string() }) } } }, async () => ({ id: 'a', secret: 'internal' }));
    const response = await app.inject('/item');
    expect(response.json()).toEqual({ id: 'a' });
    await app.close();
  });

  it('stop the server at startup when a response schema cannot be compiled, instead of sending unfiltered JSON', async () => {
    const app = Fastify();
    useZodSchemas(app);
    // Not a zod schema: nothing can say which fields may be sent.
    app.get('/broken', { schema: { response: { 200: { notAZodSchema: true } } } }, async () => ({ secret: 'internal' }));
    await expect(app.ready()).rejects.toThrow(/cannot be compiled into a serializer/);
    await app.close();
  });

  it('compile on first use, and every pending one compiles (as the server does once it listens)', async () => {
    const app = await buildTestApp();
    const first = await app.inject('/v1/modules');
    expect(first.statusCode).toBe(200);
    await expect(compilePendingSerializers()).resolves.toBeUndefined();
    expect((await app.inject('/v1/modules')).body).toBe(first.body);
    await app.close();
  });
});
