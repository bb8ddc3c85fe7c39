/*
 * direct_apply.hpp — INSERT, UPDATE and DELETE of one row without a statement.
 *
 * Applying a change through SPI runs a statement: plan revalidation and the
 * executor's start-up and shut-down of a ModifyTable over an index scan,
 * for every row.  On small transactions that was most of the apply
 * worker's time.  The direct path finds the row through the key index
 * with equality functions looked up once per target, checks the fast path's
 * guard on the found row's xmin, and writes it as UPDATE and DELETE do one
 * row (heap, indexes, constraints, generated columns, AFTER ROW triggers) —
 * as the table owner, like every applied change.  The row is not locked
 * between finding and writing it: the write waits for a concurrent
 * transaction changing the row, and if that one committed, the change finds
 * the row again and its guard decides on the new version (as UPDATE's
 * re-check in READ COMMITTED does).
 *
 * It is taken only where it behaves exactly as the statement would: the
 * table has no rules, forced row security, BEFORE ROW or statement-level
 * triggers for the operation, or transition tables; for UPDATE and DELETE
 * the key is a unique btree index over exactly the key columns and there are no
 * delta columns; an INSERT fills every column from the change (no defaults
 * to evaluate); a guarded INSERT (ON CONFLICT DO NOTHING, tombstones)
 * stays a statement.  Elsewhere, and when the owner lacks the privileges
 * (so the statement's error is raised), SPI applies the change.
 */
#pragma once

extern "C" {
#include "postgres.h"

#include "utils/rel.h"
}

#include "worker/apply/relation_map.hpp"
#include "worker/apply/tuple_values.hpp"

namespace concord::apply {

/*
 * Decides target->direct_insert / direct_update / direct_delete, and for
 * each operation whether a row trigger fires in the apply worker's replica
 * role (enabled ALWAYS or REPLICA; with none, the row is written without
 * trigger processing).  Called while building the target, once key_index
 * and the conflict configuration are set.
 */
void DecideDirectPath(RemoteRelation *rel, Relation local);

/* Whether an INSERT, UPDATE or DELETE (CMD_*) of the target may take the direct path now. */
bool UseDirectPath(const LocalTarget *t, CmdType operation);

/*
 * INSERT the row, unguarded: a key that is taken raises unique_violation,
 * as the plain INSERT statement does.  Returns 1.
 */
uint64 DirectInsert(RemoteRelation *rel, const TupleValues *row);

/*
 * UPDATE the row with key `key_values` to `row` (columns UpdateWrites()
 * leaves out keep their value).  guarded: only if the row was last written
 * by this peer.  Returns the number of rows updated (0 or 1).
 */
uint64 DirectUpdate(RemoteRelation *rel, const TupleValues *row, const Datum *key_values, bool guarded);

/* DELETE the row with key `key_values`; guarded as for DirectUpdate. */
uint64 DirectDelete(RemoteRelation *rel, const Datum *key_values, bool guarded);

} // namespace concord::apply
