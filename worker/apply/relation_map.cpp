/*
 * relation_map.cpp — remote-to-local relation mapping and plan cache; see relation_map.hpp.
 */
#include "worker/apply/relation_map.hpp"

extern "C" {
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_attribute.h"
#include "nodes/makefuncs.h"
#include "parser/parse_type.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
}

#include <string_view>

#include "common/sql/statements.hpp"
#include "extension/bridge/pg_guard.hpp"
#include "worker/apply/apply_state.hpp"

namespace concord::apply {

namespace {

HTAB *relations = nullptr;

void FreePlans(LocalTarget *t) {
	if (t->insert_plan)
		SPI_freeplan(t->insert_plan);
	if (t->delete_plan)
		SPI_freeplan(t->delete_plan);
	for (UpdatePlan *u = t->update_plans; u != nullptr;) {
		UpdatePlan *next = u->next;
		if (u->plan)
			SPI_freeplan(u->plan);
		pfree(u->unchanged);
		pfree(u);
		u = next;
	}
	t->insert_plan = nullptr;
	t->delete_plan = nullptr;
	t->update_plans = nullptr;
}

void Invalidate(LocalTarget *t) {
	/* Plans are freed lazily on rebuild: we may be inside a transaction callback here. */
	t->valid = false;
}

void OnRelcacheInvalidation(Datum, Oid relid) {
	if (relations == nullptr)
		return;
	HASH_SEQ_STATUS status;
	hash_seq_init(&status, relations);
	RemoteRelation *r;
	while ((r = static_cast<RemoteRelation *>(hash_seq_search(&status))) != nullptr)
		if (!OidIsValid(relid) || r->target.relid == relid)
			Invalidate(&r->target);
}

char *CopyView(std::string_view s) { return pnstrdup(s.data(), s.size()); }

/* Names of the remote columns selected by `pick` (palloc'd array of views). */
sql::Names ColumnNames(RemoteRelation *rel, const bool *pick) {
	auto *items = static_cast<std::string_view *>(palloc(sizeof(std::string_view) * Max(rel->natts, 1)));
	size_t n = 0;
	for (int i = 0; i < rel->natts; i++)
		if (pick == nullptr || pick[i])
			items[n++] = std::string_view(rel->cols[i].name);
	return {items, n};
}

sql::Names KeyNames(RemoteRelation *rel) {
	LocalTarget *t = &rel->target;
	auto *items = static_cast<std::string_view *>(palloc(sizeof(std::string_view) * Max(t->nkeys, 1)));
	for (int i = 0; i < t->nkeys; i++)
		items[i] = std::string_view(rel->cols[t->key_cols[i]].name);
	return {items, static_cast<size_t>(t->nkeys)};
}

SPIPlanPtr Prepare(const char *sql, int nargs, Oid *types) {
	SPIPlanPtr plan = SPI_prepare_cursor(sql, nargs, types, CURSOR_OPT_GENERIC_PLAN);
	if (plan == nullptr)
		elog(ERROR, "concord: preparing \"%s\" failed: %s", sql, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "concord: keeping plan failed");
	return plan;
}

/* Resolves the local table and columns; raises with a clear message when they do not match. */
void BuildTarget(RemoteRelation *rel) {
	LocalTarget *t = &rel->target;
	FreePlans(t);
	MemoryContext old = MemoryContextSwitchTo(state->cache_context);

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
	t->qualified_name = pg::ToPalloc(sql::QualifiedName(rel->nspname, rel->relname));
	t->display_name = psprintf("%s.%s", rel->nspname, rel->relname);
	t->ncols = rel->natts;
	t->local_attnum = static_cast<AttrNumber *>(palloc0(sizeof(AttrNumber) * Max(rel->natts, 1)));
	t->types = static_cast<Oid *>(palloc0(sizeof(Oid) * Max(rel->natts, 1)));
	t->ioparams = static_cast<Oid *>(palloc0(sizeof(Oid) * Max(rel->natts, 1)));
	t->typmods = static_cast<int32 *>(palloc0(sizeof(int32) * Max(rel->natts, 1)));
	t->in_funcs = static_cast<FmgrInfo *>(palloc0(sizeof(FmgrInfo) * Max(rel->natts, 1)));
	t->key_cols = static_cast<int *>(palloc0(sizeof(int) * Max(rel->natts, 1)));
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
		t->types[c] = att->atttypid;
		t->typmods[c] = att->atttypmod;
		Oid in_func;
		getTypeInputInfo(att->atttypid, &in_func, &t->ioparams[c]);
		fmgr_info_cxt(in_func, &t->in_funcs[c], state->cache_context);
		if (rc->is_key)
			t->key_cols[t->nkeys++] = c;
	}
	table_close(local, NoLock);
	if (t->nkeys == 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_TABLE_DEFINITION),
		                errmsg("peer \"%s\" sent table \"%s\" without key columns", state->peer_name, t->display_name)));

	/* INSERT: all columns in remote order. */
	char *insert_sql = pg::ToPalloc(sql::BuildInsert(t->qualified_name, ColumnNames(rel, nullptr), t->overriding));
	t->insert_plan = Prepare(insert_sql, rel->natts, t->types);

	/* DELETE: key columns. */
	Oid *key_types = static_cast<Oid *>(palloc(sizeof(Oid) * t->nkeys));
	for (int k = 0; k < t->nkeys; k++)
		key_types[k] = t->types[t->key_cols[k]];
	char *delete_sql = pg::ToPalloc(sql::BuildDelete(t->qualified_name, KeyNames(rel), false));
	t->delete_plan = Prepare(delete_sql, t->nkeys, key_types);

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
		pfree(rel->nspname);
		pfree(rel->relname);
		for (int i = 0; i < rel->natts; i++)
			pfree(rel->cols[i].name);
		if (rel->cols)
			pfree(rel->cols);
	}
	MemoryContext old = MemoryContextSwitchTo(state->cache_context);
	rel->nspname = CopyView(header.nspname);
	rel->relname = CopyView(header.relname);
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

SPIPlanPtr UpdatePlanFor(RemoteRelation *rel, const char *unchanged) {
	LocalTarget *t = ResolveTarget(rel);
	for (UpdatePlan *u = t->update_plans; u != nullptr; u = u->next)
		if (memcmp(u->unchanged, unchanged, t->ncols) == 0)
			return u->plan;

	MemoryContext old = MemoryContextSwitchTo(state->cache_context);
	bool *set = static_cast<bool *>(palloc(sizeof(bool) * Max(t->ncols, 1)));
	Oid *types = static_cast<Oid *>(palloc(sizeof(Oid) * (t->ncols + t->nkeys)));
	int nargs = 0;
	for (int c = 0; c < t->ncols; c++) {
		set[c] = !unchanged[c];
		if (set[c])
			types[nargs++] = t->types[c];
	}
	for (int k = 0; k < t->nkeys; k++)
		types[nargs++] = t->types[t->key_cols[k]];
	char *sql = pg::ToPalloc(sql::BuildUpdate(t->qualified_name, ColumnNames(rel, set), KeyNames(rel), false));
	auto *u = static_cast<UpdatePlan *>(palloc0(sizeof(UpdatePlan)));
	u->unchanged = static_cast<char *>(palloc(Max(t->ncols, 1)));
	memcpy(u->unchanged, unchanged, t->ncols);
	u->plan = Prepare(sql, nargs, types);
	u->next = t->update_plans;
	t->update_plans = u;
	MemoryContextSwitchTo(old);
	return u->plan;
}

} // namespace concord::apply
