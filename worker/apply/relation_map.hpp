/*
 * relation_map.hpp — remote relations announced by the peer and the local
 * tables they map to.
 *
 * A remote relation is keyed by the peer's relation id and replaced whenever
 * the peer sends a new RELATION message.  Its local target is resolved by
 * schema and table name, columns by name, and is rebuilt after a relcache
 * invalidation of the local table (ALTER TABLE, ALTER OWNER, DROP, and
 * concord's own configuration functions, which invalidate on purpose) or a
 * new RELATION message.  A remote column missing locally is an error
 * (retried), never a silent drop of data.  Prepared plans hang off the
 * target (see plans.hpp) and are freed when it is rebuilt.
 */
#pragma once

extern "C" {
#include "postgres.h"

#include "access/tupdesc.h"
#include "executor/spi.h"
#include "fmgr.h"
}

#include "common/conflict/decide.hpp"
#include "common/protocol/wire.hpp"

namespace concord::apply {

struct RemoteColumn {
	char *name;
	Oid type_oid;
	int32 typmod;
	bool is_key;
};

/* A prepared UPDATE for one shape: which columns are set, guarded or not, with deltas or not. */
struct UpdatePlan {
	char *unchanged;       /* per remote column: 1 if left out of SET */
	bool guarded;
	bool delta;
	bool delta_only;       /* SET only the delta columns (local row kept) */
	SPIPlanPtr plan;
	UpdatePlan *next;
};

/* A prepared lookup of a unique index for rows with NULLs in the columns of null_columns. */
struct UniqueLookup {
	uint32 null_columns;   /* bit i: index column i is NULL in the row */
	SPIPlanPtr plan;
	UniqueLookup *next;
};

/* Another unique index of the table: checked before writing a remote row. */
struct UniqueIndex {
	int ncols;
	int *cols;               /* remote column indexes */
	bool nulls_not_distinct; /* NULLs collide too (UNIQUE NULLS NOT DISTINCT) */
	UniqueLookup *lookups;   /* built on first use (apply::UniqueLookupPlan) */
	FmgrInfo *send;          /* per index column: its type's send function (ghost values); nullptr if one has none */
	char *columns;           /* the index's local attnums, "2 3": names it in concord.unique_ghost */
};

struct LocalTarget {
	bool valid;
	MemoryContext context; /* holds everything below; reset on rebuild */
	Oid relid;
	Oid owner;
	Oid reltype;
	TupleDesc desc;        /* copy of the local descriptor (composite rows for resolvers, jsonb) */
	char *qualified_name;  /* quoted, schema-qualified */
	char *display_name;    /* schema.table for messages (the RemoteRelation's string) */
	int ncols;             /* == remote natts */
	AttrNumber *local_attnum; /* per remote column (1-based) */
	Oid *types;            /* local column types */
	Oid *ioparams;
	int32 *typmods;
	FmgrInfo *in_funcs;
	int nkeys;
	int *key_cols;         /* remote column indexes of the key, in local attnum order */
	FmgrInfo *key_send;    /* send functions of the key columns (tombstone keys) */
	bool overriding;       /* has GENERATED ALWAYS identity columns */
	bool *always_identity; /* per remote column: GENERATED ALWAYS identity (UPDATE may not set it) */

	/* Conflict handling, from concord.replicated_table (defaults if absent). */
	conflict::Policy policy;
	Oid resolver;
	bool *is_delta;        /* per remote column */
	bool has_delta;
	int nuniques;
	UniqueIndex *uniques;
	/* The transaction that holds the whole table's value lock (conflict_pg::LockUniqueValues). */
	LocalTransactionId table_locked_lxid;

	/*
	 * The key index (catalog::KeyIndex), and whether INSERT, UPDATE and
	 * DELETE may bypass SPI on this table (direct_apply.hpp).
	 */
	Oid key_index;
	/*
	 * The key index's equality search, per index column (set with
	 * direct_update / direct_delete): which key value it compares, with
	 * which btree equality function and collation.
	 */
	struct {
		int *value_of;     /* index into the key values (key_cols order) */
		FmgrInfo *eq;
		Oid *collation;
	} key_search;
	bool direct_insert;
	bool direct_update;
	bool direct_delete;
	/* Whether a row trigger for each operation fires in the apply worker's replica role. */
	struct {
		bool insert, update, del;
	} replica_row_triggers;

	/* Plans, prepared on first use. */
	SPIPlanPtr insert_plain;
	SPIPlanPtr insert_guarded;     /* key free and no tombstone */
	SPIPlanPtr insert_key_free;    /* key free (the table has no tombstones) */
	SPIPlanPtr insert_batch;       /* unnest() of one array per column, tombstones checked */
	SPIPlanPtr insert_batch_key_free;
	/* Tombstones of this table as last looked at (see shmem tombstone_epoch). */
	uint64 tombstone_epoch;
	bool may_have_tombstones;
	Oid *array_types;         /* array type of each column's type (InvalidOid: none) */
	bool batchable;
	SPIPlanPtr delete_plain;
	SPIPlanPtr delete_guarded;
	SPIPlanPtr lookup;
	UpdatePlan *update_plans;
};

struct RemoteRelation {
	uint32 remote_relid;   /* hash key */
	char *nspname;
	char *relname;
	char *display_name;    /* nspname.relname, for messages (also before a local target exists) */
	int natts;
	RemoteColumn *cols;
	LocalTarget target;
};

/*
 * Whether an UPDATE writes remote column c: not a key column (the key never
 * changes in place), not a GENERATED ALWAYS identity (UPDATE may not set
 * it), and not a TOASTed value the peer left out as unchanged.
 */
inline bool UpdateWrites(const RemoteRelation *rel, const char *unchanged, int c) {
	return !unchanged[c] && !rel->cols[c].is_key && !rel->target.always_identity[c];
}

/* Creates the map in state->cache_context and registers invalidation. */
void InitRelationMap();

/* Stores a RELATION message (header already read from r). */
void StoreRelation(const protocol::RelationHeader &header, protocol::Reader &r);

/* The relation announced under remote_relid; raises if unknown (protocol error). */
RemoteRelation *LookupRelation(uint32 remote_relid);

/* The relation's local target, resolved (inside a transaction) if needed. */
LocalTarget *ResolveTarget(RemoteRelation *rel);

} // namespace concord::apply
