#!/usr/bin/env node
'use strict';
// Runs the TypeScript CLI through tsx, so the package works from a clone with no build step. A worker given
// KLAVIYO_SYNC_WORKER_HEAP_MB runs in a thread of that heap, started before the CLI is loaded (worker/heap-thread.ts).
require('tsx/cjs');
if (process.argv[2] === 'worker') require('../worker/heap-thread.ts').startWorkerCommand(process.argv.slice(2));
else require('../client/cli.ts');
