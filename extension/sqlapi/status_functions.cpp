/*
 * status_functions.cpp — concord.peer_status(), wait_for_peers(),
 * redact_dsn() and describe_message().
 */
extern "C" {
#include "postgres.h"

#include "access/commit_ts.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "replication/message.h"
#include "replication/slot.h"
#include "storage/latch.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"
}

#include "common/conninfo/conninfo.hpp"
#include "common/naming/names.hpp"
#include "common/protocol/wire.hpp"
#include "extension/bridge/pg_guard.hpp"
#include "extension/catalog/catalog.hpp"
#include "extension/shmem/shared_state.hpp"
#include "extension/sqlapi/access.hpp"
#include "extension/sqlapi/peer_wait.hpp"

extern "C" {
PG_FUNCTION_INFO_V1(concord_peer_status);
PG_FUNCTION_INFO_V1(concord_wait_for_peers);
PG_FUNCTION_INFO_V1(concord_redact_dsn);
PG_FUNCTION_INFO_V1(concord_describe_message);
PG_FUNCTION_INFO_V1(concord_prune_conflicts);
PG_FUNCTION_INFO_V1(concord_copy_progress);
}

namespace concord::sqlapi {

namespace {

Datum LsnOrNull(XLogRecPtr lsn, bool *isnull) {
	*isnull = lsn == InvalidXLogRecPtr;
	return LSNGetDatum(lsn);
}

Datum TimeOrNull(TimestampTz ts, bool *isnull) {
	*isnull = ts == 0;
	return TimestampTzGetDatum(ts);
}

Datum PeerStatus(FunctionCallInfo fcinfo) {
	RequirePreloaded();
	InitMaterializedSRF(fcinfo, 0);
	auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
	constexpr int kColumns = 10;

	/* Copy under the lock, emit afterwards: tuplestore calls may raise. */
	int max_peers = shmem::state->max_peers;
	auto *copies = static_cast<shmem::PeerSlot *>(palloc(sizeof(shmem::PeerSlot) * max_peers));
	int n = 0;
	LWLockAcquire(&shmem::state->lock, LW_SHARED);
	for (int i = 0; i < max_peers; i++) {
		const shmem::PeerSlot *p = &shmem::state->peers[i];
		if (p->in_use && p->dboid == MyDatabaseId)
			copies[n++] = *p;
	}
	LWLockRelease(&shmem::state->lock);

	for (int i = 0; i < n; i++) {
		const shmem::PeerSlot *p = &copies[i];
		Datum values[kColumns];
		bool nulls[kColumns] = {false};
		values[0] = ObjectIdGetDatum(p->sub_id);
		shmem::PeerStatus status = p->status;
		if (p->pause_requested && p->worker_pid == 0)
			status = shmem::PeerStatus::kPaused;
		values[1] = CStringGetTextDatum(shmem::PeerStatusName(status));
		values[2] = Int32GetDatum(p->worker_pid);
		nulls[2] = p->worker_pid == 0;
		values[3] = LsnOrNull(p->received_lsn, &nulls[3]);
		values[4] = LsnOrNull(p->applied_lsn, &nulls[4]);
		values[5] = LsnOrNull(p->peer_wal_end, &nulls[5]);
		values[6] = CStringGetTextDatum(p->last_error);
		nulls[6] = p->last_error[0] == '\0';
		values[7] = TimeOrNull(p->last_error_at, &nulls[7]);
		values[8] = Int32GetDatum(p->failures);
		values[9] = TimeOrNull(p->last_applied_at, &nulls[9]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum)0;
}

Datum CopyProgress(FunctionCallInfo fcinfo) {
	RequirePreloaded();
	InitMaterializedSRF(fcinfo, 0);
	auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
	shmem::CopySlot copies[shmem::kMaxCopies];
	int n = 0;
	LWLockAcquire(&shmem::state->lock, LW_SHARED);
	for (int i = 0; i < shmem::kMaxCopies; i++)
		if (shmem::state->copies[i].in_use && shmem::state->copies[i].dboid == MyDatabaseId)
			shmem::ReadCopySlot(&shmem::state->copies[i], &copies[n++]);
	LWLockRelease(&shmem::state->lock);
	for (int i = 0; i < n; i++) {
		const shmem::CopySlot *c = &copies[i];
		Datum values[10];
		bool nulls[10] = {false};
		values[0] = Int32GetDatum(c->pid);
		values[1] = CStringGetTextDatum(c->peer);
		values[2] = CStringGetTextDatum(c->relation);
		nulls[2] = c->relation[0] == '\0';
		values[3] = Int32GetDatum(c->tables_done);
		values[4] = Int32GetDatum(c->tables_total);
		values[5] = Int64GetDatum(c->rows);
		values[6] = Int64GetDatum(c->bytes);
		values[7] = Int64GetDatum(c->total_rows);
		values[8] = Int64GetDatum(c->total_bytes);
		values[9] = TimestampTzGetDatum(c->started_at);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum)0;
}

Datum WaitForPeers(FunctionCallInfo fcinfo) {
	RequireAdmin("concord.wait_for_peers");
	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("timeout must not be null")));
	Interval *timeout = PG_GETARG_INTERVAL_P(0);
	List *peers = NIL;
	if (!PG_ARGISNULL(1)) {
		Datum *elems;
		bool *elem_nulls;
		int n;
		deconstruct_array(PG_GETARG_ARRAYTYPE_P(1), TEXTOID, -1, false, TYPALIGN_INT, &elems, &elem_nulls, &n);
		for (int i = 0; i < n; i++) {
			if (elem_nulls[i])
				continue;
			char *peer = TextDatumGetCString(elems[i]);
			bool seen = false;
			ListCell *lc;
			foreach (lc, peers)
				seen = seen || strcmp(static_cast<char *>(lfirst(lc)), peer) == 0;
			if (!seen) /* a peer named twice is still one peer */
				peers = lappend(peers, peer);
		}
	}
	catalog::NodeInfo node;
	catalog::RequireLocalNode(&node);
	/* A named peer that does not pull from us can never confirm anything. */
	if (peers != NIL && CountSubscribers(node.node_name, peers) < list_length(peers))
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
		                errmsg("not every named peer subscribes to node \"%s\"", node.node_name)));
	PG_RETURN_BOOL(WaitForSubscribers(node.node_name, peers, IntervalMs(timeout)));
}

