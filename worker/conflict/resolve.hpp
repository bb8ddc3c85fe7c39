/*
 * resolve.hpp — the apply slow path: a change that may conflict.
 *
 * Reached when the guarded fast-path statement changed nothing (the key is
 * taken, missing, tombstoned, or last written by another node) or the table
 * has unique indexes besides its key.  Looks at the local row (locked) and
 * the key's tombstone, asks the pure decision table (common/conflict), acts,
 * and records every conflict in concord.conflicts in the same transaction.
 */
#pragma once

extern "C" {
#include "postgres.h"
}

#include "common/conflict/decide.hpp"
#include "worker/apply/relation_map.hpp"
#include "worker/apply/tuple_values.hpp"

namespace concord::conflict_pg {

struct Change {
	conflict::Operation op;
	apply::RemoteRelation *rel;
	const apply::TupleValues *old_row; /* key or full old row; nullptr if not sent */
	bool old_is_full;                  /* old_row holds every column (REPLICA IDENTITY FULL) */
	const apply::TupleValues *new_row; /* nullptr for DELETE */
};

void ApplyWithConflictHandling(const Change &change);

} // namespace concord::conflict_pg
