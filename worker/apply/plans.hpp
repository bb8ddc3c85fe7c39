/*
 * plans.hpp — the prepared statements of one local target, built on first
 * use and kept (SPI_keepplan) until the target is invalidated.
 *
 * Parameter order (values of the local column types):
 *   insert:          every remote column; guarded adds the tombstone key (bytea)
 *   update:          SET columns (all but unchanged), key columns,
 *                    [origin id if guarded], [key bytes if guarded on a delta table],
 *                    [old values of delta columns]
 *   delete:          key columns, [origin id if guarded]
 *   lookup:          key columns
 *   unique lookup:   the index's columns, then key columns
 */
#pragma once

#include "worker/apply/relation_map.hpp"

namespace concord::apply {

/*
 * guarded: insert only into a free key (ON CONFLICT DO NOTHING); tombstones:
 * and only if the key has no tombstone (an extra bytea parameter).
 */
SPIPlanPtr InsertPlan(RemoteRelation *rel, bool guarded, bool tombstones = true);
/* The batched guarded insert: arrays of every column, then (tombstones) bytea[] keys. */
SPIPlanPtr BatchInsertPlan(RemoteRelation *rel, bool tombstones);
SPIPlanPtr DeletePlan(RemoteRelation *rel, bool guarded);
SPIPlanPtr LookupPlan(RemoteRelation *rel);
/*
 * The lookup of another row holding a row's values in unique index u;
 * null_columns (bit i: index column i is NULL in the row, only for a NULLS
 * NOT DISTINCT index) picks the variant that tests those IS NULL.
 */
SPIPlanPtr UniqueLookupPlan(RemoteRelation *rel, UniqueIndex *u, uint32 null_columns);
/*
 * The UPDATE for the columns not marked unchanged.  delta: merge delta
 * columns; delta_only: set nothing but the delta columns.
 */
SPIPlanPtr UpdatePlanFor(RemoteRelation *rel, const char *unchanged, bool guarded, bool delta, bool delta_only);

/* Frees every plan of the target. */
void FreePlans(LocalTarget *t);

/* Prepares and keeps a plan; raises on failure. */
SPIPlanPtr PrepareKept(const char *sql, int nargs, Oid *types);

} // namespace concord::apply
