// A database handle: the interface both backends (pglite.ts, postgres.ts) implement, and the
// helpers they share for int8 values, finished transactions and savepoints.

export interface Database {
  readonly kind: 'pglite' | 'postgres';
  /** Rows of one statement; `$1`-style parameters. bigint columns come back as numbers (see parseInt8). */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Multi-statement SQL without parameters (migrations, DDL). */
  exec(sql: string): Promise<void>;
  /**
   * Runs fn inside BEGIN/COMMIT (ROLLBACK when it throws). Use only `tx` inside fn: on PGlite the
   * outer handle waits for the transaction to end, so awaiting it from inside fn deadlocks.
   * Nested calls on `tx` become savepoints.
   */
  transaction<T>(fn: (tx: Database) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/**
 * int8 text → number. Offsets and sizes stay far below 2^53; a larger value comes back as a
 * bigint rather than silently losing precision (PGlite's own rule, applied to both backends).
 */
export function parseInt8(text: string): number | bigint {
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : BigInt(text);
}

/** Wraps a transaction handle so it refuses use after its transaction has ended. */
export function guardFinished(tx: Database, finished: () => boolean): Database {
  const check = () => {
    if (finished()) throw new Error('transaction handle used after its transaction ended');
  };
  return {
    kind: tx.kind,
    query: async (sql, params) => (check(), tx.query(sql, params)),
    exec: async (sql) => (check(), tx.exec(sql)),
    transaction: async (fn) => (check(), tx.transaction(fn)),
    close: async () => {
      throw new Error('close the database, not a transaction handle');
    },
  };
}

/**
 * A nested `transaction` call: runs fn inside a savepoint of the open transaction `tx`, handing it
 * a handle one level deeper (`nested(depth + 1)`).
 */
export async function withSavepoint<T>(
  tx: Database,
  depth: number,
  fn: (tx: Database) => Promise<T>,
  nested: (depth: number) => Database,
): Promise<T> {
  const name = `fileset_sp_${depth}`;
  await tx.query(`SAVEPOINT ${name}`);
  let done = false;
  try {
    const result = await fn(guardFinished(nested(depth + 1), () => done));
    await tx.query(`RELEASE SAVEPOINT ${name}`);
    return result;
  } catch (err) {
    // If even the rollback fails (connection lost), the caller's error is the one that matters.
    await tx.query(`ROLLBACK TO SAVEPOINT ${name}`).catch(() => undefined);
    throw err;
  } finally {
    done = true;
  }
}
