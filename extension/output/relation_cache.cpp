/*
 * relation_cache.cpp — the output plugin's per-relation state; see relation_cache.hpp.
 */
#include "extension/output/relation_cache.hpp"

extern "C" {
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/sysattr.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
}

#include "extension/catalog/key_columns.hpp"

namespace concord::output {

namespace {

HTAB *cache = nullptr;
MemoryContext cache_context = nullptr;
Oid replicated_table_relid = InvalidOid;
Oid node_relid = InvalidOid;
char *node_name = nullptr; /* nullptr = not loaded */

void OnRelcacheInvalidation(Datum, Oid relid) {
	if (cache == nullptr)
		return;
	if (!OidIsValid(relid) || relid == node_relid) {
		node_name = nullptr; /* memory is in cache_context; reloaded lazily */
	}
	HASH_SEQ_STATUS status;
	hash_seq_init(&status, cache);
	RelationEntry *e;
	while ((e = static_cast<RelationEntry *>(hash_seq_search(&status))) != nullptr) {
		if (!OidIsValid(relid) || e->relid == relid) {
			e->valid = false;
			e->schema_sent = false;
		}
	}
}

Oid ConcordRelid(const char *name) {
	Oid nsp = get_namespace_oid("concord", true);
	return OidIsValid(nsp) ? get_relname_relid(name, nsp) : InvalidOid;
}

/* Scans a small concord catalog table, with the decoding snapshot. */
bool IsListedReplicated(Oid relid) {
	if (!OidIsValid(replicated_table_relid))
		replicated_table_relid = ConcordRelid("replicated_table");
	if (!OidIsValid(replicated_table_relid))
		return false;
	Relation catalog_rel = table_open(replicated_table_relid, AccessShareLock);
	ScanKeyData key;
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
	SysScanDesc scan = systable_beginscan(catalog_rel, InvalidOid, false, nullptr, 1, &key);
	bool found = HeapTupleIsValid(systable_getnext(scan));
	systable_endscan(scan);
	table_close(catalog_rel, AccessShareLock);
	return found;
}

void BuildEntry(RelationEntry *e, Relation rel) {
	e->replicated = IsListedReplicated(RelationGetRelid(rel));
	e->schema_sent = false;
	e->natts = 0;
	if (e->attnums) {
		pfree(e->attnums);
		pfree(e->out_funcs);
		pfree(e->is_key);
		e->attnums = nullptr;
		e->out_funcs = nullptr;
		e->is_key = nullptr;
	}
	if (e->replicated) {
		TupleDesc desc = RelationGetDescr(rel);
		Bitmapset *key = catalog::KeyColumns(rel);
		MemoryContext old = MemoryContextSwitchTo(cache_context);
		e->attnums = static_cast<AttrNumber *>(palloc(sizeof(AttrNumber) * Max(desc->natts, 1)));
		e->out_funcs = static_cast<FmgrInfo *>(palloc0(sizeof(FmgrInfo) * Max(desc->natts, 1)));
		e->is_key = static_cast<bool *>(palloc0(sizeof(bool) * Max(desc->natts, 1)));
		for (int i = 0; i < desc->natts; i++) {
			Form_pg_attribute att = TupleDescAttr(desc, i);
			if (att->attisdropped || att->attgenerated)
				continue;
			Oid out_func;
			bool varlena;
			getTypeOutputInfo(att->atttypid, &out_func, &varlena);
			fmgr_info_cxt(out_func, &e->out_funcs[e->natts], cache_context);
			e->attnums[e->natts] = static_cast<AttrNumber>(i);
			e->is_key[e->natts] = bms_is_member(att->attnum - FirstLowInvalidHeapAttributeNumber, key);
			e->natts++;
		}
		MemoryContextSwitchTo(old);
	}
	e->valid = true;
}

} // namespace

/* The decoding context is going away: forget everything that lived in it. */
static void ForgetCache(void *) {
	cache = nullptr;
	cache_context = nullptr;
	node_name = nullptr;
	replicated_table_relid = InvalidOid;
	node_relid = InvalidOid;
}

void InitRelationCache(MemoryContext context) {
	cache_context = context;
	HASHCTL ctl;
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(RelationEntry);
	ctl.hcxt = context;
	cache = hash_create("concord output relations", 128, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	node_name = nullptr;
	replicated_table_relid = InvalidOid;
	node_relid = InvalidOid;
	auto *reset = static_cast<MemoryContextCallback *>(MemoryContextAllocZero(context, sizeof(MemoryContextCallback)));
	reset->func = ForgetCache;
	MemoryContextRegisterResetCallback(context, reset);
	static bool registered = false;
	if (!registered) {
		/* Callbacks cannot be unregistered; one registration serves every session of this process. */
		CacheRegisterRelcacheCallback(OnRelcacheInvalidation, (Datum)0);
		registered = true;
	}
}

RelationEntry *GetRelationEntry(Relation rel) {
	Oid relid = RelationGetRelid(rel);
	bool found;
	auto *e = static_cast<RelationEntry *>(hash_search(cache, &relid, HASH_ENTER, &found));
	if (!found) {
		e->valid = false;
		e->attnums = nullptr;
		e->out_funcs = nullptr;
		e->is_key = nullptr;
	}
	if (!e->valid)
		BuildEntry(e, rel);
	return e;
}

const char *LocalNodeName() {
	if (node_name != nullptr)
		return node_name;
	if (!OidIsValid(node_relid))
		node_relid = ConcordRelid("node");
	const char *name = "";
	if (OidIsValid(node_relid)) {
		Relation rel = table_open(node_relid, AccessShareLock);
		SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, nullptr, 0, nullptr);
		HeapTuple tuple = systable_getnext(scan);
		if (HeapTupleIsValid(tuple)) {
			bool isnull;
			Datum d = heap_getattr(tuple, 2, RelationGetDescr(rel), &isnull);
			if (!isnull)
				name = MemoryContextStrdup(cache_context, TextDatumGetCString(d));
		}
		systable_endscan(scan);
		table_close(rel, AccessShareLock);
	}
	node_name = const_cast<char *>(name);
	return node_name;
}

} // namespace concord::output
