/*
 * statements.hpp — the SQL text the apply worker prepares (pure C++).
 *
 * Every identifier is double-quoted (quotes doubled), so names with spaces,
 * quotes, semicolons, upper case or keywords are safe.  Parameters are
 * numbered $1..$n in the order documented per builder; the caller binds
 * values of the local column types.  Builders take plain arrays of
 * string_views so PostgreSQL-side callers need no C++ containers.
 */
#pragma once

#include <cstddef>
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
 * UPDATE t SET s1 = $1 .. sk = $k WHERE key1 = $(k+1) .. AND keym = $(k+m)
 * [AND xmin = $(k+m+1)] when guard_xmin: the update applies only if the row is
 * still the version the caller looked at.
 * delta marks SET columns applied as deltas: s = s + ($i - $(old_i)), where the
 * old values follow all other parameters in the order the delta columns appear.
 */
std::string BuildUpdate(std::string_view table, Names set_columns, Names key_columns, bool guard_xmin,
                        const bool *delta = nullptr);

/* DELETE FROM t WHERE key1 = $1 .. [AND xmin = $(m+1)] */
std::string BuildDelete(std::string_view table, Names key_columns, bool guard_xmin);

/*
 * SELECT xmin, <columns> FROM t WHERE key1 = $1 .. — the local row a remote
 * change would touch, with the transaction that last wrote it.
 */
std::string BuildLookup(std::string_view table, Names columns, Names key_columns);

/* TRUNCATE TABLE t1, t2 [CASCADE] [RESTART IDENTITY] (tables already qualified) */
std::string BuildTruncate(Names qualified_tables, bool cascade, bool restart_identity);

} // namespace concord::sql
