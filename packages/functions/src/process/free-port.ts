/**
 * A free TCP port on loopback for an instance's private AETHER_TRIGGER_PORT,
 * never one of `avoid` (the trigger ports the orchestrator serves or is about
 * to bind), which the kernel could otherwise hand out.
 */
import { createServer } from 'node:net';

export async function freePort(avoid: ReadonlySet<number> = new Set()): Promise<number> {
  for (;;) {
    const srv = createServer();
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', resolve);
    });
    const addr = srv.address();
    const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
    await new Promise<void>((resolve) => srv.close(() => resolve()));
    if (!avoid.has(port)) return port;
  }
}
