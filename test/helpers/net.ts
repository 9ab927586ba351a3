/** A port nothing listens on right now (bound to port 0 on 127.0.0.1, then released). */
export { freePort } from '../../engine/kafka/process.js';
