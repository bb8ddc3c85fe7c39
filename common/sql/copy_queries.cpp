/*
 * copy_queries.cpp — builds the initial copy's queries; see copy_queries.hpp.
 */
#include "common/sql/copy_queries.hpp"

namespace concord::sql {

std::string QuoteLiteral(std::string_view text) {
	bool backslash = text.find('\\') != std::string_view::npos;
	std::string out = backslash ? "E'" : "'";
	for (char c : text) {
		if (c == '\'' || (backslash && c == '\\'))
			out.push_back(c);
		out.push_back(c);
	}
	out.push_back('\'');
	return out;
}

std::string BuildCopyRowsQuery(std::string_view qualified_table, Names columns) {
	std::string out = "COPY (SELECT ";
	for (size_t i = 0; i < columns.count; i++) {
		if (i > 0)
			out.append(", ");
		out.append(QuoteIdentifier(columns.items[i]));
	}
	out.append(" FROM ");
	out.append(qualified_table);
	out.append(") TO STDOUT");
	return out;
}

std::string BuildKeyExpression(std::string_view alias, Names key_columns, Names send_functions) {
	std::string out;
	for (size_t i = 0; i < key_columns.count; i++) {
		std::string value = std::string(send_functions.items[i]) + "(" + std::string(alias) + "." +
		                    QuoteIdentifier(key_columns.items[i]) + ")";
		if (i > 0)
			out.append(" || ");
		out.append("pg_catalog.int4send(pg_catalog.length(" + value + ")) || " + value);
	}
	return out;
}

namespace {

/*
 * COPY of (local_relid, key, commit_ts, node) for the rows `source` (aliased
 * r) selects, `key` being each one's tombstone key: its own commit
 * timestamp and origin, or the version the peer recorded for it (same xmin).
 * `recorded_relid` names the peer's table in concord.row_version.
 */
std::string VersionsQuery(std::string_view source, std::string_view recorded_relid, std::string_view where,
                          uint32_t local_relid, std::string_view key, std::string_view peer) {
	std::string suffix = QuoteLiteral("__" + std::string(peer));
	std::string out = "COPY (SELECT " + std::to_string(local_relid) + "::pg_catalog.oid, " + std::string(key);
	/* commit timestamp: the row's own, or the version the peer recorded for it (same xmin) */
	out += ", CASE WHEN cv.relid IS NOT NULL THEN cv.commit_ts ELSE c.\"timestamp\" END";
	/* origin node: recorded, the peer itself, the provider named by a concord link, or the origin's name */
	out += ", CASE WHEN cv.relid IS NOT NULL THEN cv.node";
	out += " WHEN c.roident IS NULL OR c.roident = 0 THEN " + QuoteLiteral(peer);
	out += " WHEN o.roname LIKE 'concord\\_%' AND pg_catalog.right(o.roname, pg_catalog.length(" + suffix + ")) = " +
	       suffix;
	out += " THEN pg_catalog.substr(o.roname, 9, pg_catalog.length(o.roname) - 8 - pg_catalog.length(" + suffix + "))";
	/* an origin that no longer exists (dropped by an older version) still yields a name */
	out += " ELSE coalesce(o.roname, 'origin ' || c.roident::text) END";
	out += " FROM " + std::string(source) + " AS r";
	out += " LEFT JOIN LATERAL pg_catalog.pg_xact_commit_timestamp_origin(r.xmin) AS c ON true";
	out += " LEFT JOIN pg_catalog.pg_replication_origin AS o ON o.roident = c.roident";
	out += " LEFT JOIN concord.row_version AS cv ON cv.relid = " + std::string(recorded_relid) +
	       " AND cv.key = " + std::string(key) + " AND cv.xmin = r.xmin";
	out += std::string(where) + ") TO STDOUT";
	return out;
}

/* The peer's tombstones of the table whose key has no live row there (aliased r). */
std::string TombstoneFilter(std::string_view qualified_table, std::string_view live_key_expr) {
	return " WHERE r.relid = " + QuoteLiteral(qualified_table) + "::pg_catalog.regclass AND NOT EXISTS (SELECT 1 FROM " +
	       std::string(qualified_table) + " AS live WHERE " + std::string(live_key_expr) + " = r.key)";
}

} // namespace

std::string BuildCopyVersionsQuery(std::string_view qualified_table, uint32_t local_relid, std::string_view key_expr,
                                   std::string_view peer) {
	return VersionsQuery(qualified_table, QuoteLiteral(qualified_table) + "::pg_catalog.regclass", "", local_relid,
	                     key_expr, peer);
}

std::string BuildCopyTombstonesQuery(std::string_view qualified_table, uint32_t local_relid,
                                     std::string_view live_key_expr) {
	return "COPY (SELECT " + std::to_string(local_relid) + "::pg_catalog.oid, r.key, r.counters FROM concord.tombstone AS r" +
	       TombstoneFilter(qualified_table, live_key_expr) + ") TO STDOUT";
}

std::string BuildCopyTombstoneVersionsQuery(std::string_view qualified_table, uint32_t local_relid,
                                            std::string_view live_key_expr, std::string_view peer) {
	return VersionsQuery("concord.tombstone", "r.relid", TombstoneFilter(qualified_table, live_key_expr), local_relid,
	                     "r.key", peer);
}

} // namespace concord::sql
