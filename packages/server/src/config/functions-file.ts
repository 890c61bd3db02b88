/**
 * Reading a functions file (seed 000's YAML) as a node uses it: parse and
 * validate with file, line and field, then check what needs the disk (handlers
 * exist and are executable, code and modules exist) and make every path
 * absolute, resolved from the file's own directory. Shared by `validate`,
 * `up`, `deploy` (client side) and the node's deploy route.
 */
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import {
  configInvalid,
  functionsFileLine,
  parseFunctionsFile,
  type ConfigProblem,
  type ResolvedFunctionsFile,
} from '@aether/core';

/** Problems of the files a functions file names, relative to the file's directory. */
export function checkFunctionPaths(
  file: ResolvedFunctionsFile,
  baseDir: string,
  lineOf: (path: (string | number)[]) => number | undefined = () => undefined,
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  file.functions.forEach((fn, i) => {
    const check = (key: 'handler_path' | 'code' | 'wasm', value: string | undefined, executable: boolean): void => {
      if (value === undefined) return;
      const full = path.resolve(baseDir, value);
      if (!existsSync(full)) {
        problems.push({
          line: lineOf(['functions', i, key]),
          key: `functions[${i}].${key}`,
          message: `${value} does not exist`,
        });
        return;
      }
      if (executable) {
        try {
          if (!statSync(full).isFile()) throw new Error('not a file');
          accessSync(full, constants.X_OK);
        } catch {
          problems.push({
            line: lineOf(['functions', i, key]),
            key: `functions[${i}].${key}`,
            message: `${value} is not an executable file (chmod +x, and a #! line for scripts)`,
          });
        }
      }
    };
    check('handler_path', fn.handlerPath, true);
    check('code', fn.code, false);
    check('wasm', fn.wasm, false);
  });
  return problems;
}

/**
 * Parses and checks a functions file's text; `fileName` is how errors name it,
 * `filePath` its absolute path (relative handler paths are resolved from its directory).
 * @throws TerminalError AETHER_E_CONFIG_INVALID naming file, line and field of every problem
 */
export function loadFunctionsFile(text: string, fileName: string, filePath: string): ResolvedFunctionsFile {
  const parsed = parseFunctionsFile(text, fileName);
  const baseDir = path.dirname(filePath);
  const problems = checkFunctionPaths(parsed, baseDir, (p) => functionsFileLine(text, p));
  if (problems.length > 0) throw configInvalid(fileName, problems);
  const abs = (p: string | undefined): string | undefined => (p === undefined ? undefined : path.resolve(baseDir, p));
  return {
    ...parsed,
    functions: parsed.functions.map((fn) => ({
      ...fn,
      handlerPath: abs(fn.handlerPath),
      code: abs(fn.code),
      wasm: abs(fn.wasm),
    })),
  };
}
