#!/usr/bin/env node
import { main } from './program.js';

await main(['writer', ...process.argv.slice(2)]);
