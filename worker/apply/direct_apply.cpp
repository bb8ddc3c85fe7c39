/*
 * direct_apply.cpp — one row's INSERT, UPDATE or DELETE through the
 * executor's row-level helpers; see direct_apply.hpp for why and when.
 */
#include "worker/apply/direct_apply.hpp"

extern "C" {
#include "access/genam.h"
#include "access/sysattr.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_am.h"
#include "catalog/pg_trigger.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/acl.h"
#include "utils/snapmgr.h"
}

#include "extension/tombstone/guard.hpp"
#include "worker/apply/apply_state.hpp"
#include "worker/apply/execute.hpp"
#include "worker/apply/run_as_owner.hpp"

namespace concord::apply {

namespace {

/* Whether the key index searches exactly the key columns, with btree equality. */
bool KeyIndexMatchesKey(const LocalTarget *t) {
	if (!OidIsValid(t->key_index))
		return false;
	Relation index = index_open(t->key_index, AccessShareLock);
	bool matches = index->rd_rel->relam == BTREE_AM_OID && index->rd_index->indnkeyatts == t->nkeys;
	for (int i = 0; i < index->rd_index->indnkeyatts && matches; i++) {
		AttrNumber attnum = index->rd_index->indkey.values[i];
		bool is_key = false;
		for (int k = 0; k < t->nkeys; k++)
			is_key = is_key || t->local_attnum[t->key_cols[k]] == attnum;
		matches = is_key;
	}
	index_close(index, AccessShareLock);
	return matches;
}

/*
 * One row's executor state.  A plain struct: an error raised in between
 * leaves its clean-up to transaction abort, as for any executor state.
 */
struct RowEdit {
	Relation rel;
	EState *estate;
	ResultRelInfo *info;
	EPQState epq;
	TupleTableSlot *found; /* the row, locked, once FindRow returned true */
	MemoryContext caller_context;
};

/*
 * Whether a row trigger for the operation fires in this session: in the
 * apply worker's replica role only those enabled ALWAYS or REPLICA do.
 */
bool RowTriggersFire(const LocalTarget *t, CmdType operation) {
	if (SessionReplicationRole != SESSION_REPLICATION_ROLE_REPLICA)
		return true;
	return operation == CMD_INSERT ? t->replica_row_triggers.insert
	       : operation == CMD_UPDATE ? t->replica_row_triggers.update
	                                 : t->replica_row_triggers.del;
}

/*
 * Opens the table for one row's change; updated_cols: as a statement's
 * (UPDATE OF triggers read them).
 */
void Begin(const LocalTarget *t, CmdType operation, Bitmapset *updated_cols, RowEdit *e) {
	PushActiveSnapshot(GetTransactionSnapshot());
	e->rel = table_open(t->relid, RowExclusiveLock);
	e->estate = CreateExecutorState();
	e->caller_context = MemoryContextSwitchTo(e->estate->es_query_cxt);
	RangeTblEntry *rte = makeNode(RangeTblEntry);
	rte->rtekind = RTE_RELATION;
	rte->relid = t->relid;
	rte->relkind = RELKIND_RELATION;
	rte->rellockmode = RowExclusiveLock;
	rte->updatedCols = bms_copy(updated_cols); /* also decides which stored generated columns are recomputed */
	ExecInitRangeTable(e->estate, list_make1(rte));
	e->info = makeNode(ResultRelInfo);
	InitResultRelInfo(e->info, e->rel, 1, nullptr, 0);
	/*
	 * With no trigger that would fire, the executor need not look at each one
	 * after every row (on an UPDATE, working out its columns as well): about
	 * 2,000 instructions per updated row of a table with concord's own
	 * local-only key trigger.
	 */
	if (!RowTriggersFire(t, operation))
		e->info->ri_TrigDesc = nullptr;
	e->estate->es_output_cid = GetCurrentCommandId(true);
	e->estate->es_snapshot = GetActiveSnapshot();
	ExecOpenIndices(e->info, false);
	EvalPlanQualInit(&e->epq, e->estate, nullptr, NIL, -1);
	AfterTriggerBeginQuery();
	e->found = nullptr;
}

/* Fires the queued AFTER ROW triggers and releases what Begin took; the change is then visible. */
void End(RowEdit *e) {
	EvalPlanQualEnd(&e->epq);
	ExecCloseIndices(e->info);
	AfterTriggerEndQuery(e->estate);
	ExecResetTupleTable(e->estate->es_tupleTable, false);
	MemoryContextSwitchTo(e->caller_context);
	FreeExecutorState(e->estate);
	table_close(e->rel, NoLock);
	PopActiveSnapshot();
	CommandCounterIncrement();
}

/* A virtual slot of the table's row type, every column NULL, to fill and then store. */
TupleTableSlot *NullRow(RowEdit *e) {
	TupleDesc desc = RelationGetDescr(e->rel);
	TupleTableSlot *slot = ExecInitExtraTupleSlot(e->estate, desc, &TTSOpsVirtual);
	ExecClearTuple(slot);
	memset(slot->tts_values, 0, sizeof(Datum) * desc->natts);
	memset(slot->tts_isnull, true, sizeof(bool) * desc->natts);
	return slot;
}

/* Finds and locks the row with the key; false if there is none. */
bool FindRow(const LocalTarget *t, const Datum *key_values, RowEdit *e) {
	TupleTableSlot *search = NullRow(e);
	for (int k = 0; k < t->nkeys; k++) {
		AttrNumber attnum = t->local_attnum[t->key_cols[k]];
		search->tts_values[attnum - 1] = key_values[k];
		search->tts_isnull[attnum - 1] = false;
	}
	ExecStoreVirtualTuple(search);
	e->found = table_slot_create(e->rel, &e->estate->es_tupleTable);
	return RelationFindReplTupleByIndex(e->rel, t->key_index, LockTupleExclusive, search, e->found);
}

/* The fast path's guard (guard.hpp) on the found row. */
bool WrittenThroughPeer(const LocalTarget *t, const Datum *key_values, RowEdit *e) {
	bool isnull;
	TransactionId xmin = DatumGetTransactionId(slot_getsysattr(e->found, MinTransactionIdAttributeNumber, &isnull));
	return tombstone::WrittenThrough(xmin, state->origin, CopyOrigin(), t->relid, state->peer_name,
	                                 state->remote_commit_time, [&] { return TombstoneKey(t, key_values); });
}

/* The columns the statement form would SET (at least the first key column, as its "SET key = key"). */
Bitmapset *UpdatedColumns(const RemoteRelation *rel, const TupleValues *row) {
	const LocalTarget *t = &rel->target;
	Bitmapset *cols = nullptr;
	for (int c = 0; c < t->ncols; c++)
		if (UpdateWrites(rel, row->unchanged, c))
			cols = bms_add_member(cols, t->local_attnum[c] - FirstLowInvalidHeapAttributeNumber);
	if (cols == nullptr)
		cols = bms_make_singleton(t->local_attnum[t->key_cols[0]] - FirstLowInvalidHeapAttributeNumber);
	return cols;
}

/*
 * A row to write: the found row with the change's values written over it
 * (UPDATE), or the change's values alone (INSERT, which the target maps
 * every column of).
 */
TupleTableSlot *RowToWrite(const RemoteRelation *rel, const TupleValues *row, RowEdit *e, bool over_found) {
	const LocalTarget *t = &rel->target;
	TupleTableSlot *slot = NullRow(e);
	if (over_found) {
		int natts = RelationGetDescr(e->rel)->natts;
		slot_getallattrs(e->found);
		memcpy(slot->tts_values, e->found->tts_values, sizeof(Datum) * natts);
		memcpy(slot->tts_isnull, e->found->tts_isnull, sizeof(bool) * natts);
	}
	for (int c = 0; c < t->ncols; c++) {
		if (over_found && !UpdateWrites(rel, row->unchanged, c))
			continue;
		AttrNumber attnum = t->local_attnum[c];
		slot->tts_values[attnum - 1] = row->values[c];
		slot->tts_isnull[attnum - 1] = row->nulls[c] == 'n';
	}
	ExecStoreVirtualTuple(slot);
	return slot;
}

/* Whether every column an INSERT would fill from a default is sent by the peer (else SPI fills the defaults). */
bool PeerSendsEveryColumn(const LocalTarget *t, Relation local) {
	TupleDesc desc = RelationGetDescr(local);
	int live = 0;
	for (int i = 0; i < desc->natts; i++) {
		Form_pg_attribute att = TupleDescAttr(desc, i);
		if (!att->attisdropped && !att->attgenerated)
			live++;
	}
	return live == t->ncols;
}

bool HasStatementBehaviour(const TriggerDesc *trig, CmdType operation) {
	if (trig == nullptr)
		return false;
	if (operation == CMD_INSERT)
		return trig->trig_insert_before_row || trig->trig_insert_instead_row || trig->trig_insert_before_statement ||
		       trig->trig_insert_after_statement || trig->trig_insert_new_table;
	if (operation == CMD_UPDATE)
		return trig->trig_update_before_row || trig->trig_update_instead_row || trig->trig_update_before_statement ||
		       trig->trig_update_after_statement || trig->trig_update_old_table || trig->trig_update_new_table;
	return trig->trig_delete_before_row || trig->trig_delete_instead_row || trig->trig_delete_before_statement ||
	       trig->trig_delete_after_statement || trig->trig_delete_old_table;
}

/* Whether a row trigger for the operation is enabled ALWAYS or REPLICA (fires in the apply worker). */
bool FiresInReplica(const TriggerDesc *trig, int16 event) {
	for (int i = 0; trig != nullptr && i < trig->numtriggers; i++) {
		const Trigger *tg = &trig->triggers[i];
		if (TRIGGER_FOR_ROW(tg->tgtype) && (tg->tgtype & event) != 0 &&
		    (tg->tgenabled == TRIGGER_FIRES_ALWAYS || tg->tgenabled == TRIGGER_FIRES_ON_REPLICA))
			return true;
	}
	return false;
}

} // namespace

void DecideDirectPath(RemoteRelation *rel, Relation local) {
	LocalTarget *t = &rel->target;
	bool forced_row_security = local->rd_rel->relrowsecurity && local->rd_rel->relforcerowsecurity;
	bool plain = local->rd_rules == nullptr && !forced_row_security;
	t->direct_insert =
	    plain && PeerSendsEveryColumn(t, local) && !HasStatementBehaviour(local->trigdesc, CMD_INSERT);
	/* Delta columns are computed by the UPDATE statement from the local value. */
	bool by_key = plain && !t->has_delta && KeyIndexMatchesKey(t);
	t->direct_update = by_key && !HasStatementBehaviour(local->trigdesc, CMD_UPDATE);
	t->direct_delete = by_key && !HasStatementBehaviour(local->trigdesc, CMD_DELETE);
	t->replica_row_triggers.insert = FiresInReplica(local->trigdesc, TRIGGER_TYPE_INSERT);
	t->replica_row_triggers.update = FiresInReplica(local->trigdesc, TRIGGER_TYPE_UPDATE);
	t->replica_row_triggers.del = FiresInReplica(local->trigdesc, TRIGGER_TYPE_DELETE);
}

bool UseDirectPath(const LocalTarget *t, CmdType operation) {
	AclMode needed;
	switch (operation) {
	case CMD_INSERT:
		if (!t->direct_insert)
			return false;
		needed = ACL_INSERT;
		break;
	case CMD_UPDATE:
		if (!t->direct_update)
			return false;
		needed = ACL_UPDATE | ACL_SELECT; /* SELECT: the statement reads the key in its WHERE */
		break;
	case CMD_DELETE:
		if (!t->direct_delete)
			return false;
		needed = ACL_DELETE | ACL_SELECT;
		break;
	default:
		return false;
	}
	/* The statement's own privilege checks: without the rights, SPI runs it and raises their error. */
	return pg_class_aclmask(t->relid, t->owner, needed, ACLMASK_ALL) == needed;
}

uint64 DirectInsert(RemoteRelation *rel, const TupleValues *row) {
	LocalTarget *t = &rel->target;
	OwnerScope owner(t->owner);
	RowEdit e;
	Begin(t, CMD_INSERT, nullptr, &e);
	ExecSimpleRelationInsert(e.info, e.estate, RowToWrite(rel, row, &e, false));
	End(&e);
	owner.Restore();
	return 1;
}

uint64 DirectUpdate(RemoteRelation *rel, const TupleValues *row, const Datum *key_values, bool guarded) {
	LocalTarget *t = &rel->target;
	OwnerScope owner(t->owner);
	RowEdit e;
	Begin(t, CMD_UPDATE, UpdatedColumns(rel, row), &e);
	uint64 updated = 0;
	if (FindRow(t, key_values, &e) && (!guarded || WrittenThroughPeer(t, key_values, &e))) {
		TupleTableSlot *slot = RowToWrite(rel, row, &e, true);
		EvalPlanQualSetSlot(&e.epq, slot);
		ExecSimpleRelationUpdate(e.info, e.estate, &e.epq, e.found, slot);
		updated = 1;
	}
	End(&e);
	owner.Restore();
	return updated;
}

uint64 DirectDelete(RemoteRelation *rel, const Datum *key_values, bool guarded) {
	LocalTarget *t = &rel->target;
	OwnerScope owner(t->owner);
	RowEdit e;
	Begin(t, CMD_DELETE, nullptr, &e);
	uint64 deleted = 0;
	if (FindRow(t, key_values, &e) && (!guarded || WrittenThroughPeer(t, key_values, &e))) {
		EvalPlanQualSetSlot(&e.epq, e.found);
		ExecSimpleRelationDelete(e.info, e.estate, &e.epq, e.found);
		deleted = 1;
	}
	End(&e);
	owner.Restore();
	return deleted;
}

} // namespace concord::apply
