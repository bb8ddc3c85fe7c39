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
#include "utils/builtins.h"
}

#include "common/protocol/wire.hpp"
#include "extension/bridge/string_info_sink.hpp"
#include "extension/catalog/catalog.hpp"
#include "extension/shmem/shared_state.hpp"

namespace concord::tombstone {

namespace {

SPIPlanPtr upsert_plan = nullptr;
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


bytea *BuildKey(int nkeys, FmgrInfo *send_funcs, const Datum *values) {
	StringInfoData buf;
	initStringInfo(&buf);
	appendStringInfoSpaces(&buf, VARHDRSZ);
	pg::StringInfoSink sink{&buf};
	protocol::Writer<pg::StringInfoSink> w(sink);
	for (int i = 0; i < nkeys; i++) {
		bytea *sent = SendFunctionCall(&send_funcs[i], values[i]);
		w.PutString(std::string_view(VARDATA(sent), VARSIZE(sent) - VARHDRSZ));
	}
	SET_VARSIZE(buf.data, buf.len);
	return reinterpret_cast<bytea *>(buf.data);
}

void Record(Oid relid, bytea *key) {
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
		Oid types[2] = {OIDOID, BYTEAOID};
		/* DO UPDATE makes a new row version, so xmin becomes this delete's transaction. */
		SPIPlanPtr plan = SPI_prepare("INSERT INTO concord.tombstone AS t (relid, key) VALUES ($1, $2) "
		                              "ON CONFLICT (relid, key) DO UPDATE SET relid = EXCLUDED.relid",
		                              2, types);
		if (plan == nullptr || SPI_keepplan(plan) != 0)
			elog(ERROR, "concord: preparing the tombstone upsert failed");
		upsert_plan = plan;
	}
	Datum values[2] = {ObjectIdGetDatum(relid), PointerGetDatum(key)};
	int rc = SPI_execute_plan(upsert_plan, values, nullptr, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "concord: recording a tombstone failed: %s", SPI_result_code_string(rc));
	SPI_finish();
	SetUserIdAndSecContext(saved_user, saved_context);
}

} // namespace concord::tombstone
