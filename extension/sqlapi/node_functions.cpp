/*
 * node_functions.cpp — concord.create_node() and concord.drop_node().
 */
extern "C" {
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "replication/slot.h"
#include "storage/proc.h"
#include "catalog/namespace.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
}

#include "common/conninfo/conninfo.hpp"
#include "common/naming/names.hpp"
#include "extension/bridge/pg_guard.hpp"
#include "extension/catalog/catalog.hpp"
#include "extension/sqlapi/access.hpp"
#include "extension/sqlapi/pending.hpp"
#include "extension/sqlapi/secret_guard.hpp"
#include "extension/sqlapi/subscription_ops.hpp"

extern "C" {
PG_FUNCTION_INFO_V1(concord_create_node);
PG_FUNCTION_INFO_V1(concord_drop_node);
}

namespace concord::sqlapi {

namespace {

/* The output plugin caches this node's name; make decoding re-read it. */
void InvalidateNodeCache() {
	Oid relid = get_relname_relid("node", get_namespace_oid("concord", false));
	if (OidIsValid(relid))
		CacheInvalidateRelcacheByRelid(relid);
}

Datum CreateNode(FunctionCallInfo fcinfo) {
	RequireAdmin("concord.create_node");
	RequirePreloaded();
	RequireServerSettings();

	char *node_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char *dsn = text_to_cstring(PG_GETARG_TEXT_PP(1));

	if (const char *problem = naming::NodeNameProblem(node_name))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("invalid node name \"%s\"", node_name),
		                errdetail("%s.", problem)));
	char *dsn_problem = pg::ToPalloc([&] { return conninfo::ParseProblem(dsn); });
	if (dsn_problem[0] != '\0')
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
		                errmsg("invalid connection string for node \"%s\"", node_name), errdetail("%s", dsn_problem)));

	catalog::NodeInfo existing;
	if (catalog::LoadLocalNode(&existing))
		ereport(ERROR, (errcode(ERRCODE_DUPLICATE_OBJECT),
		                errmsg("this database is already concord node \"%s\"", existing.node_name),
		                errhint("A database holds one node; call concord.drop_node() first to rename it.")));

	Oid types[2] = {TEXTOID, TEXTOID};
	Datum values[2] = {CStringGetTextDatum(node_name), CStringGetTextDatum(dsn)};
	catalog::Write("INSERT INTO concord.node (node_name, dsn) VALUES ($1, $2)", 2, types, values, nullptr,
	               SPI_OK_INSERT);
	catalog::NodeInfo created;
	catalog::RequireLocalNode(&created);
	InvalidateNodeCache();
	WakeWorkersAtCommit();
	PG_RETURN_OID(created.node_id);
}

/*
 * Drops the slots through which this node's subscribers pull from it, just
 * before this transaction commits.  A subscriber still streaming is
 * disconnected first; it will report the missing slot as its error until it
 * unsubscribes.
 */
void DropLocalProviderSlots(const char *node_name) {
	char *prefix = pg::ToPalloc([&] { return naming::ProviderSlotPrefix(node_name); });
	size_t prefix_len = strlen(prefix);
	List *names = NIL;
	LWLockAcquire(ReplicationSlotControlLock, LW_SHARED);
	for (int i = 0; i < max_replication_slots; i++) {
		ReplicationSlot *s = &ReplicationSlotCtl->replication_slots[i];
		if (s->in_use && s->data.database == MyDatabaseId && strncmp(NameStr(s->data.name), prefix, prefix_len) == 0)
			names = lappend(names, pstrdup(NameStr(s->data.name)));
	}
	LWLockRelease(ReplicationSlotControlLock);

	ListCell *lc;
	foreach (lc, names)
		DropLocalSlotBeforeCommit(static_cast<char *>(lfirst(lc)));
}

} // namespace

void RemoveNode(const char *node_name, List *subscriptions) {
	ListCell *lc;
	foreach (lc, subscriptions)
		RemoveSubscription(static_cast<catalog::SubscriptionInfo *>(lfirst(lc)));
	DropLocalProviderSlots(node_name);
	catalog::Write("DELETE FROM concord.node", 0, nullptr, nullptr, nullptr, SPI_OK_DELETE);
	InvalidateNodeCache();
	WakeWorkersAtCommit();
}

namespace {

Datum DropNode(FunctionCallInfo fcinfo) {
	RequireAdmin("concord.drop_node");
	RequirePreloaded();
	catalog::NodeInfo node;
	catalog::RequireLocalNode(&node);

	RemoveNode(node.node_name, catalog::LoadSubscriptions());
	PG_RETURN_VOID();
}

} // namespace

} // namespace concord::sqlapi

using concord::pg::Entry;

Datum concord_create_node(PG_FUNCTION_ARGS) {
	char *dsn = PG_ARGISNULL(1) ? nullptr : text_to_cstring(PG_GETARG_TEXT_PP(1));
	return Entry([&] {
		return concord::sqlapi::HideSecrets(dsn, [&] { return concord::sqlapi::CreateNode(fcinfo); });
	});
}

Datum concord_drop_node(PG_FUNCTION_ARGS) {
	return Entry([&] { return concord::sqlapi::DropNode(fcinfo); });
}
