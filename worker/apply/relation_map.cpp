/*
 * relation_map.cpp — remote-to-local relation mapping; see relation_map.hpp.
 */
#include "worker/apply/relation_map.hpp"

extern "C" {
#include "access/genam.h"
#include "access/relation.h"
#include "access/table.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_index.h"
#include "lib/stringinfo.h"
#include "nodes/makefuncs.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
}

#include <string_view>

#include "common/sql/statements.hpp"
#include "extension/bridge/pg_guard.hpp"
#include "extension/catalog/catalog.hpp"
#include "extension/catalog/key_columns.hpp"
#include "worker/apply/apply_state.hpp"
#include "worker/apply/direct_apply.hpp"
#include "worker/apply/plans.hpp"

namespace concord::apply {

namespace {

HTAB *relations = nullptr;

void OnRelcacheInvalidation(Datum, Oid relid) {
	if (relations == nullptr)
		return;
	HASH_SEQ_STATUS status;
	hash_seq_init(&status, relations);
	RemoteRelation *r;
	/* Plans are freed on rebuild, not here: this may run inside any catalog access. */
	while ((r = static_cast<RemoteRelation *>(hash_seq_search(&status))) != nullptr)
		if (!OidIsValid(relid) || r->target.relid == relid)
			r->target.valid = false;
}

char *CopyView(std::string_view s) { return pnstrdup(s.data(), s.size()); }

/* The remote column mapped to local attribute attnum, or -1. */
int RemoteColumnOf(const LocalTarget *t, AttrNumber attnum) {
	for (int c = 0; c < t->ncols; c++)
		if (t->local_attnum[c] == attnum)
			return c;
	return -1;
}

/* Reads the table's conflict configuration (defaults when not configured here). */
void LoadConflictConfig(RemoteRelation *rel, LocalTarget *t) {
	t->policy = conflict::Policy::kLastUpdateWins;
	t->resolver = InvalidOid;
	t->has_delta = false;
	t->is_delta = static_cast<bool *>(palloc0(sizeof(bool) * Max(t->ncols, 1)));
	catalog::TableInfo info;
	if (!catalog::LoadTable(t->relid, &info))
		return;
	if (!conflict::ParsePolicy(info.conflict_policy, &t->policy))
		elog(ERROR, "concord: unknown conflict policy \"%s\" in concord.replicated_table", info.conflict_policy);
	t->resolver = info.resolver;
	ListCell *lc;
	foreach (lc, info.delta_columns) {
		const char *name = static_cast<const char *>(lfirst(lc));
		for (int c = 0; c < t->ncols; c++)
			if (strcmp(rel->cols[c].name, name) == 0) {
				t->is_delta[c] = true;
				t->has_delta = true;
			}
	}
}

/* Unique indexes other than the key, over plain columns the peer sends. */
void LoadUniqueIndexes(LocalTarget *t, Relation local) {
	t->nuniques = 0;
	List *indexes = RelationGetIndexList(local);
	t->uniques = static_cast<UniqueIndex *>(palloc0(sizeof(UniqueIndex) * Max(list_length(indexes), 1)));
	ListCell *lc;
	foreach (lc, indexes) {
		Oid index_oid = lfirst_oid(lc);
		if (index_oid == t->key_index)
			continue;
		Relation index = index_open(index_oid, AccessShareLock);
		Form_pg_index form = index->rd_index;
		bool usable = form->indisunique && form->indisvalid && form->indislive &&
		              heap_attisnull(index->rd_indextuple, Anum_pg_index_indexprs, nullptr) &&
		              heap_attisnull(index->rd_indextuple, Anum_pg_index_indpred, nullptr);
		if (usable) {
			UniqueIndex *u = &t->uniques[t->nuniques];
			u->ncols = form->indnkeyatts;
			u->nulls_not_distinct = form->indnullsnotdistinct;
			u->lookups = nullptr;
			u->cols = static_cast<int *>(palloc(sizeof(int) * Max(u->ncols, 1)));
			u->send = static_cast<FmgrInfo *>(palloc0(sizeof(FmgrInfo) * Max(u->ncols, 1)));
			StringInfoData columns;
			initStringInfo(&columns);
			for (int i = 0; i < u->ncols && usable; i++) {
				u->cols[i] = RemoteColumnOf(t, form->indkey.values[i]);
				usable = u->cols[i] >= 0;
				if (!usable)
					break;
				/* A type without a binary send function leaves the index without ghosts, not the table unapplied. */
				int16 typlen;
				bool typbyval;
				char typalign, typdelim;
				Oid typioparam, send;
				get_type_io_data(t->types[u->cols[i]], IOFunc_send, &typlen, &typbyval, &typalign, &typdelim,
				                 &typioparam, &send);
				if (OidIsValid(send) && u->send != nullptr)
					fmgr_info_cxt(send, &u->send[i], t->context);
				else
					u->send = nullptr;
				appendStringInfo(&columns, "%s%d", i > 0 ? " " : "", form->indkey.values[i]);
			}
			u->columns = columns.data;
			if (usable)
				t->nuniques++;
		}
		index_close(index, AccessShareLock);
	}
}

/* Resolves the local table and columns; raises with a clear message when they do not match. */
void BuildTarget(RemoteRelation *rel) {
	LocalTarget *t = &rel->target;
	FreePlans(t);
	/* Everything of the previous build goes at once, so rebuilds never leak. */
	if (t->context == nullptr)
		t->context = AllocSetContextCreate(state->cache_context, "concord apply target", ALLOCSET_SMALL_SIZES);
	else
		MemoryContextReset(t->context);
	MemoryContext old = MemoryContextSwitchTo(t->context);

	Oid relid = RangeVarGetRelid(makeRangeVar(rel->nspname, rel->relname, -1), RowExclusiveLock, true);
	if (!OidIsValid(relid))
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
		                errmsg("table \"%s.%s\" replicated by peer \"%s\" does not exist on this node", rel->nspname,
		                       rel->relname, state->peer_name),
		                errhint("Create the table here with the same definition.")));
	Relation local = table_open(relid, NoLock);
	if (local->rd_rel->relkind != RELKIND_RELATION)
		ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
		                errmsg("\"%s.%s\" replicated by peer \"%s\" is not a table on this node", rel->nspname,
		                       rel->relname, state->peer_name)));
	TupleDesc desc = RelationGetDescr(local);

	t->relid = relid;
	t->owner = local->rd_rel->relowner;
	t->reltype = local->rd_rel->reltype;
	t->desc = CreateTupleDescCopy(desc);
	t->qualified_name = pg::ToPalloc([&] { return sql::QualifiedName(rel->nspname, rel->relname); });
	t->display_name = rel->display_name; /* freed with rel, which also resets the target */
	t->ncols = rel->natts;
	t->local_attnum = static_cast<AttrNumber *>(palloc0(sizeof(AttrNumber) * Max(rel->natts, 1)));
	t->types = static_cast<Oid *>(palloc0(sizeof(Oid) * Max(rel->natts, 1)));
	t->ioparams = static_cast<Oid *>(palloc0(sizeof(Oid) * Max(rel->natts, 1)));
	t->typmods = static_cast<int32 *>(palloc0(sizeof(int32) * Max(rel->natts, 1)));
	t->in_funcs = static_cast<FmgrInfo *>(palloc0(sizeof(FmgrInfo) * Max(rel->natts, 1)));
	t->key_cols = static_cast<int *>(palloc0(sizeof(int) * Max(rel->natts, 1)));
	t->key_send = static_cast<FmgrInfo *>(palloc0(sizeof(FmgrInfo) * Max(rel->natts, 1)));
	t->array_types = static_cast<Oid *>(palloc0(sizeof(Oid) * Max(rel->natts, 1)));
	t->always_identity = static_cast<bool *>(palloc0(sizeof(bool) * Max(rel->natts, 1)));
	t->nkeys = 0;
	t->overriding = false;

	for (int i = 0; i < desc->natts; i++) {
		Form_pg_attribute att = TupleDescAttr(desc, i);
		if (!att->attisdropped && att->attidentity == ATTRIBUTE_IDENTITY_ALWAYS)
			t->overriding = true;
	}
	for (int c = 0; c < rel->natts; c++) {
		const RemoteColumn *rc = &rel->cols[c];
		AttrNumber attnum = InvalidAttrNumber;
		for (int i = 0; i < desc->natts; i++) {
			Form_pg_attribute att = TupleDescAttr(desc, i);
			if (!att->attisdropped && strcmp(NameStr(att->attname), rc->name) == 0) {
				attnum = att->attnum;
				break;
			}
		}
		if (attnum == InvalidAttrNumber)
			ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN),
			                errmsg("table \"%s\" on this node is missing column \"%s\" replicated by peer \"%s\"",
			                       t->display_name, rc->name, state->peer_name),
			                errhint("Add the column here (ALTER TABLE ... ADD COLUMN); the transaction is retried.")));
		Form_pg_attribute att = TupleDescAttr(desc, attnum - 1);
		if (att->attgenerated)
			ereport(ERROR, (errcode(ERRCODE_INVALID_COLUMN_DEFINITION),
			                errmsg("column \"%s\" of table \"%s\" is generated on this node but not on peer \"%s\"",
			                       rc->name, t->display_name, state->peer_name)));
		t->local_attnum[c] = attnum;
		t->always_identity[c] = att->attidentity == ATTRIBUTE_IDENTITY_ALWAYS;
		t->types[c] = att->atttypid;
		t->typmods[c] = att->atttypmod;
		Oid in_func;
		getTypeInputInfo(att->atttypid, &in_func, &t->ioparams[c]);
		t->array_types[c] = get_array_type(att->atttypid);
		fmgr_info_cxt(in_func, &t->in_funcs[c], t->context);
	}
	/* Key columns in local attribute order: the order tombstone keys use. */
	for (AttrNumber a = 1; a <= desc->natts; a++) {
		int c = RemoteColumnOf(t, a);
		if (c < 0 || !rel->cols[c].is_key)
			continue;
		Oid send;
		bool varlena;
		getTypeBinaryOutputInfo(t->types[c], &send, &varlena);
		fmgr_info_cxt(send, &t->key_send[t->nkeys], t->context);
		t->key_cols[t->nkeys++] = c;
	}
	if (t->nkeys == 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_TABLE_DEFINITION),
		                errmsg("peer \"%s\" sent table \"%s\" without key columns", state->peer_name, t->display_name)));
	t->key_index = catalog::KeyIndex(local);
	LoadConflictConfig(rel, t);
	LoadUniqueIndexes(t, local);
	/* Batches need an array type per column and no other unique index to check row by row. */
	t->batchable = t->nuniques == 0;
	for (int c = 0; c < t->ncols; c++)
		if (!OidIsValid(t->array_types[c]))
			t->batchable = false;
	DecideDirectPath(rel, local);
	table_close(local, NoLock);
	t->valid = true;
	MemoryContextSwitchTo(old);
}

} // namespace

