/** `klaviyo-sync render replication.yaml`: the JSON input for `temporal workflow start --input-file`. */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { replicationToJson } from '../../config/replication';
import { readConfigFile } from './files';

export function registerRenderCommand(program: Command): void {
  program
    .command('render')
    .description('Print the JSON input of the replicate workflow, for `temporal workflow start --input-file`')
    .argument('<replication.yaml>', 'replication config')
    .option('-o, --output <file>', 'write to a file instead of stdout')
    .action((file: string, opts: { output?: string }) => {
      const json = replicationToJson(readConfigFile(file), { source: file, name: path.basename(file).replace(/\.ya?ml$/i, '') });
      if (opts.output) fs.writeFileSync(opts.output, json);
      else process.stdout.write(json);
    });
}
