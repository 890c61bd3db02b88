#!/usr/bin/env node
// The `aether` command: a shim over the compiled CLI (run `npm run build` first).
import { main } from '../dist/cli/main.js';

await main();
