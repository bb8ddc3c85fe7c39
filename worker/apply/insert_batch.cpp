/*
 * insert_batch.cpp — gathering and applying runs of inserts; see insert_batch.hpp.
 *
 * Three ways to apply a batch, cheapest first:
 *   1. the table has no tombstones: COPY the rows in (multi-row heap and
 *      index inserts, the values' text parsed once) inside a subtransaction;
 *      a duplicate key rolls that back and falls through to 2;
 *   2. one INSERT ... SELECT FROM unnest(arrays) ... ON CONFLICT DO NOTHING,
 *      skipping tombstoned keys when the table has tombstones;
 *   3. rows 2 kept out go through the conflict slow path one by one.
 */
#include "worker/apply/insert_batch.hpp"

extern "C" {
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/copy.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "nodes/makefuncs.h"
#include "parser/parse_node.h"
#include "parser/parse_relation.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
}

#include "worker/apply/apply_state.hpp"
#include "worker/apply/execute.hpp"
#include "worker/apply/plans.hpp"
#include "worker/apply/run_as_owner.hpp"
#include "worker/apply/spi_session.hpp"
#include "worker/conflict/resolve.hpp"

namespace concord::apply {

namespace {

MemoryContext batch_context = nullptr;
RemoteRelation *batch_rel = nullptr;
int batch_count = 0;
size_t batch_bytes = 0;
TupleValues batch_rows[kMaxBatchRows];

/* COPY text form of the gathered rows, produced row by row for CopyFrom. */
struct CopySource {
	int next_row;
	StringInfoData line;
	int line_off;
};
CopySource copy_source;

void AppendCopyText(StringInfo buf, const char *text) {
	for (const char *p = text; *p; p++) {
		switch (*p) {
		case '\\':
			appendStringInfoString(buf, "\\\\");
			break;
		case '\n':
			appendStringInfoString(buf, "\\n");
			break;
		case '\r':
			appendStringInfoString(buf, "\\r");
			break;
		case '\t':
			appendStringInfoString(buf, "\\t");
			break;
		default:
			appendStringInfoChar(buf, *p);
		}
	}
}

int ReadCopyRows(void *outbuf, int minread, int maxread) {
	CopySource *s = &copy_source;
	int copied = 0;
	while (copied < minread) {
		if (s->line_off >= s->line.len) {
			if (s->next_row >= batch_count)
				break;
			const TupleValues &row = batch_rows[s->next_row++];
			resetStringInfo(&s->line);
			s->line_off = 0;
			for (int c = 0; c < row.ncols; c++) {
				if (c > 0)
					appendStringInfoChar(&s->line, '\t');
				if (row.nulls[c] == 'n')
					appendStringInfoString(&s->line, "\\N");
				else
					AppendCopyText(&s->line, row.texts[c]);
			}
			appendStringInfoChar(&s->line, '\n');
		}
		int n = Min(maxread - copied, s->line.len - s->line_off);
		memcpy(static_cast<char *>(outbuf) + copied, s->line.data + s->line_off, n);
		s->line_off += n;
		copied += n;
	}
	return copied;
}

/*
 * Way 1.  Returns false (having changed nothing) if a key was already taken;
 * any other error is raised as usual.
 */
bool CopyBatch(RemoteRelation *rel) {
	LocalTarget *t = &rel->target;
	MemoryContext caller_context = CurrentMemoryContext;
	ResourceOwner caller_owner = CurrentResourceOwner;
	ErrorData *volatile failure = nullptr;

	BeginInternalSubTransaction(nullptr);
	MemoryContextSwitchTo(caller_context);
	PG_TRY();
	{
		Relation relation = table_open(t->relid, RowExclusiveLock);
		List *attnames = NIL;
		for (int c = 0; c < rel->natts; c++)
			attnames = lappend(attnames, makeString(rel->cols[c].name));
		ParseState *pstate = make_parsestate(nullptr);
		ParseNamespaceItem *nsitem =
		    addRangeTableEntryForRelation(pstate, relation, RowExclusiveLock, nullptr, false, false);
		addNSItemToQuery(pstate, nsitem, true, true, true);
		copy_source.next_row = 0;
		initStringInfo(&copy_source.line);
		copy_source.line_off = 0;
		OwnerScope owner(t->owner);
		CopyFromState cstate = BeginCopyFrom(pstate, relation, nullptr, nullptr, false, ReadCopyRows, attnames, NIL);
		(void)CopyFrom(cstate);
		EndCopyFrom(cstate);
		owner.Restore();
		table_close(relation, NoLock);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(caller_context);
		failure = CopyErrorData();
		FlushErrorState();
	}
	PG_END_TRY();
	if (failure != nullptr) {
		/* Out of the catch block: undo the subtransaction, then decide what the error means. */
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller_context);
		CurrentResourceOwner = caller_owner;
		if (failure->sqlerrcode != ERRCODE_UNIQUE_VIOLATION)
			ReThrowError(failure);
		FreeErrorData(failure);
		return false;
	}
	MemoryContextSwitchTo(caller_context);
	CurrentResourceOwner = caller_owner;
	return true;
}

/* One array per column (and the tombstone keys when asked), built from the gathered rows. */
Datum *BuildArrays(const LocalTarget *t, bool with_keys) {
	Datum *params = static_cast<Datum *>(palloc(sizeof(Datum) * (t->ncols + 1)));
	Datum *elems = static_cast<Datum *>(palloc(sizeof(Datum) * batch_count));
	bool *elem_nulls = static_cast<bool *>(palloc(sizeof(bool) * batch_count));
	int dims[1] = {batch_count};
	int lbs[1] = {1};
	for (int c = 0; c < t->ncols; c++) {
		for (int i = 0; i < batch_count; i++) {
			elems[i] = batch_rows[i].values[c];
			elem_nulls[i] = batch_rows[i].nulls[c] == 'n';
		}
		int16 typlen;
		bool typbyval;
		char typalign;
		get_typlenbyvalalign(t->types[c], &typlen, &typbyval, &typalign);
		params[c] = PointerGetDatum(
		    construct_md_array(elems, elem_nulls, 1, dims, lbs, t->types[c], typlen, typbyval, typalign));
	}
	if (with_keys) {
		for (int i = 0; i < batch_count; i++) {
			elems[i] = PointerGetDatum(TombstoneKey(t, KeyValues(t, &batch_rows[i])));
			elem_nulls[i] = false;
		}
		params[t->ncols] = PointerGetDatum(
		    construct_md_array(elems, elem_nulls, 1, dims, lbs, BYTEAOID, -1, false, TYPALIGN_INT));
	}
	return params;
}

/* Way 2: returns how many rows the statement inserted. */
uint64 InsertBatch(RemoteRelation *rel, bool tombstones) {
	LocalTarget *t = &rel->target;
	for (int i = 0; i < batch_count; i++)
		ConvertTuple(t, &batch_rows[i]);
	Datum *params = BuildArrays(t, tombstones);
	OwnerScope owner(t->owner);
	ExecutePlan(BatchInsertPlan(rel, tombstones), params, nullptr, 0, SPI_OK_INSERT, "batched INSERT",
	            t->display_name);
	owner.Restore();
	return SPI_processed;
}

} // namespace

