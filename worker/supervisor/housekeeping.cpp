/*
 * housekeeping.cpp — conflict, tombstone and recorded-version cleanup; see housekeeping.hpp.
 */
#include "worker/supervisor/housekeeping.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "miscadmin.h"
#include "replication/message.h"
#include "utils/timestamp.h"
}

#include "common/protocol/wire.hpp"
#include "extension/catalog/catalog.hpp"
#include "extension/settings.hpp"
#include "extension/shmem/shared_state.hpp"

namespace concord::supervisor {

namespace {

TimestampTz last_run = 0;
TimestampTz last_clock = 0;
/* How often this node tells its subscribers its clock (they prune tombstones by it). */
constexpr int64 kClockIntervalUs = 5 * USECS_PER_SEC;

/*
 * The newest commit time before which every peer's changes have been
 * applied here, less the safety margin; 0 if some peer's is not known yet.
 */
TimestampTz TombstoneCutoff(List *subscriptions) {
	TimestampTz horizon = GetCurrentTimestamp();
	ListCell *lc;
	LWLockAcquire(&shmem::state->lock, LW_SHARED);
	foreach (lc, subscriptions) {
		auto *sub = static_cast<catalog::SubscriptionInfo *>(lfirst(lc));
		shmem::PeerSlot *p = shmem::FindPeer(MyDatabaseId, sub->sub_id);
		TimestampTz safe = p != nullptr ? p->safe_time : 0;
		if (safe < horizon)
			horizon = safe;
	}
	LWLockRelease(&shmem::state->lock);
	if (horizon == 0)
		return 0;
	return horizon - static_cast<TimestampTz>(settings::tombstone_min_age_s) * USECS_PER_SEC;
}

/* Drops tombstones, recorded versions and unique ghosts no peer can still send an older change against. */
void PruneTombstones(List *subscriptions) {
	TimestampTz cutoff = TombstoneCutoff(subscriptions);
	if (cutoff <= 0)
		return;
	Oid types[1] = {TIMESTAMPTZOID};
	Datum values[1] = {TimestampTzGetDatum(cutoff)};
	/*
	 * A tombstone's time is the version recorded for it (same xmin) if there
	 * is one — a merge into its counters wrote it under an older change's
	 * commit time — else its xmin's.  One whose commit time is no longer
	 * known is older than any retained one.  Before the versions: this reads
	 * them.  Tombstones an apply transaction holds locked are left for the
	 * next round (SKIP LOCKED): waiting here would hold up the clock and
	 * the workers' restarts behind whatever that transaction waits for.
	 */
	catalog::Write("DELETE FROM concord.tombstone AS t WHERE (t.relid, t.key) IN (SELECT s.relid, s.key "
	               "FROM concord.tombstone AS s WHERE coalesce("
	               "(SELECT coalesce(v.commit_ts, '-infinity') FROM concord.row_version AS v "
	               "WHERE v.relid = s.relid AND v.key = s.key AND v.xmin = s.xmin), "
	               "pg_catalog.pg_xact_commit_timestamp(s.xmin), '-infinity') < $1 FOR UPDATE SKIP LOCKED)",
	               1, types, values, nullptr, SPI_OK_DELETE);
	/*
	 * Recorded versions obey the same rule: no change older than them can
	 * still arrive.  But not one whose tombstone is still there (committed
	 * after the statement above looked): the tombstone would take its
	 * xmin's newer time.  It goes with the tombstone, a round later.
	 */
	catalog::Write("DELETE FROM concord.row_version WHERE (relid, key) IN (SELECT v.relid, v.key FROM "
	               "concord.row_version AS v WHERE coalesce(v.commit_ts, '-infinity') < $1 AND NOT EXISTS (SELECT "
	               "FROM concord.tombstone AS t WHERE t.relid = v.relid AND t.key = v.key AND t.xmin = v.xmin) "
	               "FOR UPDATE OF v SKIP LOCKED)",
	               1, types, values, nullptr, SPI_OK_DELETE);
	/* So do ghosts of unique values: every change still to come is newer than they are. */
	catalog::Write("DELETE FROM concord.unique_ghost WHERE (relid, index_columns, value, key) IN (SELECT relid, "
	               "index_columns, value, key FROM concord.unique_ghost WHERE coalesce(commit_ts, '-infinity') < $1 "
	               "FOR UPDATE SKIP LOCKED)",
	               1, types, values, nullptr, SPI_OK_DELETE);
}

void PruneConflicts() {
	if (settings::conflict_retention_s <= 0)
		return;
	Oid types[1] = {INT4OID};
	Datum values[1] = {Int32GetDatum(settings::conflict_retention_s)};
	catalog::Write("DELETE FROM concord.conflicts WHERE at < now() - make_interval(secs => $1)", 1, types, values,
	               nullptr, SPI_OK_DELETE);
}

/*
 * Writes this node's clock into its WAL (see protocol::ClockMessage): its
 * subscribers learn from it, in the order of the WAL, that they have every
 * change this node committed before then, busy or idle.
 */
void WriteClock(TimestampTz now) {
	if (now - last_clock < kClockIntervalUs)
		return;
	last_clock = now;
	(void)LogLogicalMessage(protocol::kClockMessagePrefix, reinterpret_cast<const char *>(&now), sizeof(now), false);
}

} // namespace

void Housekeeping(List *subscriptions) {
	TimestampTz now = GetCurrentTimestamp();
	WriteClock(now);
	if (now - last_run < static_cast<int64>(settings::housekeeping_interval_s) * USECS_PER_SEC)
		return;
	last_run = now;
	PruneConflicts();
	PruneTombstones(subscriptions);
}

} // namespace concord::supervisor
