/*
 * housekeeping.cpp — origin, conflict and tombstone cleanup; see housekeeping.hpp.
 */
#include "worker/supervisor/housekeeping.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "replication/origin.h"
#include "utils/builtins.h"
#include "miscadmin.h"
#include "utils/timestamp.h"
}

#include "common/naming/names.hpp"
#include "extension/bridge/pg_guard.hpp"
#include "extension/catalog/catalog.hpp"
#include "extension/settings.hpp"
#include "extension/shmem/shared_state.hpp"

namespace concord::supervisor {

namespace {

TimestampTz last_run = 0;
constexpr int64 kIntervalUs = 60 * USECS_PER_SEC;

/* Origins named like concord links into this node that no subscription owns. */
void DropOrphanOrigins(const char *node_name, List *subscriptions) {
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "concord: SPI_connect failed");
	if (SPI_execute("SELECT roname FROM pg_catalog.pg_replication_origin WHERE roname LIKE 'concord\\_%'", true, 0) !=
	    SPI_OK_SELECT)
		elog(ERROR, "concord: reading pg_replication_origin failed");
	List *orphans = NIL;
	for (uint64 i = 0; i < SPI_processed; i++) {
		char *name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char *provider = pg::ToPalloc([&] { return naming::ProviderOfLink(name, node_name); });
		if (provider[0] == '\0')
			continue; /* not a link into this node (another database's, perhaps) */
		bool owned = false;
		ListCell *lc;
		foreach (lc, subscriptions) {
			auto *sub = static_cast<catalog::SubscriptionInfo *>(lfirst(lc));
			if (strcmp(sub->link_name, name) == 0)
				owned = true;
		}
		if (!owned)
			orphans = lappend(orphans, catalog::SpiStrdup(name));
	}
	SPI_finish();
	ListCell *lc;
	foreach (lc, orphans) {
		const char *name = static_cast<const char *>(lfirst(lc));
		ereport(LOG, (errmsg("concord: dropping replication origin \"%s\" of a removed subscription", name)));
		replorigin_drop_by_name(name, true, false);
	}
}

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

/* Drops tombstones and copied versions no peer can still send an older change against. */
void PruneTombstones(List *subscriptions) {
	TimestampTz cutoff = TombstoneCutoff(subscriptions);
	if (cutoff <= 0)
		return;
	Oid types[1] = {TIMESTAMPTZOID};
	Datum values[1] = {TimestampTzGetDatum(cutoff)};
	/* A tombstone whose commit time is no longer known is older than any retained one. */
	catalog::Write("DELETE FROM concord.tombstone "
	               "WHERE coalesce(pg_catalog.pg_xact_commit_timestamp(xmin), '-infinity') < $1",
	               1, types, values, nullptr, SPI_OK_DELETE);
	/* Copied versions obey the same rule: no change older than them can still arrive. */
	catalog::Write("DELETE FROM concord.row_version WHERE coalesce(commit_ts, '-infinity') < $1", 1, types, values,
	               nullptr, SPI_OK_DELETE);
}

void PruneConflicts() {
	if (settings::conflict_retention_s <= 0)
		return;
	Oid types[1] = {INT4OID};
	Datum values[1] = {Int32GetDatum(settings::conflict_retention_s)};
	catalog::Write("DELETE FROM concord.conflicts WHERE at < now() - make_interval(secs => $1)", 1, types, values,
	               nullptr, SPI_OK_DELETE);
}

} // namespace

void Housekeeping(const char *node_name, List *subscriptions) {
	TimestampTz now = GetCurrentTimestamp();
	DropOrphanOrigins(node_name, subscriptions);
	if (now - last_run < kIntervalUs)
		return;
	last_run = now;
	PruneConflicts();
	PruneTombstones(subscriptions);
}

} // namespace concord::supervisor
