/*
 * plans.cpp — lazily prepared statements of a local target; see plans.hpp.
 */
#include "worker/apply/plans.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
}

#include <string_view>

#include "common/sql/statements.hpp"
#include "extension/bridge/pg_guard.hpp"
#include "worker/apply/spi_session.hpp"

namespace concord::apply {

namespace {

/* Names of the remote columns selected by `pick` (all when nullptr). */
sql::Names ColumnNames(const RemoteRelation *rel, const bool *pick) {
	auto *items = static_cast<std::string_view *>(palloc(sizeof(std::string_view) * Max(rel->natts, 1)));
	size_t n = 0;
	for (int i = 0; i < rel->natts; i++)
		if (pick == nullptr || pick[i])
			items[n++] = std::string_view(rel->cols[i].name);
	return {items, n};
}

sql::Names KeyNames(const RemoteRelation *rel) {
	const LocalTarget *t = &rel->target;
	auto *items = static_cast<std::string_view *>(palloc(sizeof(std::string_view) * Max(t->nkeys, 1)));
	for (int i = 0; i < t->nkeys; i++)
		items[i] = std::string_view(rel->cols[t->key_cols[i]].name);
	return {items, static_cast<size_t>(t->nkeys)};
}

/* Appends the guard's parameter types (see sql::kGuardParams); returns the new count. */
int AppendGuardTypes(Oid *types, int n) {
	types[n++] = OIDOID;         /* the peer's origin */
	types[n++] = OIDOID;         /* the copy origin */
	types[n++] = BYTEAOID;       /* the row's key bytes */
	types[n++] = TEXTOID;        /* the peer's node name */
	types[n++] = TIMESTAMPTZOID; /* the change's commit time */
	return n;
}

/* Appends the key column types to types[n..]; returns the new count. */
int AppendKeyTypes(const LocalTarget *t, Oid *types, int n) {
	for (int k = 0; k < t->nkeys; k++)
		types[n++] = t->types[t->key_cols[k]];
	return n;
}

} // namespace

SPIPlanPtr PrepareKept(const char *sql, int nargs, Oid *types) {
	/*
	 * SPI returns in its procedure context, which goes at the end of the
	 * transaction; the caller may be building a target in its own context
	 * and keep allocating after this call.
	 */
	MemoryContext caller = CurrentMemoryContext;
	ConnectSpi();
	/* Generic plans: the shape is always "find by key", re-planning per row would only cost. */
	SPIPlanPtr plan = SPI_prepare_cursor(sql, nargs, types, CURSOR_OPT_GENERIC_PLAN);
	if (plan == nullptr)
		elog(ERROR, "concord: preparing \"%s\" failed: %s", sql, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "concord: keeping the plan of \"%s\" failed", sql);
	MemoryContextSwitchTo(caller);
	return plan;
}

SPIPlanPtr InsertPlan(RemoteRelation *rel, bool guarded, bool tombstones) {
	LocalTarget *t = &rel->target;
	SPIPlanPtr *slot = !guarded ? &t->insert_plain : tombstones ? &t->insert_guarded : &t->insert_key_free;
	if (*slot != nullptr)
		return *slot;
	MemoryContext old = MemoryContextSwitchTo(t->context);
	Oid *types = static_cast<Oid *>(palloc(sizeof(Oid) * (t->ncols + 1)));
	memcpy(types, t->types, sizeof(Oid) * t->ncols);
	types[t->ncols] = BYTEAOID;
	bool key_param = guarded && tombstones;
	char *sql = guarded ? pg::ToPalloc([&] { return sql::BuildGuardedInsert(t->qualified_name, ColumnNames(rel, nullptr),
	                                                           t->overriding, KeyNames(rel), tombstones ? t->relid : 0); })
	                    : pg::ToPalloc([&] { return sql::BuildInsert(t->qualified_name, ColumnNames(rel, nullptr), t->overriding); });
	*slot = PrepareKept(sql, t->ncols + (key_param ? 1 : 0), types);
	MemoryContextSwitchTo(old);
	return *slot;
}

SPIPlanPtr BatchInsertPlan(RemoteRelation *rel, bool tombstones) {
	LocalTarget *t = &rel->target;
	SPIPlanPtr *slot = tombstones ? &t->insert_batch : &t->insert_batch_key_free;
	if (*slot != nullptr)
		return *slot;
	MemoryContext old = MemoryContextSwitchTo(t->context);
	Oid *types = static_cast<Oid *>(palloc(sizeof(Oid) * (t->ncols + 1)));
	memcpy(types, t->array_types, sizeof(Oid) * t->ncols);
	types[t->ncols] = BYTEAARRAYOID;
	char *sql = pg::ToPalloc([&] { return sql::BuildBatchInsert(t->qualified_name, ColumnNames(rel, nullptr), t->overriding,
	                                               KeyNames(rel), tombstones ? t->relid : 0); });
	*slot = PrepareKept(sql, t->ncols + (tombstones ? 1 : 0), types);
	MemoryContextSwitchTo(old);
	return *slot;
}

SPIPlanPtr DeletePlan(RemoteRelation *rel, bool guarded) {
	LocalTarget *t = &rel->target;
	SPIPlanPtr *slot = guarded ? &t->delete_guarded : &t->delete_plain;
	if (*slot != nullptr)
		return *slot;
	MemoryContext old = MemoryContextSwitchTo(t->context);
	Oid *types = static_cast<Oid *>(palloc(sizeof(Oid) * (t->nkeys + sql::kGuardParams)));
	int n = AppendKeyTypes(t, types, 0);
	if (guarded)
		n = AppendGuardTypes(types, n);
	/* As for UPDATE: on delta tables a row may carry a recorded version, which only the slow path reads. */
	char *sql = pg::ToPalloc(
	    [&] { return sql::BuildDelete(t->qualified_name, KeyNames(rel), guarded, t->relid, guarded && t->has_delta); });
	*slot = PrepareKept(sql, n, types);
	MemoryContextSwitchTo(old);
	return *slot;
}

SPIPlanPtr LookupPlan(RemoteRelation *rel) {
	LocalTarget *t = &rel->target;
	if (t->lookup != nullptr)
		return t->lookup;
	MemoryContext old = MemoryContextSwitchTo(t->context);
	Oid *types = static_cast<Oid *>(palloc(sizeof(Oid) * Max(t->nkeys, 1)));
	int n = AppendKeyTypes(t, types, 0);
	char *sql = pg::ToPalloc([&] { return sql::BuildLookup(t->qualified_name, KeyNames(rel)); });
	t->lookup = PrepareKept(sql, n, types);
	MemoryContextSwitchTo(old);
	return t->lookup;
}

SPIPlanPtr UniqueLookupPlan(RemoteRelation *rel, UniqueIndex *u, uint32 null_columns) {
	LocalTarget *t = &rel->target;
	for (UniqueLookup *l = u->lookups; l != nullptr; l = l->next)
		if (l->null_columns == null_columns)
			return l->plan;
	MemoryContext old = MemoryContextSwitchTo(t->context);
	auto *names = static_cast<std::string_view *>(palloc(sizeof(std::string_view) * Max(u->ncols, 1)));
	Oid *types = static_cast<Oid *>(palloc(sizeof(Oid) * (u->ncols + t->nkeys)));
	for (int i = 0; i < u->ncols; i++) {
		names[i] = std::string_view(rel->cols[u->cols[i]].name);
		types[i] = t->types[u->cols[i]];
	}
	int n = AppendKeyTypes(t, types, u->ncols);
	char *sql = pg::ToPalloc([&] {
		return sql::BuildLookup(t->qualified_name, KeyNames(rel), {names, static_cast<size_t>(u->ncols)},
		                        null_columns);
	});
	auto *l = static_cast<UniqueLookup *>(palloc(sizeof(UniqueLookup)));
	l->null_columns = null_columns;
	l->plan = PrepareKept(sql, n, types);
	l->next = u->lookups;
	u->lookups = l;
	MemoryContextSwitchTo(old);
	return l->plan;
}

SPIPlanPtr UpdatePlanFor(RemoteRelation *rel, const char *unchanged, bool guarded, bool delta, bool delta_only) {
	LocalTarget *t = &rel->target;
	delta = delta && t->has_delta;
	for (UpdatePlan *u = t->update_plans; u != nullptr; u = u->next)
		if (u->guarded == guarded && u->delta == delta && u->delta_only == delta_only &&
		    memcmp(u->unchanged, unchanged, t->ncols) == 0)
			return u->plan;

	MemoryContext old = MemoryContextSwitchTo(t->context);
	bool *set = static_cast<bool *>(palloc(sizeof(bool) * Max(t->ncols, 1)));
	bool *set_delta = static_cast<bool *>(palloc(sizeof(bool) * Max(t->ncols, 1)));
	auto *set_types = static_cast<std::string_view *>(palloc0(sizeof(std::string_view) * Max(t->ncols, 1)));
	Oid *types = static_cast<Oid *>(palloc(sizeof(Oid) * (2 * t->ncols + t->nkeys + sql::kGuardParams)));
	int nargs = 0;
	int nset = 0;
	for (int c = 0; c < t->ncols; c++) {
		/* Key columns never change here: a key change is applied as a delete and an insert. */
		/* An UPDATE cannot set a GENERATED ALWAYS identity; the peer's update never changed it either. */
		set[c] = UpdateWrites(rel, unchanged, c) && (!delta_only || t->is_delta[c]);
		if (set[c]) {
			types[nargs++] = t->types[c];
			set_delta[nset] = delta && t->is_delta[c];
			if (set_delta[nset])
				set_types[nset] = format_type_be_qualified(getBaseType(t->types[c]));
			nset++;
		}
	}
	nargs = AppendKeyTypes(t, types, nargs);
	if (guarded)
		nargs = AppendGuardTypes(types, nargs);
	for (int c = 0; c < t->ncols; c++)
		if (set[c] && delta && t->is_delta[c])
			types[nargs++] = t->types[c];
	sql::UpdateOptions options;
	options.guarded = guarded;
	options.relid = t->relid;
	/* Delta tables may hold rows whose version is recorded, not their xmin's: those take the slow path. */
	options.recorded_check = guarded && t->has_delta;
	options.delta = delta ? set_delta : nullptr;
	options.delta_types = {set_types, static_cast<size_t>(nset)};
	char *sql = pg::ToPalloc([&] { return sql::BuildUpdate(t->qualified_name, ColumnNames(rel, set), KeyNames(rel), options); });
	auto *u = static_cast<UpdatePlan *>(palloc0(sizeof(UpdatePlan)));
	u->unchanged = static_cast<char *>(palloc(Max(t->ncols, 1)));
	memcpy(u->unchanged, unchanged, t->ncols);
	u->guarded = guarded;
	u->delta = delta;
	u->delta_only = delta_only;
	u->plan = PrepareKept(sql, nargs, types);
	u->next = t->update_plans;
	t->update_plans = u;
	MemoryContextSwitchTo(old);
	return u->plan;
}

void FreePlans(LocalTarget *t) {
	SPIPlanPtr *singles[] = {&t->insert_plain,     &t->insert_guarded,        &t->insert_key_free,
	                         &t->insert_batch,     &t->insert_batch_key_free, &t->delete_plain,
	                         &t->delete_guarded,   &t->lookup};
	for (SPIPlanPtr *p : singles) {
		if (*p != nullptr)
			SPI_freeplan(*p);
		*p = nullptr;
	}
	for (UpdatePlan *u = t->update_plans; u != nullptr; u = u->next)
		SPI_freeplan(u->plan);
	t->update_plans = nullptr;
	for (int i = 0; i < t->nuniques; i++) {
		for (UniqueLookup *l = t->uniques[i].lookups; l != nullptr; l = l->next)
			SPI_freeplan(l->plan);
		t->uniques[i].lookups = nullptr;
	}
	t->nuniques = 0;
}

} // namespace concord::apply
