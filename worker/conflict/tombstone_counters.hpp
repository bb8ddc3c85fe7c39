/*
 * tombstone_counters.hpp — the delta column values a tombstone keeps.
 *
 * A delete of a row of a table with delta columns leaves its counters in the
 * tombstone (concord.tombstone.counters, written by the tombstone trigger).
 * A remote insert or update that loses to the delete adds its increments to
 * them, and a newer update that brings the row back starts from them.  So
 * the counters of a key, in a row or in its tombstone, always hold every
 * increment this node has applied, whichever order the delete and the
 * increments arrived in, and a row brought back ends the same everywhere
 * (docs/conflicts.md, "Delta columns").
 */
#pragma once

extern "C" {
#include "postgres.h"
}

#include "common/conflict/decide.hpp"
#include "worker/conflict/resolve.hpp"

namespace concord::conflict_pg {

/*
 * Adds the increments of `c` (an insert's values, or an update's new minus
 * old values) to the counters of the tombstone `key`, which keeps its
 * version `tombstone` (recorded, as the write changes its xmin).  The
 * change must carry the full old row if it is an update.
 */
void AddToTombstone(const Change &c, bytea *key, const Datum *key_values, const conflict::Version &tombstone);

/*
 * The row a winning update writes over the tombstone `key`: `row` with each
 * delta column set to the tombstone's counter plus the update's increment;
 * `row` itself when the tombstone holds no counters (no row was deleted
 * here).  The change must carry the full old row.
 */
const apply::TupleValues *StartFromTombstone(const Change &c, const apply::TupleValues *row, bytea *key);

} // namespace concord::conflict_pg
