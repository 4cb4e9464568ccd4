import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

describe('configuration from the environment', () => {
  it('has working defaults', () => {
    expect(loadConfig({})).toMatchObject({
      env: 'production',
      host: '127.0.0.1',
      port: 3000,
      databasePath: './data/mnemo.db',
      seedDir: './seed',
      seedOnStart: true,
      sqlite: { synchronous: 'NORMAL', busyTimeoutMs: 5000 },
    });
  });

  it('reads and coerces values, treating empty strings as unset', () => {
    expect(loadConfig({ PORT: '8080', HOST: '0.0.0.0', DATABASE_PATH: '/tmp/x.db', SEED_ON_START: 'false', SQLITE_SYNCHRONOUS: 'FULL', LOG_LEVEL: '' })).toMatchObject({
      port: 8080,
      host: '0.0.0.0',
      databasePath: '/tmp/x.db',
      seedOnStart: false,
      sqlite: { synchronous: 'FULL' },
      logLevel: 'info',
    });
  });

  it('names every bad variable and its value', () => {
    let message = '';
    try {
      loadConfig({ PORT: '70000', SEED_ON_START: 'maybe', NODE_ENV: 'staging' });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      message = (error as Error).message;
    }
    expect(message).toContain('PORT="70000"');
    expect(message).toContain('SEED_ON_START="maybe"');
    expect(message).toContain('NODE_ENV="staging"');
  });
});
