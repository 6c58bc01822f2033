#!/usr/bin/env node
'use strict';
// Runs the TypeScript CLI through tsx, so the package works from a clone with no build step.
require('tsx/cjs');
require('../client/cli.ts');
