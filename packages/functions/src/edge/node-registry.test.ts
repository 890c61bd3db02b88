/** Tests of the control plane's node registry, on a memory store with an injected clock. */
import { AetherError } from '@aether/core';
import { describe, expect, it } from 'vitest';
import { createMemoryFunctionStore } from '../registry/memory-function-store.js';
import { checkNodeUrl, createNodeRegistry, type EdgeNodeView } from './node-registry.js';

function setup(nodeTimeoutMs = 30_000) {
  let now = Date.parse('2026-01-01T00:00:00Z');
  const changes: EdgeNodeView[] = [];
  const store = createMemoryFunctionStore();
  const nodes = createNodeRegistry({
    store,
    nodeTimeoutMs,
    clock: () => now,
    onStatusChange: (n) => changes.push(n),
  });
  return { nodes, store, changes, advance: (ms: number) => (now += ms) };
}

describe('node registry', () => {
  it('marks a node down once its last heartbeat is older than node_timeout, and up again on a heartbeat', async () => {
    const { nodes, advance, changes } = setup(30_000);
    await nodes.register('edge-01', 'http://10.0.0.5:9091/');
    expect(nodes.list().map((n) => [n.nodeId, n.url, n.status])).toEqual([['edge-01', 'http://10.0.0.5:9091', 'up']]);
    advance(30_000);
    expect(nodes.list()[0]?.status).toBe('up');
    advance(1);
    expect(nodes.list()[0]).toMatchObject({ status: 'down', downReason: 'no heartbeat for over 30000 ms' });
    expect(nodes.pickOrder()).toEqual([]);
    await nodes.register('edge-01', 'http://10.0.0.5:9091');
    expect(nodes.list()[0]?.status).toBe('up');
    expect(changes.map((c) => c.status)).toEqual(['down', 'up']);
  });

  it('keeps registeredAt across heartbeats and follows a changed URL', async () => {
    const { nodes, advance } = setup();
    const first = await nodes.register('a', 'http://127.0.0.1:1');
    advance(5000);
    const again = await nodes.register('a', 'http://127.0.0.1:2');
    expect(again.registeredAt).toBe(first.registeredAt);
    expect(again.lastSeenAt).not.toBe(first.lastSeenAt);
    expect(again.url).toBe('http://127.0.0.1:2');
  });

  it('rotates over healthy nodes and skips one marked down until it heartbeats again', async () => {
    const { nodes, advance } = setup();
    for (const id of ['a', 'b', 'c']) await nodes.register(id, `http://${id}:9091`);
    const firsts = [0, 1, 2, 3].map(() => nodes.pickOrder()[0]?.nodeId);
    expect(firsts).toEqual(['a', 'b', 'c', 'a']);
    nodes.markDown('b', 'execute failed: ECONNREFUSED');
    expect(nodes.pickOrder().map((n) => n.nodeId)).not.toContain('b');
    expect(nodes.list().find((n) => n.nodeId === 'b')).toMatchObject({
      status: 'down',
      downReason: 'execute failed: ECONNREFUSED',
    });
    advance(1);
    await nodes.register('b', 'http://b:9091');
    expect(nodes.pickOrder().map((n) => n.nodeId)).toContain('b');
  });

  it('records callback events, keeps cache stats on the node, and takes a stopping node out at once', async () => {
    const { nodes } = setup();
    await nodes.register('a', 'http://a:9091');
    await nodes.recordEvent('cache_stats', { node_id: 'a', cache: { hits: 3 } });
    expect(nodes.list()[0]?.stats).toEqual({ node_id: 'a', cache: { hits: 3 } });
    await nodes.recordEvent('node_stopping', { node_id: 'a' });
    expect(nodes.list()[0]?.status).toBe('down');
    expect(nodes.events().map((e) => e.event)).toEqual(['cache_stats', 'node_stopping']);
    await expect(nodes.recordEvent('deployed', { node_id: 'ghost' })).rejects.toMatchObject({
      code: 'AETHER_E_NODE_NOT_FOUND',
    });
  });

  it('bounds the kept events', async () => {
    const store = createMemoryFunctionStore();
    const nodes = createNodeRegistry({ store, nodeTimeoutMs: 1000, maxEvents: 3 });
    for (let i = 0; i < 5; i++) await nodes.recordEvent('custom', { i });
    expect(nodes.events().map((e) => e.data.i)).toEqual([2, 3, 4]);
  });

  it('loads persisted nodes on start (a control-plane restart keeps them)', async () => {
    const { nodes, store } = setup();
    await nodes.register('a', 'http://a:9091');
    const restarted = createNodeRegistry({
      store,
      nodeTimeoutMs: 30_000,
      clock: () => Date.parse('2026-01-01T00:00:10Z'),
    });
    await restarted.start();
    restarted.stop();
    expect(restarted.list().map((n) => [n.nodeId, n.status])).toEqual([['a', 'up']]);
  });

  it('refuses bad node ids and URLs with AETHER_E_INVALID_ARGUMENT', async () => {
    const { nodes } = setup();
    for (const [id, url] of [
      ['', 'http://a:1'],
      ['bad id', 'http://a:1'],
      ['a', 'not a url'],
      ['a', 'ftp://a:1'],
      ['a', 'http://user:pw@a:1'],
    ] as const) {
      const err = await nodes.register(id, url).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AetherError);
      expect((err as AetherError).code).toBe('AETHER_E_INVALID_ARGUMENT');
    }
    expect(nodes.list()).toEqual([]);
    expect(checkNodeUrl('https://edge.example.com/base/')).toBe('https://edge.example.com/base');
  });
});