Datum PruneConflicts(FunctionCallInfo fcinfo) {
	RequireAdmin("concord.prune_conflicts");
	Oid types[1] = {INTERVALOID};
	Datum values[1] = {PG_GETARG_DATUM(0)};
	uint64 removed = catalog::Write("DELETE FROM concord.conflicts WHERE at < now() - $1", 1, types, values, nullptr,
	                                SPI_OK_DELETE);
	PG_RETURN_INT64(static_cast<int64>(removed));
}

Datum RedactDsn(FunctionCallInfo fcinfo) {
	char *dsn = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char *redacted = pg::ToPalloc([&] { return conninfo::Redact(dsn); });
	PG_RETURN_TEXT_P(cstring_to_text(redacted));
}

Datum DescribeMessage(FunctionCallInfo fcinfo) {
	bytea *message = PG_GETARG_BYTEA_PP(0);
	char *text = pg::ToPalloc([&] { return protocol::DescribePayload(VARDATA_ANY(message), VARSIZE_ANY_EXHDR(message)); });
	PG_RETURN_TEXT_P(cstring_to_text(text));
}

} // namespace

} // namespace concord::sqlapi

using concord::pg::Entry;

Datum concord_peer_status(PG_FUNCTION_ARGS) { return Entry([&] { return concord::sqlapi::PeerStatus(fcinfo); }); }
Datum concord_wait_for_peers(PG_FUNCTION_ARGS) {
	return Entry([&] { return concord::sqlapi::WaitForPeers(fcinfo); });
}
Datum concord_redact_dsn(PG_FUNCTION_ARGS) { return Entry([&] { return concord::sqlapi::RedactDsn(fcinfo); }); }
Datum concord_copy_progress(PG_FUNCTION_ARGS) {
	return Entry([&] { return concord::sqlapi::CopyProgress(fcinfo); });
}
Datum concord_prune_conflicts(PG_FUNCTION_ARGS) {
	return Entry([&] { return concord::sqlapi::PruneConflicts(fcinfo); });
}
Datum concord_describe_message(PG_FUNCTION_ARGS) {
	return Entry([&] { return concord::sqlapi::DescribeMessage(fcinfo); });
}
