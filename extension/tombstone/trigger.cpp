/*
 * trigger.cpp — concord.tombstone_trigger(): on every replicated table,
 * AFTER DELETE FOR EACH ROW (ENABLE ALWAYS: local and applied deletes), and
 * AFTER UPDATE OF the key columns (local updates only; see add_table) where
 * it records the old key if the key really changed — as far as convergence
 * is concerned the old key was deleted.  Its arguments name the table's
 * delta columns (set_delta_columns installs them): their values in the old
 * row go into the tombstone, for a newer update that brings the row back.
 */
extern "C" {
#include "postgres.h"

#include "access/htup_details.h"
#include "access/sysattr.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "nodes/bitmapset.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
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

/*
 * A value's text, exact whatever the session's extra_float_digits: a real
 * or double precision counter would otherwise be rounded to fewer digits
 * in a session that lowered it (the output functions read the setting).
 */
char *ExactText(Oid type, Datum value) {
	Oid output;
	bool varlena;
	getTypeOutputInfo(type, &output, &varlena);
	Oid base = getBaseType(type);
	if (base != FLOAT4OID && base != FLOAT8OID)
		return OidOutputFunctionCall(output, value);
	int saved = extra_float_digits;
	extra_float_digits = 1; /* shortest text that reads back exactly; the output cannot fail */
	char *text = OidOutputFunctionCall(output, value);
	extra_float_digits = saved;
	return text;
}

/*
 * The old row's values of the columns the trigger's arguments name, as a
 * text[] of name, value pairs (text output, NULL kept); nullptr without
 * arguments.  A name that no longer resolves (the column was dropped or
 * renamed since set_delta_columns) is left out.
 */
ArrayType *DeltaValues(const TriggerData *td) {
	const Trigger *trigger = td->tg_trigger;
	if (trigger->tgnargs == 0)
		return nullptr;
	TupleDesc desc = RelationGetDescr(td->tg_relation);
	auto *elems = static_cast<Datum *>(palloc(sizeof(Datum) * 2 * trigger->tgnargs));
	auto *nulls = static_cast<bool *>(palloc0(sizeof(bool) * 2 * trigger->tgnargs));
	int n = 0;
	for (int i = 0; i < trigger->tgnargs; i++) {
		const char *name = trigger->tgargs[i];
		int attnum = SPI_fnumber(desc, name);
		if (attnum <= 0)
			continue;
		bool isnull;
		Datum value = heap_getattr(td->tg_trigtuple, attnum, desc, &isnull);
		elems[n] = CStringGetTextDatum(name);
		n++;
		if (isnull) {
			elems[n] = (Datum)0;
			nulls[n] = true;
		} else {
			elems[n] = CStringGetTextDatum(ExactText(TupleDescAttr(desc, attnum - 1)->atttypid, value));
		}
		n++;
	}
	int dims[1] = {n};
	int lbs[1] = {1};
	return construct_md_array(elems, nulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT);
}

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
	Record(RelationGetRelid(rel), old_key, DeltaValues(td));
	return PointerGetDatum(nullptr);
}

} // namespace

} // namespace concord::tombstone

Datum concord_tombstone_trigger(PG_FUNCTION_ARGS) {
	return concord::pg::Entry([&] { return concord::tombstone::Fire(fcinfo); });
}
