/** Tests take free ports from the same helper the demo uses. */
export { freePort, freePorts } from '../../src/lib/free-port.js';
