#!/usr/bin/env node
'use strict';
// Runs the TypeScript CLI through tsx, so the package works from a clone with no build step. A worker runs in a thread
// of a sized heap (KLAVIYO_SYNC_WORKER_HEAP_MB, 0 for none), started before the CLI is loaded (worker/heap-thread.ts).
require('tsx/cjs');
if (process.argv[2] === 'worker') require('../worker/heap-thread.ts').startWorkerCommand(process.argv.slice(2));
else require('../client/cli.ts');
