/**
 * `aether init <name> [--output DIR]`: scaffolds a runnable TypeScript project
 * that uses the SDK. Inside this repository's checkout the SDK dependency
 * points at the local `packages/sdk` (a `file:` spec), since it resolves
 * without a registry; elsewhere it is the published package.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { aetherError } from '@aether/core';
import type { CliIo } from './io.js';
import { projectFiles, SDK_PACKAGE } from './init-templates.js';

/** Options of `aether init`. */
export interface InitOptions {
  /** Directory of the new project. @default ./<name> */
  output?: string | undefined;
}

/** The result of a scaffold. */
export interface InitResult {
  dir: string;
  files: string[];
  sdkSpec: string;
}

/** npm's rules for package names (lowercase, URL-safe, optional scope). */
const NPM_NAME = /^(?:@[a-z0-9-~][a-z0-9-._~]*\/)?[a-z0-9-~][a-z0-9-._~]*$/;

/** The SDK package of this checkout, when the CLI runs from one (dist/cli -> packages/sdk). */
export function localSdkDir(): string | undefined {
  const dir = fileURLToPath(new URL('../../../sdk', import.meta.url));
  try {
    const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown };
    return pkg.name === SDK_PACKAGE ? dir : undefined;
  } catch {
    return undefined;
  }
}

/** The dependency spec of the SDK for a project in `targetDir`. */
export function sdkSpecFor(targetDir: string, sdkDir: string | undefined): string {
  if (sdkDir === undefined) return '^0.1.0';
  const rel = path.relative(targetDir, sdkDir).split(path.sep).join('/');
  // Relative inside the checkout (survives moving the checkout), absolute elsewhere.
  const repoRoot = path.resolve(sdkDir, '../..');
  const inside = !path.relative(repoRoot, targetDir).startsWith('..');
  return `file:${inside ? rel : sdkDir}`;
}

function isNonEmptyDir(dir: string): boolean {
  if (!existsSync(dir)) return false;
  if (!statSync(dir).isDirectory()) return true;
  return readdirSync(dir).length > 0;
}

/**
 * Writes the project.
 * @throws TerminalError AETHER_E_USAGE (bad name), AETHER_E_INIT_TARGET_EXISTS
 */
export function initProject(name: string, options: InitOptions, io: CliIo): InitResult {
  const packageName = name;
  if (!NPM_NAME.test(packageName) || packageName.length > 214) {
    throw aetherError(
      'AETHER_E_USAGE',
      `"${name}" is not a valid project name: use lowercase letters, digits, "-", "_" and "."`,
      { name },
    );
  }
  // A scoped name (@org/app) goes to ./app by default.
  const dir = path.resolve(io.cwd, options.output ?? packageName.split('/').pop() ?? packageName);
  if (isNonEmptyDir(dir)) {
    throw aetherError('AETHER_E_INIT_TARGET_EXISTS', `${dir} already exists and is not empty`, { dir });
  }
  const sdkSpec = sdkSpecFor(dir, localSdkDir());
  const files = projectFiles({ name: packageName, sdkSpec });
  for (const [file, content] of Object.entries(files)) {
    const target = path.join(dir, file);
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, content, { flag: 'wx' });
  }
  return { dir, files: Object.keys(files), sdkSpec };
}

/** `aether init`: writes the project and tells the user what to run next. */
export function runInit(name: string, options: InitOptions, io: CliIo): void {
  const result = initProject(name, options, io);
  const shown = path.relative(io.cwd, result.dir) || '.';
  io.stdout(`created ${shown}/ (${result.files.join(', ')})\n`);
  io.stdout(`SDK dependency: ${SDK_PACKAGE}@${result.sdkSpec}\n\n`);
  io.stdout(`next:\n  cd ${shown}\n  npm install\n  aether serve   # in another terminal\n  npm run dev\n`);
}
