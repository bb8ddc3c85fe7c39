/*
 * conflict_log.cpp — INSERT INTO concord.conflicts through a kept plan.
 */
#include "worker/conflict/conflict_log.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"
}

#include "worker/apply/apply_state.hpp"
#include "worker/apply/plans.hpp"
#include "worker/apply/spi_session.hpp"
#include "worker/conflict/local_version.hpp"
#include "worker/conflict/rows.hpp"

namespace concord::conflict_pg {

namespace {

SPIPlanPtr insert_plan = nullptr;

Datum TextOrNull(const char *s, char *null_flag) {
	if (s == nullptr || s[0] == '\0') {
		*null_flag = 'n';
		return (Datum)0;
	}
	*null_flag = ' ';
	return CStringGetTextDatum(s);
}

} // namespace

void LogConflict(const apply::LocalTarget *t, conflict::ConflictType type, const char *resolution,
                 const conflict::Version &local, Datum local_row, Datum remote_row) {
	constexpr int kArgs = 10;
	if (insert_plan == nullptr) {
		Oid types[kArgs] = {OIDOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID,
		                    JSONOID, JSONOID, PG_LSNOID};
		insert_plan = apply::PrepareKept(
		    "INSERT INTO concord.conflicts (relation, conflict_type, resolution, local_origin, remote_origin, "
		    "local_commit_ts, remote_commit_ts, local_tuple, remote_tuple, remote_lsn) "
		    "VALUES ($1::pg_catalog.regclass, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb, $10)",
		    kArgs, types);
	}
	Datum values[kArgs];
	char nulls[kArgs + 1];
	memset(nulls, ' ', kArgs);
	nulls[kArgs] = '\0';
	values[0] = ObjectIdGetDatum(t->relid);
	values[1] = CStringGetTextDatum(conflict::ConflictTypeName(type));
	values[2] = CStringGetTextDatum(resolution);
	char *local_node = local.exists ? pnstrdup(local.node.data(), local.node.size()) : nullptr;
	values[3] = TextOrNull(local_node, &nulls[3]);
	values[4] = TextOrNull(apply::state->peer_name, &nulls[4]);
	values[5] = TimestampTzGetDatum(local.commit_ts);
	nulls[5] = local.exists && local.ts_known ? ' ' : 'n';
	values[6] = TimestampTzGetDatum(apply::state->remote_commit_time);
	values[7] = local_row != (Datum)0 ? CompositeToJson(local_row) : (Datum)0;
	nulls[7] = local_row != (Datum)0 ? ' ' : 'n';
	values[8] = remote_row != (Datum)0 ? CompositeToJson(remote_row) : (Datum)0;
	nulls[8] = remote_row != (Datum)0 ? ' ' : 'n';
	values[9] = LSNGetDatum(apply::state->remote_final_lsn);
	apply::ExecutePlan(insert_plan, values, nulls, 0, SPI_OK_INSERT, "recording a conflict");
}

} // namespace concord::conflict_pg
