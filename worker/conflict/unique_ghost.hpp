/*
 * unique_ghost.hpp — the values a row held in a unique index other than the
 * key when it gave way on such an index (concord.unique_ghost).
 *
 * Under last_update_wins two rows that collide on such an index are decided
 * by their versions: the older one gives way.  A node decides when the
 * second of the two arrives, against the rows it holds then.  But the newer
 * one may already be gone there, having given way itself to a third row on
 * another index (or lost to it on arrival), while a node that met the two
 * first deleted the older.  So a row that gives way leaves a ghost of its
 * unique values with its version, and a remote row checks the ghosts as it
 * checks live rows: an older one loses to a ghost as it would have to the
 * row.  Ghosts are pruned like tombstones: once every change still to come
 * is newer than a ghost, it decides nothing.
 */
#pragma once

extern "C" {
#include "postgres.h"
}

#include "common/conflict/decide.hpp"
#include "worker/apply/relation_map.hpp"
#include "worker/apply/tuple_values.hpp"

namespace concord::conflict_pg {

/*
 * Locks row's values in each of t's other unique indexes until the end of
 * the transaction (advisory locks on the table's oid and a hash of index
 * and values; past 64 of them in one transaction, when no other worker
 * holds value locks of the table, or for an index over a type without a
 * binary form, the whole table's).  Two apply workers
 * deciding rows with the same values would otherwise miss each other's
 * uncommitted writes: a row that loses writes nothing to the index, only a
 * ghost, so the index does not make them wait.  The second one waits here,
 * and its lookups then see what the first one committed.
 */
void LockUniqueValues(apply::LocalTarget *t, const apply::TupleValues *row);

/*
 * Remembers the values `row` (of the row with key `key_values`, written at
 * `version`) holds in each of t's other unique indexes.
 */
void RememberGhosts(const apply::LocalTarget *t, const apply::TupleValues *row, const Datum *key_values,
                    const conflict::Version &version);

/*
 * The newest ghost of a key other than key_values holding row's values in
 * unique index u (exists = false if none); *node_store backs its node.
 */
conflict::Version NewestGhost(const apply::LocalTarget *t, const apply::UniqueIndex *u, const apply::TupleValues *row,
                              const Datum *key_values, char **node_store);

} // namespace concord::conflict_pg
