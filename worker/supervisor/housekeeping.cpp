/*
 * housekeeping.cpp — origin, conflict and tombstone cleanup; see housekeeping.hpp.
 */
#include "worker/supervisor/housekeeping.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "replication/origin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
}

#include "common/naming/names.hpp"
#include "extension/bridge/pg_guard.hpp"
#include "extension/catalog/catalog.hpp"
#include "extension/settings.hpp"

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
		char *provider = pg::ToPalloc(naming::ProviderOfLink(name, node_name));
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
}

} // namespace concord::supervisor
