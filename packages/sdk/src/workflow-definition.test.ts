/** Starting workflows: argument checks, generated ids, trailing start options and withOptions. */
import { describe, expect, it } from 'vitest';
import { TerminalError, type AetherError } from '@aether/core';
import type { WorkflowContext } from './context/types.js';
import { Workflow, type StartBackend } from './workflow-definition.js';

function backend() {
  const starts: { type: string; input: string; workflowId: string }[] = [];
  const b: StartBackend = {
    start: (type, input, workflowId) => {
      starts.push({ type, input, workflowId });
      return Promise.resolve(workflowId);
    },
    result: (id) => Promise.resolve(`result of ${id}`),
    startAndWait: (type, input, workflowId) => {
      starts.push({ type, input, workflowId });
      return Promise.resolve(`result of ${workflowId}`);
    },
  };
  return { b, starts };
}

describe('WorkflowDefinition.start', () => {
  it('sends the JSON argument array and a generated UUID when no id is given', async () => {
    const { b, starts } = backend();
    const wf = new Workflow('greet', async (_ctx: WorkflowContext, name: string, n: number) => `${name}${n}`, b);
    const id = await wf.start('World', 2);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-/);
    expect(starts).toEqual([{ type: 'greet', input: '["World",2]', workflowId: id }]);
  });

  it('takes a trailing { workflowId } beyond the declared arguments as start options', async () => {
    const { b, starts } = backend();
    const wf = new Workflow('greet', async (_ctx: WorkflowContext, name: string) => name, b);
    expect(await wf.start('World', { workflowId: 'greet-1' })).toBe('greet-1');
    expect(starts[0]).toEqual({ type: 'greet', input: '["World"]', workflowId: 'greet-1' });
  });

  it('keeps a declared object argument that looks like options, and other trailing objects', async () => {
    const { b, starts } = backend();
    const wf = new Workflow('takes-object', async (_ctx: WorkflowContext, opts: { workflowId: string }) => opts, b);
    await wf.start({ workflowId: 'data' });
    expect(starts[0]!.input).toBe('[{"workflowId":"data"}]');
    const two = new Workflow('one-arg', async (_ctx: WorkflowContext, a: number) => a, b);
    await (two.start as (...args: unknown[]) => Promise<string>)(1, { other: true });
    expect(starts[1]!.input).toBe('[1,{"other":true}]');
  });

  it('withOptions gives the unambiguous form', async () => {
    const { b, starts } = backend();
    const wf = new Workflow('w', async (_ctx: WorkflowContext, ...items: unknown[]) => items, b);
    await wf.withOptions({ workflowId: 'fixed' }).start({ workflowId: 'an argument' });
    expect(starts[0]).toEqual({ type: 'w', input: '[{"workflowId":"an argument"}]', workflowId: 'fixed' });
    expect(await wf.withOptions({ workflowId: 'fixed' }).startAndWait()).toBe('result of fixed');
  });

  it('rejects arguments JSON cannot represent before any call', async () => {
    const { b, starts } = backend();
    const wf = new Workflow('w', async (_ctx: WorkflowContext, v: unknown) => v, b);
    for (const bad of [() => 1, Symbol('x'), 1n, new Map(), new Set()]) {
      const error = (await wf.start(bad).catch((e: unknown) => e)) as AetherError;
      expect(error).toBeInstanceOf(TerminalError);
      expect(error.code).toBe('AETHER_E_WF_INPUT_NOT_SERIALIZABLE');
    }
    const circular: Record<string, unknown> = {};
    circular.me = circular;
    await expect(wf.startAndWait(circular)).rejects.toMatchObject({ code: 'AETHER_E_WF_INPUT_NOT_SERIALIZABLE' });
    expect(starts).toEqual([]);
  });

  it('rejects an empty workflowId', async () => {
    const { b } = backend();
    const wf = new Workflow('w', async (_ctx: WorkflowContext) => 1, b);
    expect(() => wf.withOptions({ workflowId: '' })).toThrow(TerminalError);
  });

  it('startAndWait outside a workflow starts and waits for the result', async () => {
    const { b, starts } = backend();
    const wf = new Workflow('w', async (_ctx: WorkflowContext, n: number) => n, b);
    expect(await wf.startAndWait(1, { workflowId: 'w-1' })).toBe('result of w-1');
    expect(starts).toHaveLength(1);
  });
});
