/*
 * execute.hpp — running the prepared statements of a target with the values
 * of a change, as the table owner.  Shared by the fast path (apply_change)
 * and the conflict slow path (worker/conflict/resolve).
 */
#pragma once

extern "C" {
#include "postgres.h"

#include "replication/origin.h"
}

#include "worker/apply/relation_map.hpp"
#include "worker/apply/tuple_values.hpp"

namespace concord::apply {

/* The origin initial copies into this node write under (0 while there is none). */
RepOriginId CopyOrigin();

/* Key values of a tuple in key order; raises on a NULL key column. */
Datum *KeyValues(const LocalTarget *t, const TupleValues *tuple);

/* The tombstone key of the given key values. */
bytea *TombstoneKey(const LocalTarget *t, const Datum *key_values);

/*
 * Whether the table may hold tombstones, looked up only when some
 * transaction wrote one of its bucket since the last look.  *epoch receives
 * the epoch the answer holds for: pass it to RecheckTombstones after writing.
 */
bool MayHaveTombstones(LocalTarget *t, uint64 *epoch);

/*
 * After inserting rows believing the table had no tombstones at `epoch`: if a
 * tombstone of one of the keys was committed meanwhile, raise (the
 * transaction is retried, and then sees it).
 */
void RecheckTombstones(LocalTarget *t, uint64 epoch, TupleValues *rows, int nrows);

/*
 * INSERT the row.  guarded: only if the key is free and has no tombstone
 * (returns 0 otherwise).  Returns the number of rows inserted.
 */
uint64 ExecInsert(RemoteRelation *rel, const TupleValues *row, bool guarded);

/*
 * UPDATE the row with key `key_values` to `row` (columns marked unchanged
 * keep their value), directly (direct_apply.hpp) where that behaves the
 * same, else through the prepared statement.  guarded: only if the row was
 * last written by this peer.  old_row: the remote old row, for delta
 * columns (nullptr: overwrite).
 * delta_only: touch only the delta columns.  Returns rows updated.
 */
uint64 ExecUpdate(RemoteRelation *rel, const TupleValues *row, const Datum *key_values, const TupleValues *old_row,
                  bool guarded, bool delta_only);

/* DELETE the row with key `key_values`; guarded as for ExecUpdate. */
uint64 ExecDelete(RemoteRelation *rel, const Datum *key_values, bool guarded);

} // namespace concord::apply
