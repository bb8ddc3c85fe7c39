/*
 * subscription_functions.cpp — concord.subscribe(), unsubscribe(), pause(),
 * resume() and skip_transaction().
 *
 * Order inside subscribe matters: every remote step (identity check, slot
 * creation) happens before this transaction writes anything, so it holds no
 * transaction id while the peer builds the slot's snapshot (two nodes
 * subscribing to each other at the same moment would otherwise wait on each
 * other).  The slot is dropped again if this transaction aborts.
 */
extern "C" {
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "catalog/pg_replication_origin.h"
#include "replication/origin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
}

#include "extension/bridge/pg_compat.hpp"
#include "common/conninfo/conninfo.hpp"
#include "common/naming/names.hpp"
#include "extension/bridge/pg_guard.hpp"
#include "extension/catalog/catalog.hpp"
#include "extension/remote/peer.hpp"
#include "extension/shmem/shared_state.hpp"
#include "extension/sqlapi/access.hpp"
#include "extension/sqlapi/pending.hpp"
#include "extension/sqlapi/secret_guard.hpp"
#include "extension/sqlapi/subscription_ops.hpp"
#include "extension/sqlapi/worker_control.hpp"
#include "worker/sync/initial_copy.hpp"

extern "C" {
PG_FUNCTION_INFO_V1(concord_subscribe);
PG_FUNCTION_INFO_V1(concord_unsubscribe);
PG_FUNCTION_INFO_V1(concord_pause);
PG_FUNCTION_INFO_V1(concord_resume);
PG_FUNCTION_INFO_V1(concord_skip_transaction);
}

namespace concord::sqlapi {

namespace {

void RequireSubscription(const char *peer_name, catalog::SubscriptionInfo *out) {
	if (!catalog::LoadSubscriptionByName(peer_name, out))
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("no subscription to peer \"%s\"", peer_name),
		                errhint("concord.peers lists the peers this node applies from.")));
}

Datum Subscribe(FunctionCallInfo fcinfo) {
	RequireAdmin("concord.subscribe");
	RequirePreloaded();
	RequireServerSettings();
	char *peer_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char *peer_dsn = text_to_cstring(PG_GETARG_TEXT_PP(1));
	bool copy_data = PG_GETARG_BOOL(2);
	bool enabled = PG_GETARG_BOOL(3);

	catalog::NodeInfo node;
	catalog::RequireLocalNode(&node);
	if (const char *problem = naming::NodeNameProblem(peer_name))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("invalid peer name \"%s\"", peer_name),
		                errdetail("%s.", problem)));
	if (strcmp(peer_name, node.node_name) == 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
		                errmsg("node \"%s\" cannot subscribe to itself", peer_name)));
	char *dsn_problem = pg::ToPalloc([&] { return conninfo::ParseProblem(peer_dsn); });
	if (dsn_problem[0] != '\0')
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
		                errmsg("invalid connection string for peer \"%s\"", peer_name), errdetail("%s", dsn_problem)));
	catalog::SubscriptionInfo existing;
	if (catalog::LoadSubscriptionByName(peer_name, &existing))
		ereport(ERROR, (errcode(ERRCODE_DUPLICATE_OBJECT), errmsg("already subscribed to peer \"%s\"", peer_name)));

	char *link_name = pg::ToPalloc([&] { return naming::LinkName(peer_name, node.node_name); });
	/* Remote steps first: see the file comment. */
	remote::CheckPeerIdentity(peer_dsn, peer_name);
	if (copy_data) {
		/* Slot with exported snapshot, then the peer's rows under it (registers its own cleanup). */
		(void)sync::CreateSlotAndCopy(peer_dsn, peer_name, link_name);
	} else {
		(void)remote::CreateRemoteSlot(peer_dsn, link_name, peer_name);
		DropRemoteSlotAtAbort(peer_dsn, link_name, peer_name);
	}

	/*
	 * The origin starts without progress: the worker then streams from the
	 * slot's own start.  (Advancing it here would leave progress behind in
	 * shared memory if this transaction aborted.)
	 */
	/*
	 * Replication origins are never dropped: rows keep the origin id of the
	 * transaction that wrote them, and a dropped id could be handed to another
	 * peer later, making its writes look like that peer's.  An origin left by
	 * an earlier subscription to this peer is reused with its progress reset
	 * (the new slot starts afresh).
	 */
	RepOriginId origin = replorigin_by_name(link_name, true);
	if (origin == InvalidRepOriginId) {
		replorigin_create(link_name);
	} else {
		LockRelationOid(ReplicationOriginRelationId, RowExclusiveLock);
		replorigin_advance(origin, InvalidXLogRecPtr, InvalidXLogRecPtr, true /* go backward */, true /* WAL log */);
	}

	Oid types[4] = {TEXTOID, TEXTOID, TEXTOID, BOOLOID};
	Datum values[4] = {CStringGetTextDatum(peer_name), CStringGetTextDatum(peer_dsn), CStringGetTextDatum(link_name),
	                   BoolGetDatum(enabled)};
	catalog::Write("INSERT INTO concord.subscription (peer_name, peer_dsn, link_name, enabled) VALUES ($1, $2, $3, $4)",
	               4, types, values, nullptr, SPI_OK_INSERT);
	catalog::SubscriptionInfo created;
	if (!catalog::LoadSubscriptionByName(peer_name, &created))
		elog(ERROR, "concord: subscription to \"%s\" vanished", peer_name);
	WakeWorkersAtCommit();
	PG_RETURN_OID(created.sub_id);
}

