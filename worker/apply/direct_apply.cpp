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
#include "executor/nodeModifyTable.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
}

#include "extension/tombstone/guard.hpp"
#include "worker/apply/apply_state.hpp"
#include "worker/apply/execute.hpp"
#include "worker/apply/run_as_owner.hpp"

namespace concord::apply {

namespace {

/*
 * Whether the key index searches exactly the key columns with btree
 * equality; if so, prepares t->key_search (in the target's memory context),
 * so that finding a row looks nothing up in the catalogs.
 */
bool PrepareKeySearch(LocalTarget *t) {
	if (!OidIsValid(t->key_index))
		return false;
	Relation index = index_open(t->key_index, AccessShareLock);
	int ncols = index->rd_index->indnkeyatts;
	bool matches = index->rd_rel->relam == BTREE_AM_OID && index->rd_index->indisunique && ncols == t->nkeys;
	if (matches) {
		t->key_search.value_of = static_cast<int *>(MemoryContextAlloc(t->context, sizeof(int) * ncols));
		t->key_search.eq = static_cast<FmgrInfo *>(MemoryContextAllocZero(t->context, sizeof(FmgrInfo) * ncols));
		t->key_search.collation = static_cast<Oid *>(MemoryContextAlloc(t->context, sizeof(Oid) * ncols));
	}
	for (int i = 0; i < ncols && matches; i++) {
		AttrNumber attnum = index->rd_index->indkey.values[i];
		int value_of = -1;
		for (int k = 0; k < t->nkeys; k++)
			if (t->local_attnum[t->key_cols[k]] == attnum)
				value_of = k;
		Oid type = index->rd_opcintype[i];
		Oid eq = get_opfamily_member(index->rd_opfamily[i], type, type, BTEqualStrategyNumber);
		matches = value_of >= 0 && OidIsValid(eq);
		if (matches) {
			t->key_search.value_of[i] = value_of;
			fmgr_info_cxt(get_opcode(eq), &t->key_search.eq[i], t->context);
			t->key_search.collation[i] = index->rd_indcollation[i];
		}
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
	TupleTableSlot *found; /* the row as of the snapshot, once FindRow returned true */
	MemoryContext caller_context;
};

/*
 * How often one change looks for its row again after concurrent
 * transactions changed it before it could be written, before giving up
 * (an error: the remote transaction is applied again).
 */
constexpr int kMaxFindAttempts = 100;

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
	/* Registered as the statement's result relation, so AFTER ROW triggers fire with it (not a copy they open). */
	e->estate->es_opened_result_relations = list_make1(e->info);
	AfterTriggerBeginQuery();
	e->found = nullptr;
}

/*
 * A concurrent transaction changed the found row and committed: a snapshot
 * that sees its change, to find the row again (the apply worker runs READ
 * COMMITTED, so each transaction snapshot is new).
 */
void NextAttempt(const LocalTarget *t, RowEdit *e, int attempt) {
	if (attempt + 1 >= kMaxFindAttempts)
		ereport(ERROR, (errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
		                errmsg("row of table %s changed by %d concurrent transactions while a change from peer "
		                       "\"%s\" was applied to it",
		                       t->display_name, kMaxFindAttempts, state->peer_name)));
	PopActiveSnapshot();
	PushActiveSnapshot(GetTransactionSnapshot());
	e->estate->es_snapshot = GetActiveSnapshot();
}

/* Fires the queued AFTER ROW triggers and releases what Begin took; the change is then visible. */
void End(RowEdit *e) {
	AfterTriggerEndQuery(e->estate);
	/* Closes the indexes, and any table a trigger's firing opened, before the executor state goes. */
	ExecCloseResultRelations(e->estate);
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

/* The key index among those Begin opened. */
Relation KeyIndex(const LocalTarget *t, const RowEdit *e) {
	for (int i = 0; i < e->info->ri_NumIndices; i++)
		if (RelationGetRelid(e->info->ri_IndexRelationDescs[i]) == t->key_index)
			return e->info->ri_IndexRelationDescs[i];
	elog(ERROR, "concord: key index %u of table %s is not open", t->key_index, t->display_name);
	return nullptr; /* not reached */
}

/*
 * Finds the row with the key as of the active snapshot; false if there is
 * none.  The row is not locked: the write that follows waits for any
 * transaction changing it, and reports a change that came first (see
 * Written).  A tuple lock here would cost a WAL record and a buffer write
 * per row for that alone.
 */
bool FindRow(LocalTarget *t, const Datum *key_values, RowEdit *e) {
	ScanKeyData keys[INDEX_MAX_KEYS];
	for (int i = 0; i < t->nkeys; i++)
		ScanKeyEntryInitializeWithInfo(&keys[i], 0, static_cast<AttrNumber>(i + 1), BTEqualStrategyNumber, InvalidOid,
		                               t->key_search.collation[i], &t->key_search.eq[i],
		                               key_values[t->key_search.value_of[i]]);
	IndexScanDesc scan = index_beginscan(e->rel, KeyIndex(t, e), e->estate->es_snapshot, t->nkeys, 0);
	index_rescan(scan, keys, t->nkeys, nullptr, 0);
	if (e->found == nullptr)
		e->found = table_slot_create(e->rel, &e->estate->es_tupleTable);
	/* The key index is unique: one visible row at most.  The slot keeps its buffer pinned. */
	bool found = index_getnext_slot(scan, ForwardScanDirection, e->found);
	index_endscan(scan);
	return found;
}

/*
 * Whether the found row was written (updated or deleted); false if a
 * concurrent transaction changed or deleted it first and committed, after
 * the write waited for it to end.  Then the change finds the row again, and
 * its guard looks at the new version.
 */
bool Written(TM_Result result, const LocalTarget *t) {
	if (result == TM_Ok)
		return true;
	if (result == TM_Updated || result == TM_Deleted)
		return false;
	/* TM_SelfModified: only a BEFORE trigger could, and the direct path is not taken with one. */
	elog(ERROR, "concord: writing a row of table %s returned %d", t->display_name, static_cast<int>(result));
	return false; /* not reached */
}

/*
 * Writes slot over the found row, doing what an UPDATE does for one row
 * without BEFORE ROW triggers (the direct path has none): the replica
 * identity check, stored generated columns, constraints, indexes, AFTER
 * ROW triggers.  False if a concurrent transaction changed the row first.
 */
bool UpdateFound(const LocalTarget *t, RowEdit *e, TupleTableSlot *slot) {
	Relation rel = e->rel;
	CheckCmdReplicaIdentity(rel, CMD_UPDATE);
	TupleConstr *constr = RelationGetDescr(rel)->constr;
	if (constr != nullptr && constr->has_generated_stored)
		ExecComputeStoredGenerated(e->info, e->estate, slot, CMD_UPDATE);
	if (constr != nullptr)
		ExecConstraints(e->info, slot, e->estate);
	if (rel->rd_rel->relispartition)
		ExecPartitionCheck(e->info, slot, e->estate, true);
	TM_FailureData failure;
	LockTupleMode lock_mode;
	bool update_indexes = false;
	if (!Written(table_tuple_update(rel, &e->found->tts_tid, slot, e->estate->es_output_cid, e->estate->es_snapshot,
	                                InvalidSnapshot, true, &failure, &lock_mode, &update_indexes),
	             t))
		return false;
	List *recheck = NIL;
	if (e->info->ri_NumIndices > 0 && update_indexes)
		recheck = ExecInsertIndexTuples(e->info, slot, e->estate, true, false, nullptr, NIL);
	ExecARUpdateTriggers(e->estate, e->info, nullptr, nullptr, &e->found->tts_tid, nullptr, slot, recheck, nullptr,
	                     false);
	list_free(recheck);
	return true;
}

/* Deletes the found row as a DELETE does without BEFORE ROW triggers; false as for UpdateFound. */
bool DeleteFound(const LocalTarget *t, RowEdit *e) {
	CheckCmdReplicaIdentity(e->rel, CMD_DELETE);
	TM_FailureData failure;
	if (!Written(table_tuple_delete(e->rel, &e->found->tts_tid, e->estate->es_output_cid, e->estate->es_snapshot,
	                                InvalidSnapshot, true, &failure, false),
	             t))
		return false;
	ExecARDeleteTriggers(e->estate, e->info, &e->found->tts_tid, nullptr, nullptr, false);
	return true;
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

/*
 * Finds the row with the key and, if the guard allows, writes it with
 * write() (UpdateFound or DeleteFound); when a concurrent transaction
 * changed the row first, looks again with a snapshot that sees its change.
 * Returns the number of rows written (0 or 1).
 */
template <typename Write>
uint64 WriteByKey(LocalTarget *t, const Datum *key_values, bool guarded, RowEdit *e, Write write) {
	for (int attempt = 0; FindRow(t, key_values, e) && (!guarded || WrittenThroughPeer(t, key_values, e));
	     attempt++) {
		if (write())
			return 1;
		NextAttempt(t, e, attempt);
	}
	return 0;
}

} // namespace

void DecideDirectPath(RemoteRelation *rel, Relation local) {
	LocalTarget *t = &rel->target;
	bool forced_row_security = local->rd_rel->relrowsecurity && local->rd_rel->relforcerowsecurity;
	bool plain = local->rd_rules == nullptr && !forced_row_security;
	t->direct_insert =
	    plain && PeerSendsEveryColumn(t, local) && !HasStatementBehaviour(local->trigdesc, CMD_INSERT);
	/* Delta columns are computed by the UPDATE statement from the local value. */
	bool by_key = plain && !t->has_delta && PrepareKeySearch(t);
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
	uint64 updated =
	    WriteByKey(t, key_values, guarded, &e, [&] { return UpdateFound(t, &e, RowToWrite(rel, row, &e, true)); });
	End(&e);
	owner.Restore();
	return updated;
}

uint64 DirectDelete(RemoteRelation *rel, const Datum *key_values, bool guarded) {
	LocalTarget *t = &rel->target;
	OwnerScope owner(t->owner);
	RowEdit e;
	Begin(t, CMD_DELETE, nullptr, &e);
	uint64 deleted = WriteByKey(t, key_values, guarded, &e, [&] { return DeleteFound(t, &e); });
	End(&e);
	owner.Restore();
	return deleted;
}

} // namespace concord::apply
