import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startWriterStack, BASE, type WriterStack } from '../support/writer-stack.js';
import { startHttpBackend, httpGet, type HttpBackend } from '../support/http-backends.js';
import { freePorts } from '../support/ports.js';
import { waitFor } from '../support/wait-for.js';
import { writeOriginalNode } from '../support/zookeeper.js';

/**
 * A member is registered but refuses connections (its service listens on
 * 127.0.0.1 only while the reporter registered the machine's address, or it
 * died after registering): requests through the frontend must still succeed
 * on the other member, in http mode and in tcp mode.
 */
for (const mode of ['http', 'tcp'] as const) {
  describe(`a registered member that refuses connections (${mode} mode)`, () => {
    let stack: WriterStack;
    let healthy: HttpBackend;
    let deadPort: number;
    let frontPort: number;

    before(async () => {
      healthy = await startHttpBackend('alive');
      [deadPort, frontPort] = await freePorts(2);
      stack = await startWriterStack({
        clusters: ['web'],
        files: { 'clusters/web.yaml': `discovery: zookeeper\nhaproxy:\n  port: ${frontPort}\n${mode === 'tcp' ? '  backend: ["mode tcp"]\n  frontend: ["mode tcp"]\n' : ''}` },
      });
      await writeOriginalNode(stack.admin, BASE, 'web', { host: 'alive.test', ip: '127.0.0.1', port: healthy.port, peer: null });
      await writeOriginalNode(stack.admin, BASE, 'web', { host: 'dead.test', ip: '127.0.0.1', port: deadPort!, peer: null });
      await waitFor(async () => (await stack.serving('web')).size === 2, 'HAProxy to route both members', 20_000);
    });

    after(async () => {
      await stack?.close();
      await healthy?.close();
    });

    test('no request fails while the refusing member stays registered', async () => {
      const failures: string[] = [];
      const started = Date.now();
      for (let index = 0; index < 30; index += 1) {
        try {
          const answer = await httpGet(frontPort, `/${index}`, {}, 15_000);
          if (answer.status !== 200 || !answer.body.startsWith('alive')) failures.push(`request ${index}: ${answer.status} ${answer.body.slice(0, 80)}`);
        } catch (error) {
          failures.push(`request ${index}: ${(error as Error).message}`);
        }
      }
      console.log(`# ${mode}: 30 requests in ${Date.now() - started} ms`);
      assert.deepEqual(failures, []);
    });
  });
}