Datum Unsubscribe(FunctionCallInfo fcinfo) {
	RequireAdmin("concord.unsubscribe");
	RequirePreloaded();
	char *peer_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	catalog::SubscriptionInfo sub;
	RequireSubscription(peer_name, &sub);
	RemoveSubscription(&sub);
	PG_RETURN_VOID();
}

void SetEnabled(Oid sub_id, bool enabled) {
	Oid types[2] = {BOOLOID, OIDOID};
	Datum values[2] = {BoolGetDatum(enabled), ObjectIdGetDatum(sub_id)};
	catalog::Write("UPDATE concord.subscription SET enabled = $1 WHERE sub_id = $2", 2, types, values, nullptr,
	               SPI_OK_UPDATE);
}

Datum Pause(FunctionCallInfo fcinfo) {
	RequireAdmin("concord.pause");
	RequirePreloaded();
	char *peer_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	catalog::SubscriptionInfo sub;
	RequireSubscription(peer_name, &sub);
	SetEnabled(sub.sub_id, false);
	StopWorker(sub.sub_id, sub.peer_name, Request::kPause);
	PG_RETURN_VOID();
}

Datum Resume(FunctionCallInfo fcinfo) {
	RequireAdmin("concord.resume");
	RequirePreloaded();
	char *peer_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	catalog::SubscriptionInfo sub;
	RequireSubscription(peer_name, &sub);
	SetEnabled(sub.sub_id, true);
	ClearPause(sub.sub_id, sub.enabled);
	WakeWorkersAtCommit();
	PG_RETURN_VOID();
}

Datum SkipTransaction(FunctionCallInfo fcinfo) {
	RequireAdmin("concord.skip_transaction");
	RequirePreloaded();
	char *peer_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	catalog::SubscriptionInfo sub;
	RequireSubscription(peer_name, &sub);

	LWLockAcquire(&shmem::state->lock, LW_EXCLUSIVE);
	shmem::PeerSlot *p = shmem::FindPeer(MyDatabaseId, sub.sub_id);
	XLogRecPtr failing = p != nullptr ? p->failing_lsn : InvalidXLogRecPtr;
	if (failing != InvalidXLogRecPtr) {
		p->skip_requested = true;
		p->skip_lsn = failing;
		p->retry_at = 0; /* retry at once: the skip is what the operator wants now */
	}
	LWLockRelease(&shmem::state->lock);
	if (failing == InvalidXLogRecPtr)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
		                errmsg("no transaction from peer \"%s\" is failing now", peer_name),
		                errdetail("skip_transaction skips only the remote transaction whose apply is failing.")));
	shmem::WakeManager(MyDatabaseId);
	ereport(NOTICE, (errmsg("the transaction from peer \"%s\" ending at %X/%X will be skipped and recorded in "
	                        "concord.conflicts",
	                        peer_name, CONCORD_LSN_ARGS(failing))));
	PG_RETURN_VOID();
}

} // namespace

} // namespace concord::sqlapi

using concord::pg::Entry;

Datum concord_subscribe(PG_FUNCTION_ARGS) {
	char *dsn = PG_ARGISNULL(1) ? nullptr : text_to_cstring(PG_GETARG_TEXT_PP(1));
	return Entry([&] {
		return concord::sqlapi::HideSecrets(dsn, [&] { return concord::sqlapi::Subscribe(fcinfo); });
	});
}
Datum concord_unsubscribe(PG_FUNCTION_ARGS) { return Entry([&] { return concord::sqlapi::Unsubscribe(fcinfo); }); }
Datum concord_pause(PG_FUNCTION_ARGS) { return Entry([&] { return concord::sqlapi::Pause(fcinfo); }); }
Datum concord_resume(PG_FUNCTION_ARGS) { return Entry([&] { return concord::sqlapi::Resume(fcinfo); }); }
Datum concord_skip_transaction(PG_FUNCTION_ARGS) {
	return Entry([&] { return concord::sqlapi::SkipTransaction(fcinfo); });
}
