#!/usr/bin/env -S node --max-semi-space-size=1
// The V8 flag keeps the young generation small: resident memory under load measured 162 MB without it and
// 126 MB with it, at the same throughput (bench/RESULTS.md). It must be given on the command line.
import { main } from './index.js';

process.exitCode = await main(process.argv.slice(2));
