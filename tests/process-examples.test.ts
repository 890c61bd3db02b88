/**
 * Seed 000's examples, run as written in examples/handlers (only the ports
 * are moved to free ones): the REST API, the image resizer with Debian's
 * Pillow, the Rust handler built by `npm run build`, and the three-service
 * setup, each through Aether's trigger ports.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseFunctionsFile } from '@aether/core';
import { createOrchestrator, type Orchestrator } from '@aether/functions';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT, freeNamedPort } from './support/processes.js';

const HANDLERS = path.join(ROOT, 'examples/handlers');
const running: Orchestrator[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((o) => o.close(500)));
});

/** Starts an example file with its ports replaced by free ones; returns the port of each function id. */
async function runExample(file: string): Promise<Record<string, number>> {
  let text = readFileSync(path.join(HANDLERS, file), 'utf8').replace(
    /handler_path: \.\//g,
    `handler_path: ${HANDLERS}/`,
  );
  const ports: number[] = [];
  for (const m of text.matchAll(/trigger_port: (\d+)/g)) ports.push(Number(m[1]));
  const fresh = await Promise.all(ports.map(() => freeNamedPort()));
  let i = 0;
  text = text.replace(/trigger_port: \d+/g, () => `trigger_port: ${fresh[i++]}`);
  // Keep the examples' own warm pools small here: two cores run the whole suite.
  text = text.replace(/warm_pool_size: \d+/, 'warm_pool_size: 0');
  const parsed = parseFunctionsFile(text, file);
  const o = createOrchestrator();
  running.push(o);
  await o.deploy({ ...parsed, orchestrator: { ...parsed.orchestrator, warmPoolSize: 0 } }, file);
  return Object.fromEntries(parsed.functions.map((f) => [f.id, f.triggerPort!]));
}

describe("seed 000's examples", () => {
  it('Example 1: the REST API answers its routes and creates with POST', async () => {
    const { 'rest-api': port } = await runExample('api.yaml');
    const users = await fetch(`http://127.0.0.1:${port}/users`);
    expect([users.status, await users.json()]).toEqual([200, { users: [{ id: 1, name: 'Alice' }] }]);
    expect((await fetch(`http://127.0.0.1:${port}/nope`)).status).toBe(404);
    const created = await fetch(`http://127.0.0.1:${port}/users`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Bob' }),
    });
    expect([created.status, await created.json()]).toEqual([201, { created: { name: 'Bob' } }]);
  });

  it('Example 2: the image processor resizes a PNG to a WEBP of MAX_SIZE with Pillow', async () => {
    const { 'image-resize': port } = await runExample('image-processor.yaml');
    const png = execFileSync('/usr/bin/python3', [
      '-c',
      "import io,sys\nfrom PIL import Image\nb=io.BytesIO()\nImage.new('RGB',(3000,2000),(200,40,90)).save(b,format='PNG')\nsys.stdout.buffer.write(b.getvalue())",
    ]);
    const res = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: png });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/webp');
    const out = Buffer.from(await res.arrayBuffer());
    const size = execFileSync(
      '/usr/bin/python3',
      [
        '-c',
        'import io,sys\nfrom PIL import Image\ni=Image.open(io.BytesIO(sys.stdin.buffer.read()))\nprint(i.format,i.size[0],i.size[1])',
      ],
      { input: out },
    )
      .toString()
      .trim();
    expect(size).toBe('WEBP 1024 683');
  });

  it('Example 3: the Rust handler (built with rustc) answers through its trigger port', async () => {
    const binary = path.join(HANDLERS, 'build/rust-handler');
    expect(existsSync(binary), `${binary} is built by npm run build (scripts/build-examples.sh, needs rustc)`).toBe(
      true,
    );
    const { 'rust-api': port } = await runExample('rust-handler.yaml');
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`http://127.0.0.1:${port}/`);
      expect([res.status, await res.json()]).toEqual([200, { status: 'ok' }]);
    }
  });

  it('Example 4: the three services run side by side, each on its own port', async () => {
    const ports = await runExample('microservices.yaml');
    expect(Object.keys(ports)).toEqual(['auth-service', 'user-service', 'notification-service']);
    const login = await fetch(`http://127.0.0.1:${ports['auth-service']}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'alice' }),
    });
    const { token } = (await login.json()) as { token: string };
    const verify = await fetch(`http://127.0.0.1:${ports['auth-service']}/verify`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(await verify.json()).toMatchObject({ valid: true, username: 'alice', function: 'auth-service' });
    const user = await fetch(`http://127.0.0.1:${ports['user-service']}/users/2`);
    expect(await user.json()).toMatchObject({ user: { id: 2, name: 'Bob' }, function: 'user-service' });
    const notify = await fetch(`http://127.0.0.1:${ports['notification-service']}/notify`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ to: 'alice@example.com', message: 'Welcome!' }),
    });
    expect(notify.status).toBe(202);
  });
});
