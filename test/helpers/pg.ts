import pg from 'pg';

/** The PostgreSQL the tests and benches use: SLUICE_TEST_PG_URL or the machine's local `test` database. */
export const PG_URL = process.env.SLUICE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Drops a throwaway schema (and its tables) on its own connection. */
export async function dropSchema(schema: string, url = PG_URL): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await client.end();
  }
}
