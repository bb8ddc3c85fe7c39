/*
 * tombstone.cpp — tombstone keys and the tombstone upsert; see tombstone.hpp.
 */
#include "extension/tombstone/tombstone.hpp"

extern "C" {
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/builtins.h"
}

#include "common/protocol/wire.hpp"
#include "extension/bridge/string_info_sink.hpp"
#include "extension/catalog/catalog.hpp"
#include "extension/shmem/shared_state.hpp"

namespace concord::tombstone {

namespace {

SPIPlanPtr upsert_plan = nullptr;
SPIPlanPtr forget_plan = nullptr;
LocalTransactionId versions_recorded_in = InvalidLocalTransactionId; /* see NoteVersionsRecorded */
uint64 buckets_to_bump = 0; /* bit i: bump tombstone_epoch[i] when this transaction commits */
bool callback_registered = false;

void BumpAtCommit(XactEvent event, void *) {
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT) {
		for (int i = 0; i < shmem::kTombstoneBuckets; i++)
			if (buckets_to_bump & (UINT64CONST(1) << i))
				pg_atomic_fetch_add_u64(&shmem::state->tombstone_epoch[i], 1);
		buckets_to_bump = 0;
	} else if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT) {
		buckets_to_bump = 0;
	}
}

} // namespace

/*
 * Bumps the relation's epoch when the transaction commits — after the
 * tombstone is visible, and (callbacks run before locks are released) before
 * anyone waiting on this transaction's rows goes on.
 */
void NoteTombstones(Oid relid) {
	if (shmem::state == nullptr)
		return;
	if (!callback_registered) {
		RegisterXactCallback(BumpAtCommit, nullptr);
		callback_registered = true;
	}
	buckets_to_bump |= UINT64CONST(1) << (relid % shmem::kTombstoneBuckets);
}


bytea *BuildKey(int nkeys, FmgrInfo *send_funcs, const Datum *values, const bool *nulls) {
	StringInfoData buf;
	initStringInfo(&buf);
	appendStringInfoSpaces(&buf, VARHDRSZ);
	pg::StringInfoSink sink{&buf};
	protocol::Writer<pg::StringInfoSink> w(sink);
	for (int i = 0; i < nkeys; i++) {
		if (nulls != nullptr && nulls[i]) {
			w.PutI32(-1);
			continue;
		}
		bytea *sent = SendFunctionCall(&send_funcs[i], values[i]);
		w.PutString(std::string_view(VARDATA(sent), VARSIZE(sent) - VARHDRSZ));
	}
	SET_VARSIZE(buf.data, buf.len);
	return reinterpret_cast<bytea *>(buf.data);
}

namespace {

/* The tombstone upsert; keep: leave the counters of an existing tombstone as they are. */
void Upsert(Oid relid, bytea *key, ArrayType *counters, bool keep) {
	NoteTombstones(relid);
	Oid owner = catalog::ExtensionOwner();
	Oid saved_user;
	int saved_context;
	GetUserIdAndSecContext(&saved_user, &saved_context);
	/* Abort restores the user if the upsert fails. */
	SetUserIdAndSecContext(owner, saved_context | SECURITY_LOCAL_USERID_CHANGE);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "concord: SPI_connect failed");
	if (upsert_plan == nullptr) {
		Oid types[4] = {OIDOID, BYTEAOID, TEXTARRAYOID, BOOLOID};
		/* DO UPDATE makes a new row version, so xmin becomes this delete's transaction. */
		SPIPlanPtr plan = SPI_prepare(
		    "INSERT INTO concord.tombstone AS t (relid, key, counters) VALUES ($1, $2, pg_catalog.jsonb_object($3)) "
		    "ON CONFLICT (relid, key) DO UPDATE SET relid = EXCLUDED.relid, "
		    "counters = CASE WHEN $4 THEN t.counters ELSE EXCLUDED.counters END",
		    4, types);
		if (plan == nullptr || SPI_keepplan(plan) != 0)
			elog(ERROR, "concord: preparing the tombstone upsert failed");
		upsert_plan = plan;
	}
	Datum values[4] = {ObjectIdGetDatum(relid), PointerGetDatum(key), PointerGetDatum(counters), BoolGetDatum(keep)};
	char nulls[5] = {' ', ' ', counters != nullptr ? ' ' : 'n', ' ', '\0'};
	int rc = SPI_execute_plan(upsert_plan, values, nulls, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "concord: recording a tombstone failed: %s", SPI_result_code_string(rc));
	ForgetRecordedVersion(relid, key);
	SPI_finish();
	SetUserIdAndSecContext(saved_user, saved_context);
}

} // namespace

void ForgetRecordedVersion(Oid relid, bytea *key) {
	if (versions_recorded_in != MyProc->lxid)
		return; /* nothing recorded in this transaction: nothing to drop */
	if (forget_plan == nullptr) {
		Oid types[3] = {OIDOID, BYTEAOID, XIDOID};
		SPIPlanPtr plan = SPI_prepare("DELETE FROM concord.row_version WHERE relid = $1 AND key = $2 AND xmin = $3", 3,
		                              types);
		if (plan == nullptr || SPI_keepplan(plan) != 0)
			elog(ERROR, "concord: preparing the recorded version delete failed");
		forget_plan = plan;
	}
	Datum values[3] = {ObjectIdGetDatum(relid), PointerGetDatum(key), TransactionIdGetDatum(GetCurrentTransactionId())};
	int rc = SPI_execute_plan(forget_plan, values, nullptr, false, 0);
	if (rc != SPI_OK_DELETE)
		elog(ERROR, "concord: dropping a recorded version failed: %s", SPI_result_code_string(rc));
}

void NoteVersionsRecorded() { versions_recorded_in = MyProc->lxid; }

void Record(Oid relid, bytea *key, ArrayType *counters) { Upsert(relid, key, counters, false); }

void Refresh(Oid relid, bytea *key) { Upsert(relid, key, nullptr, true); }

} // namespace concord::tombstone
