/*
 * skip.cpp — the conflicts-table record of concord.skip_transaction().
 */
#include "extension/bridge/pg_compat.hpp"
#include "worker/apply/skip.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

#include "worker/apply/apply_state.hpp"
#include "worker/apply/spi_session.hpp"

namespace concord::apply {

void RecordSkippedTransaction(XLogRecPtr remote_end_lsn) {
	Oid types[4] = {TEXTOID, TIMESTAMPTZOID, PG_LSNOID, INT8OID};
	Datum values[4] = {CStringGetTextDatum(state->peer_name), TimestampTzGetDatum(state->remote_commit_time),
	                   LSNGetDatum(state->remote_final_lsn), Int64GetDatum(static_cast<int64>(state->changes_in_xact))};
	ConnectSpi();
	int rc = SPI_execute_with_args(
	    "INSERT INTO concord.conflicts (relation, conflict_type, resolution, remote_origin, remote_commit_ts, "
	    "remote_lsn, remote_tuple) VALUES (NULL, 'transaction_skipped', 'skipped', $1, $2, $3, "
	    "jsonb_build_object('changes', $4))",
	    4, types, values, nullptr, false, 0);
	RequireSpiResult(rc, SPI_OK_INSERT, "recording the skipped transaction");
	ereport(LOG, (errmsg("concord: skipped the transaction from peer \"%s\" ending at %X/%X (%llu changes), as "
	                     "requested by concord.skip_transaction()",
	                     state->peer_name, CONCORD_LSN_ARGS(remote_end_lsn),
	                     static_cast<unsigned long long>(state->changes_in_xact))));
}

} // namespace concord::apply