MemoryContext BatchContext() {
	if (batch_context == nullptr)
		/* A large first block survives resets, so batch after batch reuses the same memory. */
		batch_context = AllocSetContextCreate(state->cache_context, "concord apply batch", 0, 1024 * 1024,
		                                      8 * 1024 * 1024);
	return batch_context;
}

bool CanBatch(const LocalTarget *t) { return t->batchable; }

void PrepareBatchFor(RemoteRelation *rel) {
	if (batch_rel != nullptr && batch_rel != rel)
		FlushBatch();
}

void AddToBatch(RemoteRelation *rel, const TupleValues &row) {
	if (batch_rel != nullptr && batch_rel != rel)
		elog(ERROR, "concord: a row of another relation was added to an insert batch");
	if (batch_count > 0 && row.ncols != batch_rows[0].ncols)
		elog(ERROR, "concord: a row of another shape was added to an insert batch");
	batch_rel = rel;
	batch_rows[batch_count++] = row;
	for (int c = 0; c < row.ncols; c++)
		if (row.texts != nullptr && row.texts[c] != nullptr)
			batch_bytes += strlen(row.texts[c]);
	if (batch_count == kMaxBatchRows || batch_bytes >= kMaxBatchBytes)
		FlushBatch();
}

void FlushBatch() {
	if (batch_count == 0)
		return;
	RemoteRelation *rel = batch_rel;
	int count = batch_count;
	LocalTarget *t = ResolveTarget(rel);
	state->current_action = "INSERT";
	state->current_relation = t->display_name;
	MemoryContext old = MemoryContextSwitchTo(BatchContext());
	uint64 epoch = 0;
	bool tombstones = MayHaveTombstones(t, &epoch);
	uint64 inserted = 0;
	if (count == 1) {
		ConvertTuple(t, &batch_rows[0]);
		inserted = ExecInsert(rel, &batch_rows[0], true);
	} else if (!tombstones && CopyBatch(rel)) {
		inserted = count;
		RecheckTombstones(t, epoch, batch_rows, count);
	} else {
		inserted = InsertBatch(rel, tombstones);
		if (!tombstones)
			RecheckTombstones(t, epoch, batch_rows, count);
	}
	/* Way 3: rows kept out (key taken or deleted here) are decided one by one, in order. */
	if (inserted < static_cast<uint64>(count)) {
		for (int i = 0; i < count; i++) {
			ConvertTuple(t, &batch_rows[i]);
			conflict_pg::Change change{conflict::Operation::kInsert, rel, nullptr, false, &batch_rows[i]};
			conflict_pg::ApplyWithConflictHandling(change);
		}
	}
	MemoryContextSwitchTo(old);
	DiscardBatch();
	state->current_action = nullptr;
	state->current_relation = nullptr;
}

void DiscardBatch() {
	batch_rel = nullptr;
	batch_count = 0;
	batch_bytes = 0;
	if (batch_context != nullptr)
		MemoryContextReset(batch_context);
}

} // namespace concord::apply
