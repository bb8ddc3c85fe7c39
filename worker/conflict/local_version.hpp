/*
 * local_version.hpp — what this node holds for a key, and which write made it.
 *
 * The version of a local row or tombstone comes from its xmin: the commit
 * timestamp and replication origin PostgreSQL records for that transaction
 * (track_commit_timestamp).  Origin 0 is this node; a concord link origin
 * names the peer the change came from.  A row written earlier in the
 * transaction being applied has no commit timestamp yet and counts as the
 * remote writer's own.
 *
 * Two kinds of rows carry a version their xmin cannot express, recorded in
 * concord.row_version by the transaction that wrote the row (an entry counts
 * only while its xmin still equals the row's): rows an initial copy wrote
 * (the version they had on the peer they came from; without an entry they
 * count as older than any known write), and rows whose delta columns merged
 * a remote change that lost (the local version that won).
 */
#pragma once

extern "C" {
#include "postgres.h"
}

#include "common/conflict/decide.hpp"
#include "worker/apply/relation_map.hpp"
#include "worker/apply/tuple_values.hpp"

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
 * A row other than the one with key `key_values` that holds row's values in
 * the columns of unique index u.  None if one of them is NULL, unless the
 * index treats NULLs as equal (NULLS NOT DISTINCT).
 */
void LookupUniqueHolder(apply::RemoteRelation *rel, apply::UniqueIndex *u, const apply::TupleValues *row,
                        const Datum *key_values, LocalRow *out);

/*
 * The tombstone of `key` in t's table, as a version (exists = false if
 * none); lock: locked FOR UPDATE, as the caller may write it (the version
 * read is then the one it writes over).  Copied tombstones, and on delta
 * tables tombstones whose counters a losing change merged into, carry a
 * recorded version.
 */
conflict::Version LookupTombstone(const apply::LocalTarget *t, bytea *key, bool lock = false);

/*
 * Records that the row with `key_values`, as written by the current
 * transaction, has version `version` (not the transaction's own).
 */
void RecordRowVersion(const apply::LocalTarget *t, const Datum *key_values, const conflict::Version &version);

/* The version of the remote transaction being applied. */
conflict::Version RemoteVersion();

/* Name of the node behind a replication origin id (cached). */
const char *OriginNodeName(RepOriginId origin);

} // namespace concord::conflict_pg
