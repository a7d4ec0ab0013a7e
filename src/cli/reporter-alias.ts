#!/usr/bin/env node
import { main } from './program.js';

await main(['reporter', ...process.argv.slice(2)]);
