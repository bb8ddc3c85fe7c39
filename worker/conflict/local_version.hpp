/*
 * local_version.hpp — what this node holds for a key, and which write made it.
 *
 * The version of a local row or tombstone comes from its xmin: the commit
 * timestamp and replication origin PostgreSQL records for that transaction
 * (track_commit_timestamp).  Origin 0 is this node; a concord link origin
 * names the peer the change came from.  A row written earlier in the
 * transaction being applied has no commit timestamp yet and counts as the
 * remote writer's own.
 */
#pragma once

extern "C" {
#include "postgres.h"
}

#include "common/conflict/decide.hpp"
#include "worker/apply/relation_map.hpp"

namespace concord::conflict_pg {

struct LocalRow {
	bool exists;
	conflict::Version version;
	Datum row;             /* the whole row (composite of the table's type) */
	char *origin_node;     /* backing store of version.node */
};

/* The row with the given key values (key order), locked FOR UPDATE. */
void LookupRow(apply::RemoteRelation *rel, const Datum *key_values, LocalRow *out);

/*
 * A row other than the one with key `key_values` that holds `values` in the
 * columns of unique index u (values in the index's column order).
 */
void LookupUniqueHolder(apply::RemoteRelation *rel, const apply::UniqueIndex *u, const Datum *index_values,
                        const Datum *key_values, LocalRow *out);

/* The tombstone of `key` in `relid`, as a version (exists = false if none). */
conflict::Version LookupTombstone(Oid relid, bytea *key);

/* The version of the remote transaction being applied. */
conflict::Version RemoteVersion();

/* Name of the node behind a replication origin id (cached). */
const char *OriginNodeName(RepOriginId origin);

} // namespace concord::conflict_pg
