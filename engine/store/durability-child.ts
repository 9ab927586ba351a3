/**
 * Test helper (not a test): opens a store from the JSON options in argv[2], then receives
 * messages with 4 concurrent writers forever, printing "<id> <n>" after each receive()
 * resolved. The durability test SIGKILLs it and checks every printed id survived.
 */
import { openStore, type OpenStoreOptions } from './index.js';

const options = JSON.parse(process.argv[2] ?? '{}') as OpenStoreOptions;
const store = await openStore(options);
let n = 0;

async function writer(): Promise<never> {
  for (;;) {
    const k = n++;
    const id = await store.receive({
      channel: 'durable', receivedAt: Date.now(), sourceKind: 'test', controlId: `D${k}`,
      patientId: `MRN${k}`, raw: Buffer.from(`MSH|^~\\&|A|B|C|D|||ADT^A01|D${k}|P|2.5\rPID|1||MRN${k}\r`),
    });
    process.stdout.write(`${id} ${k}\n`);
  }
}

await Promise.all([writer(), writer(), writer(), writer()]);
