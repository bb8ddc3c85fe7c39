/*
 * custom_resolver.hpp — calling a table's resolver function.
 *
 * The resolver is declared (local t, remote t, conflict_type text) RETURNS t
 * (checked by set_conflict_policy) and returns the row to keep, or NULL to
 * keep the local one.  It is user code: it runs as the table's owner inside
 * a security-restricted operation, like every applied change.
 */
#pragma once

extern "C" {
#include "postgres.h"
}

#include "common/conflict/decide.hpp"
#include "worker/apply/relation_map.hpp"

namespace concord::conflict_pg {

/*
 * Calls the resolver.  local_row is 0 when the key has no local row.
 * Returns false when the resolver returned NULL; else *result is the row.
 */
bool CallResolver(const apply::LocalTarget *t, Datum local_row, Datum remote_row, conflict::ConflictType type,
                  Datum *result);

} // namespace concord::conflict_pg
