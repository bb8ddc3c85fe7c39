/*
 * trigger.cpp — concord.tombstone_trigger(): on every replicated table,
 * AFTER DELETE FOR EACH ROW (ENABLE ALWAYS: local and applied deletes), and
 * AFTER UPDATE OF the key columns (local updates only; see add_table) where
 * it records the old key if the key really changed — as far as convergence
 * is concerned the old key was deleted.
 */
extern "C" {
#include "postgres.h"

#include "access/htup_details.h"
#include "access/sysattr.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "nodes/bitmapset.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
}

#include "extension/bridge/pg_guard.hpp"
#include "extension/catalog/key_columns.hpp"
#include "extension/tombstone/tombstone.hpp"

extern "C" {
PG_FUNCTION_INFO_V1(concord_tombstone_trigger);
}

namespace concord::tombstone {

namespace {

Datum Fire(FunctionCallInfo fcinfo) {
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
		                errmsg("concord.tombstone_trigger() must be called as a trigger")));
	auto *td = reinterpret_cast<TriggerData *>(fcinfo->context);
	if (!TRIGGER_FIRED_AFTER(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
	    !(TRIGGER_FIRED_BY_DELETE(td->tg_event) || TRIGGER_FIRED_BY_UPDATE(td->tg_event)))
		ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
		                errmsg("concord.tombstone_trigger() must fire AFTER DELETE or UPDATE FOR EACH ROW")));
	Relation rel = td->tg_relation;
	TupleDesc desc = RelationGetDescr(rel);
	Bitmapset *key = catalog::KeyColumns(rel);
	int nkeys = bms_num_members(key);
	if (nkeys == 0)
		return PointerGetDatum(nullptr); /* no identity: nothing to remember by */

	auto *send_funcs = static_cast<FmgrInfo *>(palloc0(sizeof(FmgrInfo) * nkeys));
	auto *values = static_cast<Datum *>(palloc(sizeof(Datum) * nkeys));
	auto *new_values = static_cast<Datum *>(palloc(sizeof(Datum) * nkeys));
	bool is_update = TRIGGER_FIRED_BY_UPDATE(td->tg_event);
	int i = 0;
	int member = -1;
	/* tg_trigtuple is the deleted row, or the old row of an update. */
	/* Bitmap members come out in increasing attnum order, as BuildKey requires. */
	while ((member = bms_next_member(key, member)) >= 0) {
		AttrNumber attnum = member + FirstLowInvalidHeapAttributeNumber;
		bool isnull;
		values[i] = heap_getattr(td->tg_trigtuple, attnum, desc, &isnull);
		if (isnull)
			return PointerGetDatum(nullptr);
		if (is_update) {
			new_values[i] = heap_getattr(td->tg_newtuple, attnum, desc, &isnull);
			if (isnull)
				return PointerGetDatum(nullptr);
		}
		Oid send;
		bool varlena;
		getTypeBinaryOutputInfo(TupleDescAttr(desc, attnum - 1)->atttypid, &send, &varlena);
		fmgr_info(send, &send_funcs[i]);
		i++;
	}
	bytea *old_key = BuildKey(nkeys, send_funcs, values);
	if (is_update) {
		/* UPDATE OF a key column fires even if the value stays: compare the keys themselves. */
		bytea *new_key = BuildKey(nkeys, send_funcs, new_values);
		if (VARSIZE(old_key) == VARSIZE(new_key) && memcmp(old_key, new_key, VARSIZE(old_key)) == 0)
			return PointerGetDatum(nullptr);
	}
	Record(RelationGetRelid(rel), old_key);
	return PointerGetDatum(nullptr);
}

} // namespace

} // namespace concord::tombstone

Datum concord_tombstone_trigger(PG_FUNCTION_ARGS) {
	return concord::pg::Entry([&] { return concord::tombstone::Fire(fcinfo); });
}
