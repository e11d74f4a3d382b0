import crypto from "node:crypto";
import { insertAuditEvent, type AuditEventType } from "../db/audit-events.js";
import { closeDatabase, openDatabase } from "../db/knex.js";

/**
 * Records a backup or a restore in the instance's audit trail (the database `databaseUrl` names),
 * with no actor (a command line, not a user) and no subject (the whole instance). Never fails the
 * command: a database that refuses the write is reported on stderr by the caller.
 */
export async function recordBackupEvent(databaseUrl: string, type: Extract<AuditEventType, `backup.${string}`>, data: Record<string, unknown>): Promise<void> {
  const db = openDatabase(databaseUrl);
  try {
    await insertAuditEvent(db, {
      id: crypto.randomUUID(),
      type,
      actor_user_id: null,
      subject_id: null,
      data: JSON.stringify(data),
      client_address: null,
      user_agent: null,
      created_at: new Date().toISOString(),
    });
  } finally {
    await closeDatabase(db);
  }
}
