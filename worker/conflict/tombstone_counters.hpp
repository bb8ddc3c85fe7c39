/*
 * tombstone_counters.hpp — the delta column values a tombstone keeps.
 *
 * A delete of a row of a table with delta columns leaves its counters in the
 * tombstone (concord.tombstone.counters, written by the tombstone trigger).
 * A remote update that loses to the delete adds its increments to them, and
 * a newer update that brings the row back starts from them.  So the
 * counters of a key, in a row or in its tombstone, hold every increment this
 * node has applied, whichever order the delete and the increments arrived
 * in, and a row brought back ends the same everywhere (docs/conflicts.md,
 * "Delta columns").  A counter the tombstone does not know (no row was
 * deleted here, or the column became a delta column after the delete) takes
 * nothing in, and a row brought back takes the update's value for it.
 * Inserts never merge: a row deleted here already counted its insert.
 */
#pragma once

extern "C" {
#include "postgres.h"
}

#include "common/conflict/decide.hpp"
#include "worker/conflict/resolve.hpp"

namespace concord::conflict_pg {

/*
 * Adds the increments of update `c` (new minus old values; it carries the
 * full old row) to the counters of the tombstone `key`, which keeps its
 * version `tombstone` (recorded, as the write changes its xmin; the caller
 * looked the tombstone up locked, so that is still its version).
 */
void AddToTombstone(const Change &c, bytea *key, const Datum *key_values, const conflict::Version &tombstone);

/*
 * The row a winning update writes over the tombstone `key`: `row` with each
 * delta column the tombstone knows set to its counter plus the update's
 * increment; `row` itself when the tombstone holds no counters (no row was
 * deleted here).  The change must carry the full old row.
 */
const apply::TupleValues *StartFromTombstone(const Change &c, const apply::TupleValues *row, bytea *key);

} // namespace concord::conflict_pg
