/*
 * conflict_log.hpp — one row in concord.conflicts per conflict, written in
 * the applying transaction (so it commits or rolls back with the decision).
 */
#pragma once

extern "C" {
#include "postgres.h"
}

#include "common/conflict/decide.hpp"
#include "worker/apply/relation_map.hpp"

namespace concord::conflict_pg {

/*
 * local_row / remote_row: composites of the table type, or 0 when absent.
 * local: the version the remote change met (row or tombstone).
 */
void LogConflict(const apply::LocalTarget *t, conflict::ConflictType type, const char *resolution,
                 const conflict::Version &local, Datum local_row, Datum remote_row);

} // namespace concord::conflict_pg