void InitRelationMap() {
	HASHCTL ctl;
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(uint32);
	ctl.entrysize = sizeof(RemoteRelation);
	ctl.hcxt = state->cache_context;
	relations = hash_create("concord remote relations", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	CacheRegisterRelcacheCallback(OnRelcacheInvalidation, (Datum)0);
}

void StoreRelation(const protocol::RelationHeader &header, protocol::Reader &r) {
	bool found;
	uint32 key = header.relid;
	auto *rel = static_cast<RemoteRelation *>(hash_search(relations, &key, HASH_ENTER, &found));
	if (found) {
		FreePlans(&rel->target);
		if (rel->target.context != nullptr)
			MemoryContextDelete(rel->target.context);
		pfree(rel->nspname);
		pfree(rel->relname);
		pfree(rel->display_name);
		for (int i = 0; i < rel->natts; i++)
			pfree(rel->cols[i].name);
		pfree(rel->cols);
	}
	MemoryContext old = MemoryContextSwitchTo(state->cache_context);
	rel->nspname = CopyView(header.nspname);
	rel->relname = CopyView(header.relname);
	rel->display_name = psprintf("%s.%s", rel->nspname, rel->relname);
	rel->natts = header.natts;
	rel->cols = static_cast<RemoteColumn *>(palloc0(sizeof(RemoteColumn) * Max(header.natts, 1)));
	for (int i = 0; i < header.natts; i++) {
		protocol::ColumnDef c;
		if (!r.GetRelationColumn(&c))
			break;
		rel->cols[i].name = CopyView(c.name);
		rel->cols[i].type_oid = c.type_oid;
		rel->cols[i].typmod = c.typmod;
		rel->cols[i].is_key = (c.flags & protocol::kColumnIsKey) != 0;
	}
	memset(&rel->target, 0, sizeof(rel->target));
	MemoryContextSwitchTo(old);
	if (!r.ExpectEnd())
		ereport(ERROR, (errcode(ERRCODE_PROTOCOL_VIOLATION),
		                errmsg("malformed RELATION message from peer \"%s\": %s at offset %zu", state->peer_name,
		                       r.error(), r.error_offset())));
}

RemoteRelation *LookupRelation(uint32 remote_relid) {
	auto *rel = static_cast<RemoteRelation *>(hash_search(relations, &remote_relid, HASH_FIND, nullptr));
	if (rel == nullptr)
		ereport(ERROR, (errcode(ERRCODE_PROTOCOL_VIOLATION),
		                errmsg("peer \"%s\" sent a change for relation %u before announcing it", state->peer_name,
		                       remote_relid)));
	return rel;
}

LocalTarget *ResolveTarget(RemoteRelation *rel) {
	if (!rel->target.valid)
		BuildTarget(rel);
	return &rel->target;
}

} // namespace concord::apply
