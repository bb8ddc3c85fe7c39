/*
 * relation_map.hpp — remote relations announced by the peer and the local
 * tables they map to, with the prepared statements that apply to them.
 *
 * A remote relation is keyed by the peer's relation id and replaced whenever
 * the peer sends a new RELATION message.  Its local target is resolved by
 * schema and table name, columns by name, and is rebuilt after a relcache
 * invalidation of the local table (ALTER TABLE, ALTER OWNER, DROP) or a new
 * RELATION message.  Prepared plans are kept with SPI_keepplan and freed on
 * rebuild.  A remote column missing locally is an error (retried), never a
 * silent drop of data.
 */
#pragma once

extern "C" {
#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
}

#include "common/protocol/wire.hpp"

namespace concord::apply {

struct RemoteColumn {
	char *name;
	Oid type_oid;
	int32 typmod;
	bool is_key;
};

/* A prepared UPDATE for one set of changed columns. */
struct UpdatePlan {
	char *unchanged;       /* per remote column: 1 if left out of SET */
	SPIPlanPtr plan;
	UpdatePlan *next;
};

struct LocalTarget {
	bool valid;
	Oid relid;
	Oid owner;
	char *qualified_name;  /* quoted, schema-qualified */
	char *display_name;    /* schema.table for messages */
	int ncols;             /* == remote natts */
	AttrNumber *local_attnum; /* per remote column (1-based) */
	Oid *types;            /* local column types */
	Oid *ioparams;
	int32 *typmods;
	FmgrInfo *in_funcs;
	int nkeys;
	int *key_cols;         /* indexes of key columns among remote columns */
	bool overriding;       /* has GENERATED ALWAYS identity columns */
	SPIPlanPtr insert_plan;
	SPIPlanPtr delete_plan;
	UpdatePlan *update_plans;
};

struct RemoteRelation {
	uint32 remote_relid;   /* hash key */
	char *nspname;
	char *relname;
	int natts;
	RemoteColumn *cols;
	LocalTarget target;
};

/* Creates the map in state->cache_context and registers invalidation. */
void InitRelationMap();

/* Stores a RELATION message (header already read from r). */
void StoreRelation(const protocol::RelationHeader &header, protocol::Reader &r);

/* The relation announced under remote_relid; raises if unknown (protocol error). */
RemoteRelation *LookupRelation(uint32 remote_relid);

/* The relation's local target, resolved (inside a transaction) if needed. */
LocalTarget *ResolveTarget(RemoteRelation *rel);

/* The UPDATE plan leaving out the columns marked in `unchanged`. */
SPIPlanPtr UpdatePlanFor(RemoteRelation *rel, const char *unchanged);

} // namespace concord::apply
