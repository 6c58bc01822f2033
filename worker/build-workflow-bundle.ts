/**
 * `node --import tsx worker/build-workflow-bundle.ts <out.js> [--tracing]`: bundles the workflows (as Worker.create
 * would from `workflowsPath`) into one file, quietly; with `--tracing`, with the OpenTelemetry workflow interceptors
 * (worker/tracing.ts). Run by worker/workflow-bundle.ts in its own process, so the memory webpack takes is given back
 * when it exits.
 */
import fs from 'node:fs';
import { bundleWorkflowCode } from '@temporalio/worker';
import { WORKFLOW_TRACING_MODULE } from './tracing';

async function main(): Promise<void> {
  const out = process.argv[2];
  if (!out) throw new Error('usage: build-workflow-bundle.ts <out.js> [--tracing]');
  const tracing = process.argv.slice(3).includes('--tracing');
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    ...(tracing ? { workflowInterceptorModules: [require.resolve(WORKFLOW_TRACING_MODULE)] } : {}),
    // the map without the sources' text: stack traces still name file, line and column
    webpackConfigHook: (config) => ({ ...config, devtool: 'inline-nosources-source-map' }),
    logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: (m: string) => console.error(m) },
  });
  fs.writeFileSync(out, code);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
