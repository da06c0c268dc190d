// Argument handling shared by the `chexzoo` subcommands.
import { parseArgs, type ParseArgsConfig } from 'node:util';

// @types/node does not export ParsedResults
type ParsedResults<T extends ParseArgsConfig> = ReturnType<typeof parseArgs<T>>;

/**
 * Parses a subcommand's arguments. A usage error is printed with the usage text (exit code 2), `--help`
 * prints the usage (exit code 0); either way the exit code is returned instead of the parsed values.
 * @example const parsed = parseCommand('synth', USAGE, { args: argv, options }); if (typeof parsed === 'number') return parsed;
 */
export function parseCommand<T extends ParseArgsConfig>(command: string, usage: string, config: T): ParsedResults<T> | number {
  let parsed: ParsedResults<T>;
  try {
    parsed = parseArgs(config);
  } catch (e) {
    process.stderr.write(`chexzoo ${command}: ${(e as Error).message}\n\n${usage}`);
    return 2;
  }
  if ((parsed.values as Record<string, unknown>).help) {
    process.stdout.write(usage);
    return 0;
  }
  return parsed;
}
