/*
 * tombstone.hpp — remembering deleted keys of replicated tables.
 *
 * A tombstone is a row (relid, key) in concord.tombstone whose xmin is the
 * deleting transaction, so its commit timestamp and replication origin are
 * the delete's version — the same way a live row's xmin gives its version.
 * Keys are the concatenated binary send() forms of the key columns in
 * attribute-number order (u32 length + bytes each): independent of session
 * settings such as DateStyle or TimeZone, so a delete by any session and a
 * lookup by the apply worker agree.  Tombstones are local to a node, except
 * that an initial copy brings the peer's along with the rows (the key
 * columns' types being the same on both, as the copy requires anyway).
 */
#pragma once

extern "C" {
#include "postgres.h"

#include "fmgr.h"
#include "utils/array.h"
}

namespace concord::tombstone {

/*
 * The tombstone key of a row: values[i] of the i-th key column, in attnum
 * order, with that column's send function.  Key columns are never NULL;
 * other users of this encoding (unique index values) pass nulls, and a NULL
 * is written as length -1.
 */
bytea *BuildKey(int nkeys, FmgrInfo *send_funcs, const Datum *values, const bool *nulls = nullptr);

/*
 * Records (or refreshes) the tombstone of `key` in the current transaction,
 * as the extension owner.  Inside SPI or not; connects itself.  counters:
 * the deleted row's delta column values as a text[] of name, value pairs
 * (values NULL or text), or nullptr when the table has none.
 */
void Record(Oid relid, bytea *key, ArrayType *counters);

/*
 * Gives the tombstone of `key` the current transaction's version (a delete
 * that arrived when the key had no row), creating it if there is none; the
 * counters it holds stay.
 */
void Refresh(Oid relid, bytea *key);

/*
 * Drops the version the current transaction recorded for `key` in
 * concord.row_version, if any: what it writes for the key now (a tombstone
 * of its own delete, a row brought back) is at its own version.  Writers of
 * recorded versions record after writing the tombstone.  Inside SPI; a
 * no-op unless the transaction called NoteVersionsRecorded.
 */
void ForgetRecordedVersion(Oid relid, bytea *key);

/*
 * Call when this transaction writes versions into concord.row_version (an
 * apply, an initial copy): from then on, a tombstone it writes drops the
 * entry it recorded for that key, if any, since the entry would describe
 * the new tombstone (same xmin) with a version that is not its own.
 */
void NoteVersionsRecorded();

/*
 * Call when this transaction wrote tombstones of relid other than through
 * Record (an initial copy): the apply workers' cached "this table has no
 * tombstones" answers go stale when it commits.
 */
void NoteTombstones(Oid relid);

} // namespace concord::tombstone
