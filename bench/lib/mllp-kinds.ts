/** The MLLP servers bench/mllp.ts compares; each runs via bench/mllp-server.ts <kind>. */
export const SERVER_KINDS = ['sluice', 'simple-hl7', 'medplum', 'echo'] as const;
export type ServerKind = (typeof SERVER_KINDS)[number];

/**
 * Ceilings for the engine benchmark (bench/engine.ts): the bare Sluice listener that also
 * appends each message to a file before its ACK, the messages of one tick in one write, as a
 * group commit does; `-fsync` adds one fdatasync per write (what `synchronous=FULL` pays);
 * `-fsync-pipelined` runs those fdatasyncs on the thread pool, several in flight.
 * No durable engine with 8 ping-pong connections can beat these on the same disk.
 */
export const CEILING_KINDS = ['sluice-append', 'sluice-fsync', 'sluice-fsync-pipelined'] as const;
export type CeilingKind = (typeof CEILING_KINDS)[number];
