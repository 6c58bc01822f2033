/**
 * The `klaviyo-sync` command line. Each subcommand lives in the module that owns it; this file only wires them.
 */
import { Command } from 'commander';
import { registerSandboxCommand } from '@klaviyo-sync/sandbox/cli';
import { registerRunCommand } from './commands/run';
import { registerWorkerCommand } from './commands/worker';
import { registerRenderCommand } from './commands/render';
import { registerDiscoverCommand } from './commands/discover';
import { registerConnsCommand } from './commands/conns';
import { registerScheduleCommand } from './commands/schedule';
import { registerStatusCommand } from './commands/status';
import { registerStateCommand } from './commands/state';
import { registerDemoCommand } from './commands/demo';
import { shutdownTracing } from '../worker/tracing';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('klaviyo-sync')
    .description('Replicate a Klaviyo account into Postgres or SQLite, orchestrated by Temporal.')
    .showHelpAfterError()
    // commander repeats an unknown option or argument whole: a line of it is cut, like every echo of input
    .configureOutput({ outputError: (text, write) => write(text.replace(/^(.{100}).+$/gm, '$1…')) })
    .configureHelp({ sortSubcommands: false });
  registerRunCommand(program);
  registerWorkerCommand(program);
  registerStatusCommand(program);
  registerStateCommand(program);
  registerRenderCommand(program);
  registerDiscoverCommand(program);
  registerConnsCommand(program);
  registerScheduleCommand(program);
  registerDemoCommand(program);
  registerSandboxCommand(program);
  return program;
}

/**
 * Parses `argv` and runs its command; an error is one line on stderr and the exit code (also in a worker's heap
 * thread). Either way the spans not yet exported are flushed first, when tracing is on (worker/tracing.ts).
 */
export function runCli(argv: string[] = process.argv): void {
  buildProgram()
    .parseAsync(argv)
    .then(() => shutdownTracing())
    .catch(async (err: unknown) => {
      process.stderr.write(`klaviyo-sync: ${err instanceof Error ? err.message : String(err)}\n`);
      await shutdownTracing();
      process.exit(err instanceof Error && err.name === 'Interrupted' ? 130 : 1);
    });
}

if (require.main === module || process.argv[1]?.endsWith('klaviyo-sync.js') || process.argv[1]?.endsWith('klaviyo-sync')) {
  runCli();
}
