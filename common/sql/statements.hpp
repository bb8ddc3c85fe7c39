/*
 * statements.hpp — the SQL text the apply worker prepares (pure C++).
 *
 * Every identifier is double-quoted (quotes doubled), so names with spaces,
 * quotes, semicolons, upper case or keywords are safe.  Parameters are
 * numbered $1..$n in the order documented per builder; the caller binds
 * values of the local column types.  Builders take plain arrays of
 * string_views so PostgreSQL-side callers need no C++ containers.
 *
 * "Guarded" statements are the apply fast path: they change the row only if
 * no conflict is possible, and report zero rows otherwise so the caller can
 * take the slow path (look at the local row, decide, record the conflict).
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace concord::sql {

struct Names {
	const std::string_view *items = nullptr;
	size_t count = 0;
};

/* "name" with embedded quotes doubled. */
std::string QuoteIdentifier(std::string_view name);
/* "schema"."name" */
std::string QualifiedName(std::string_view schema, std::string_view name);

/*
 * INSERT INTO t (c1..cn) [OVERRIDING SYSTEM VALUE] VALUES ($1..$n)
 * overriding: the table has GENERATED ALWAYS identity columns; replicated
 * values must win over locally generated ones.
 */
std::string BuildInsert(std::string_view table, Names columns, bool overriding);

/*
 * Guarded insert: inserts only if the key is free and has no tombstone.
 * INSERT INTO t (c1..cn) SELECT $1..$n WHERE NOT EXISTS (SELECT 1 FROM
 * concord.tombstone WHERE relid = <relid> AND key = $(n+1))
 * ON CONFLICT (keys) DO NOTHING
 * relid 0: the table is known to have no tombstones; only the key is checked
 * (INSERT ... VALUES ($1..$n) ON CONFLICT (keys) DO NOTHING).
 */
std::string BuildGuardedInsert(std::string_view table, Names columns, bool overriding, Names key_columns,
                               uint32_t relid);

/*
 * Batched guarded insert: one row per element of the parameter arrays.
 * INSERT INTO t (c1..cn) SELECT ... FROM ROWS FROM (unnest($1), .., unnest($(n+1))) AS u(..., key)
 * WHERE NOT EXISTS (tombstone of u.key) ON CONFLICT (keys) DO NOTHING
 * $1..$n are arrays of the column types, $(n+1) the tombstone keys (bytea[]).
 * relid 0: no tombstone check and no key array.
 */
std::string BuildBatchInsert(std::string_view table, Names columns, bool overriding, Names key_columns,
                             uint32_t relid);

/*
 * The fast path's guard: AND the row was last written by the peer the change
 * comes from, so the change cannot conflict —
 *   concord.written_through(xmin, $o, $o+1, relid, $o+2, $o+3, $o+4)
 * with $o the peer's replication origin, $o+1 the origin of initial copies
 * (whose rows carry their version in concord.row_version), $o+2 the row's
 * tombstone key, $o+3 the peer's node name and $o+4 the change's commit time.
 */
inline constexpr size_t kGuardParams = 5;

struct UpdateOptions {
	/* Add the guard after the SET and key parameters. */
	bool guarded = false;
	/* The table's relid, for the guard. */
	uint32_t relid = 0;
	/*
	 * With guarded: AND no version is recorded for the row (concord.row_version,
	 * same xmin) — such a row's version is not its xmin's (delta tables).
	 */
	bool recorded_check = false;
	/*
	 * One flag per SET column: merged as a delta (see DeltaExpression in
	 * statements.cpp: in short s = local + ($new - $old), a NULL counting as
	 * 0); the old values follow all other parameters, in the order the delta
	 * columns appear.  nullptr: no deltas.
	 */
	const bool *delta = nullptr;
	/*
	 * With delta: one SQL type name per SET column (read for delta columns
	 * only), the column's base type, for a zero of that type: an untyped 0
	 * has no common type with money.  Required when a flag is set.
	 */
	Names delta_types;
};

/* UPDATE t SET s1 = $1 .. sk = $k WHERE key1 = $(k+1) .. keym = $(k+m) [see UpdateOptions] */
std::string BuildUpdate(std::string_view table, Names set_columns, Names key_columns, const UpdateOptions &options);

/*
 * DELETE FROM t WHERE key1 = $1 .. [AND the guard, from $(m+1), for table
 * relid] [AND no recorded version, as for UPDATE, when recorded_check]
 */
std::string BuildDelete(std::string_view table, Names key_columns, bool guarded, uint32_t relid = 0,
                        bool recorded_check = false);

/*
 * The local row a change would touch, locked: SELECT xmin, whole row FROM t
 * WHERE keys = $1.. FOR UPDATE (the caller derives the version from xmin).
 * With unique_columns set, instead finds another row (key not equal to
 * $(u+1)..) holding the same values $1..$u in those columns; a unique
 * column whose bit (1 << i) is set in null_columns must be NULL instead
 * ($i+1 unused): the lookup of a UNIQUE NULLS NOT DISTINCT index for a row
 * with NULLs there.
 */
std::string BuildLookup(std::string_view table, Names key_columns, Names unique_columns = {},
                        uint32_t null_columns = 0);

/*
 * The tombstone of a key: SELECT xmin FROM concord.tombstone WHERE relid = $1
 * AND key = $2 [FOR UPDATE when lock: a write of the tombstone follows].
 */
std::string BuildTombstoneLookup(bool lock = false);

/*
 * The counters a tombstone keeps (concord.tombstone.counters: a jsonb object
 * of delta column name -> value) merged with one update's increments,
 * column by column as an UPDATE merges a live row's delta columns.  A column
 * the object has no entry for is unknown (no row of the key was deleted
 * here with it as a delta column): nothing merges into it.
 * Parameters: $1 the relid, $2 the tombstone key, then per delta column its
 * new value, its old value (of the column's type) and its name (text): $3,
 * $4, $5 for the first, $6, $7, $8 for the second ...  types: each column's
 * base type, as UpdateOptions::delta_types (the stored values are read as
 * those).
 * store: UPDATE the tombstone's known counters to the merged values
 * (a tombstone without counters stays as it is);
 * otherwise SELECT one value per column, in the given order, cast to the
 * column's own type (column_types: a domain's checks apply, as when a live
 * row merges): the merged value where the counter is known, the update's
 * new value where not (no row if the tombstone keeps no counters at all).
 */
inline constexpr size_t kTombstoneCounterParams = 3;
std::string BuildTombstoneCounters(Names delta_columns, Names types, bool store, Names column_types = {});

/* TRUNCATE TABLE t1, t2 [RESTART IDENTITY] [CASCADE] (tables already qualified) */
std::string BuildTruncate(Names qualified_tables, bool cascade, bool restart_identity);

} // namespace concord::sql
