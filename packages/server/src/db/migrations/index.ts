import type { Knex } from "knex";
import type { Migration } from "./migration.js";
import { migration as m20261127000000 } from "./20261127000000_users_and_tokens.js";
import { migration as m20261127000100 } from "./20261127000100_packages_and_files.js";
import { migration as m20261127000200 } from "./20261127000200_recipient_side.js";
import { migration as m20261127000300 } from "./20261127000300_dead_links.js";
import { migration as m20261128000000 } from "./20261128000000_file_name_keys.js";
import { migration as m20261128000100 } from "./20261128000100_completion_file_count.js";
import { migration as m20261128000200 } from "./20261128000200_idempotency_keys.js";
import { migration as m20261128000300 } from "./20261128000300_webhooks.js";
import { migration as m20261128000400 } from "./20261128000400_list_indexes.js";
import { migration as m20261128000500 } from "./20261128000500_counters.js";
import { migration as m20261129000000 } from "./20261129000000_web_sessions.js";
import { migration as m20261130000000 } from "./20261130000000_recipient_links.js";
import { migration as m20261130100000 } from "./20261130100000_uploads.js";
import { migration as m20261130200000 } from "./20261130200000_rate_limits.js";
import { migration as m20261130400000 } from "./20261130400000_blob_deletions.js";
import { migration as m20261130500000 } from "./20261130500000_upload_chunks.js";
import { migration as m20261201000000 } from "./20261201000000_mail_outbox.js";
import { migration as m20261201100000 } from "./20261201100000_token_scopes.js";
import { migration as m20261207000000 } from "./20261207000000_web_session_flashes.js";
import { migration as m20261207100000 } from "./20261207100000_trust_policies_and_audit_events.js";
import { migration as m20261208100000 } from "./20261208100000_event_cursors.js";
import { migration as m20261209200001 } from "./20261209200001_upload_lock_wanted.js";
import { migration as m20261209300000 } from "./20261209300000_files_storage_key_index.js";
import { migration as m20261209400000 } from "./20261209400000_webhook_circuits.js";
import { migration as m20261209500000 } from "./20261209500000_instance_meta.js";
import { migration as m20261209600000 } from "./20261209600000_webhook_circuits_per_owner.js";
import { migration as m20261210000000 } from "./20261210000000_end_to_end_encryption.js";
import { migration as m20261211100000 } from "./20261211100000_single_sign_on.js";
import { migration as m20261211200000 } from "./20261211200000_instance_policy_and_quota.js";
import { migration as m20261211300000 } from "./20261211300000_audit_export.js";
import { migration as m20261211400000 } from "./20261211400000_password_reset_tokens.js";

// Migrations live in code (one file each, listed here) rather than being loaded from a folder,
// so the compiled server and the tests run the same list without a file-system lookup. knex
// records each by its name in `knex_migrations`: a name never changes once released. A new
// migration is a new file `YYYYMMDDHHMMSS_what.ts` and one line at the end of this list, which
// is in run order (test/migrations.test.ts checks it is sorted and matches the folder).

/** Every migration, in run order (sorted by name). */
export const migrations: readonly (readonly [name: string, migration: Migration])[] = [
  ["20261127000000_users_and_tokens", m20261127000000],
  ["20261127000100_packages_and_files", m20261127000100],
  ["20261127000200_recipient_side", m20261127000200],
  ["20261127000300_dead_links", m20261127000300],
  ["20261128000000_file_name_keys", m20261128000000],
  ["20261128000100_completion_file_count", m20261128000100],
  ["20261128000200_idempotency_keys", m20261128000200],
  ["20261128000300_webhooks", m20261128000300],
  ["20261128000400_list_indexes", m20261128000400],
  ["20261128000500_counters", m20261128000500],
  ["20261129000000_web_sessions", m20261129000000],
  ["20261130000000_recipient_links", m20261130000000],
  ["20261130100000_uploads", m20261130100000],
  ["20261130200000_rate_limits", m20261130200000],
  ["20261130400000_blob_deletions", m20261130400000],
  ["20261130500000_upload_chunks", m20261130500000],
  ["20261201000000_mail_outbox", m20261201000000],
  ["20261201100000_token_scopes", m20261201100000],
  ["20261207000000_web_session_flashes", m20261207000000],
  ["20261207100000_trust_policies_and_audit_events", m20261207100000],
  ["20261208100000_event_cursors", m20261208100000],
  ["20261209200001_upload_lock_wanted", m20261209200001],
  ["20261209300000_files_storage_key_index", m20261209300000],
  ["20261209400000_webhook_circuits", m20261209400000],
  ["20261209500000_instance_meta", m20261209500000],
  ["20261209600000_webhook_circuits_per_owner", m20261209600000],
  ["20261210000000_end_to_end_encryption", m20261210000000],
  ["20261211100000_single_sign_on", m20261211100000],
  ["20261211200000_instance_policy_and_quota", m20261211200000],
  ["20261211300000_audit_export", m20261211300000],
  ["20261211400000_password_reset_tokens", m20261211400000],
];

const byName = new Map(migrations);

export const migrationSource: Knex.MigrationSource<string> = {
  async getMigrations() {
    return migrations.map(([name]) => name);
  },
  getMigrationName(name) {
    return name;
  },
  async getMigration(name) {
    const m = byName.get(name);
    if (!m) throw new Error(`unknown migration ${name}`);
    return m;
  },
};
