/*
 * relation_cache.hpp — what the output plugin knows about each relation it
 * sees while decoding: is it replicated, which columns does it send, with
 * which output functions, and has its RELATION message gone out yet.
 *
 * Lives for one decoding session in the plugin's cache context.  A relcache
 * invalidation of a relation (schema change, or add/remove_table, which
 * invalidates on purpose) marks its entry stale; the next change rebuilds it
 * and re-sends the RELATION message.  Catalog reads use the historic snapshot
 * decoding provides, so concord.replicated_table is a user catalog table.
 */
#pragma once

extern "C" {
#include "postgres.h"

#include "fmgr.h"
#include "utils/rel.h"
}

namespace concord::output {

struct RelationEntry {
	Oid relid;              /* hash key */
	bool valid;             /* false after an invalidation */
	bool replicated;
	bool schema_sent;       /* RELATION message sent in this session */
	int natts;              /* columns sent (not dropped, not generated) */
	AttrNumber *attnums;    /* their attribute numbers (0-based index into tupdesc) */
	FmgrInfo *out_funcs;    /* their output functions */
	bool *is_key;           /* part of the replica identity */
};

/* Creates the cache in `context` and registers the invalidation callback. */
void InitRelationCache(MemoryContext context);

/* The entry for rel, built or rebuilt as needed (may read catalogs). */
RelationEntry *GetRelationEntry(Relation rel);

/* This node's name from concord.node ("" if none), re-read after invalidation. */
const char *LocalNodeName();

} // namespace concord::output
