/*
 * statements.cpp — builds the apply worker's prepared statements.
 */
#include "common/sql/statements.hpp"

#include <stdexcept>

namespace concord::sql {

namespace {

/* Alias of the target table in lookups: unlikely to collide with a column name. */
constexpr std::string_view kRowAlias = "\"concord row\"";
/* The guard (see kGuardParams) with its first parameter at $first. */
std::string Guard(uint32_t relid, size_t first) {
	std::string out = "concord.written_through(xmin, ";
	out += "$" + std::to_string(first) + ", $" + std::to_string(first + 1) + ", " + std::to_string(relid) +
	       "::pg_catalog.oid, $" + std::to_string(first + 2) + ", $" + std::to_string(first + 3) + ", $" +
	       std::to_string(first + 4) + ")";
	return out;
}

std::string Param(size_t n) { return "$" + std::to_string(n); }

/* [alias.]key1 = $first AND [alias.]key2 = $(first+1) ... */
/*
 * keys[0] = $first AND keys[1] = $first+1 ..; a column whose bit is set in
 * null_columns is tested IS NULL instead (its parameter is left unused, so
 * the numbering stays the same).
 */
void AppendKeyCondition(std::string *out, Names keys, size_t first_param, std::string_view alias = {},
                        uint32_t null_columns = 0) {
	for (size_t i = 0; i < keys.count; i++) {
		if (i > 0)
			out->append(" AND ");
		if (!alias.empty()) {
			out->append(alias);
			out->push_back('.');
		}
		out->append(QuoteIdentifier(keys.items[i]));
		if (i < 32 && (null_columns & (1u << i)) != 0) {
			out->append(" IS NULL");
			continue;
		}
		out->append(" = ");
		out->append(Param(first_param + i));
	}
}

void AppendColumnList(std::string *out, Names columns) {
	for (size_t i = 0; i < columns.count; i++) {
		if (i > 0)
			out->append(", ");
		out->append(QuoteIdentifier(columns.items[i]));
	}
}

void AppendParamList(std::string *out, size_t first, size_t count) {
	for (size_t i = 0; i < count; i++) {
		if (i > 0)
			out->append(", ");
		out->append(Param(first + i));
	}
}

} // namespace

std::string QuoteIdentifier(std::string_view name) {
	std::string out;
	out.reserve(name.size() + 2);
	out.push_back('"');
	for (char c : name) {
		if (c == '"')
			out.push_back('"');
		out.push_back(c);
	}
	out.push_back('"');
	return out;
}

std::string QualifiedName(std::string_view schema, std::string_view name) {
	return QuoteIdentifier(schema) + "." + QuoteIdentifier(name);
}

namespace {

/* INSERT INTO t (c1..cn) [OVERRIDING SYSTEM VALUE] — the start every insert shares. */
std::string InsertHead(std::string_view table, Names columns, bool overriding) {
	std::string out = "INSERT INTO ";
	out.append(table);
	out.append(" (");
	AppendColumnList(&out, columns);
	out.append(")");
	if (overriding)
		out.append(" OVERRIDING SYSTEM VALUE");
	return out;
}

} // namespace

std::string BuildInsert(std::string_view table, Names columns, bool overriding) {
	std::string out = InsertHead(table, columns, overriding);
	out.append(" VALUES (");
	AppendParamList(&out, 1, columns.count);
	out.append(")");
	return out;
}

std::string BuildGuardedInsert(std::string_view table, Names columns, bool overriding, Names key_columns,
                               uint32_t relid) {
	std::string out = InsertHead(table, columns, overriding);
	if (relid == 0) {
		out.append(" VALUES (");
		AppendParamList(&out, 1, columns.count);
		out.append(")");
	} else {
		out.append(" SELECT ");
		AppendParamList(&out, 1, columns.count);
		out.append(" WHERE NOT concord.key_deleted(");
		out.append(std::to_string(relid));
		out.append("::pg_catalog.oid, ");
		out.append(Param(columns.count + 1));
		out.append(")");
	}
	out.append(" ON CONFLICT (");
	AppendColumnList(&out, key_columns);
	out.append(") DO NOTHING");
	return out;
}

std::string BuildBatchInsert(std::string_view table, Names columns, bool overriding, Names key_columns,
                             uint32_t relid) {
	std::string out = InsertHead(table, columns, overriding);
	out.append(" SELECT ");
	for (size_t i = 0; i < columns.count; i++) {
		if (i > 0)
			out.append(", ");
		out.append("u.c" + std::to_string(i + 1));
	}
	size_t arrays = columns.count + (relid != 0 ? 1 : 0);
	out.append(" FROM ROWS FROM (");
	for (size_t i = 0; i < arrays; i++) {
		if (i > 0)
			out.append(", ");
		out.append("pg_catalog.unnest(" + Param(i + 1) + ")");
	}
	out.append(") AS u(");
	for (size_t i = 0; i < columns.count; i++) {
		if (i > 0)
			out.append(", ");
		out.append("c" + std::to_string(i + 1));
	}
	if (relid != 0) {
		out.append(", concord_key) WHERE NOT concord.key_deleted(");
		out.append(std::to_string(relid));
		out.append("::pg_catalog.oid, u.concord_key");
	}
	out.append(") ON CONFLICT (");
	AppendColumnList(&out, key_columns);
	out.append(") DO NOTHING");
	return out;
}

namespace {

/*
 * The value a delta column gets from a change that took it from $old to
 * $new at the peer:
 * - the peer left it alone: the local value, whatever it is (NULL stays NULL);
 * - nothing changed it here since the peer's old value: exactly the peer's
 *   new value (NULL included, and no rounding of real numbers);
 * - otherwise both sides changed it: the local value plus the peer's
 *   difference, a NULL on any side counting as 0, so concurrent increments
 *   add up in any order.
 */
std::string DeltaExpression(const std::string &col, const std::string &new_value, const std::string &old_value,
                            std::string_view type) {
	std::string zero = "CAST(0 AS " + std::string(type) + ")";
	return "CASE WHEN " + new_value + " IS NOT DISTINCT FROM " + old_value + " THEN " + col + " WHEN " + col +
	       " IS NOT DISTINCT FROM " + old_value + " THEN " + new_value + " ELSE COALESCE(" + col + ", " + zero +
	       ") + (COALESCE(" + new_value + ", " + zero + ") - COALESCE(" + old_value + ", " + zero + ")) END";
}

} // namespace

std::string BuildUpdate(std::string_view table, Names set_columns, Names key_columns, const UpdateOptions &options) {
	bool guarded = options.guarded;
	bool recorded = guarded && options.recorded_check;
	const bool *delta = options.delta;
	size_t guard_param = set_columns.count + key_columns.count + 1;
	size_t key_bytes_param = guard_param + 2;
	/* old values of delta columns follow the SET, key and guard parameters */
	size_t next_old = set_columns.count + key_columns.count + (guarded ? kGuardParams : 0) + 1;

	std::string out = "UPDATE ";
	out.append(table);
	out.append(" SET ");
	if (set_columns.count == 0 && key_columns.count > 0) {
		/* Nothing but the key: a no-op assignment keeps the statement (and its row count) valid. */
		std::string key = QuoteIdentifier(key_columns.items[0]);
		out.append(key + " = " + key);
	}
	for (size_t i = 0; i < set_columns.count; i++) {
		if (i > 0)
			out.append(", ");
		std::string col = QuoteIdentifier(set_columns.items[i]);
		out.append(col);
		out.append(" = ");
		if (delta != nullptr && delta[i]) {
			if (i >= options.delta_types.count)
				throw std::invalid_argument("BuildUpdate: no type for delta column " + col);
			out.append(DeltaExpression(col, Param(i + 1), Param(next_old++), options.delta_types.items[i]));
		} else {
			out.append(Param(i + 1));
		}
	}
	out.append(" WHERE ");
	AppendKeyCondition(&out, key_columns, set_columns.count + 1);
	if (guarded) {
		out.append(" AND ");
		out.append(Guard(options.relid, guard_param));
	}
	if (recorded) {
		out.append(" AND NOT concord.version_recorded(");
		out.append(std::to_string(options.relid));
		out.append("::pg_catalog.oid, " + Param(key_bytes_param) + ", xmin)");
	}
	return out;
}

std::string BuildDelete(std::string_view table, Names key_columns, bool guarded, uint32_t relid,
                        bool recorded_check) {
	std::string out = "DELETE FROM ";
	out.append(table);
	out.append(" WHERE ");
	AppendKeyCondition(&out, key_columns, 1);
	if (guarded) {
		out.append(" AND ");
		out.append(Guard(relid, key_columns.count + 1));
	}
	if (guarded && recorded_check)
		out.append(" AND NOT concord.version_recorded(" + std::to_string(relid) + "::pg_catalog.oid, " +
		           Param(key_columns.count + 3) + ", xmin)");
	return out;
}

std::string BuildLookup(std::string_view table, Names key_columns, Names unique_columns, uint32_t null_columns) {
	/*
	 * Only xmin and the row: the caller reads the version from xmin itself.
	 * (A commit timestamp joined in here would not be recomputed when FOR
	 * UPDATE waits for a concurrent writer and returns its newer row.)
	 */
	std::string out = "SELECT ";
	out.append(kRowAlias);
	out.append(".xmin, ");
	out.append(kRowAlias);
	out.append(" FROM ");
	out.append(table);
	out.append(" AS ");
	out.append(kRowAlias);
	out.append(" WHERE ");
	if (unique_columns.count == 0) {
		AppendKeyCondition(&out, key_columns, 1, kRowAlias);
	} else {
		AppendKeyCondition(&out, unique_columns, 1, kRowAlias, null_columns);
		out.append(" AND NOT (");
		AppendKeyCondition(&out, key_columns, unique_columns.count + 1, kRowAlias);
		out.append(")");
	}
	out.append(" LIMIT 1 FOR UPDATE OF ");
	out.append(kRowAlias);
	return out;
}

std::string BuildTombstoneLookup(bool lock) {
	std::string out = "SELECT t.xmin FROM concord.tombstone AS t WHERE t.relid = $1 AND t.key = $2";
	if (lock)
		out.append(" FOR UPDATE OF t");
	return out;
}

std::string BuildTombstoneCounters(Names delta_columns, Names types, bool store, Names column_types) {
	if (types.count < delta_columns.count || (!store && column_types.count < delta_columns.count))
		throw std::invalid_argument("BuildTombstoneCounters: a type for every delta column is required");
	/* The stored values as a row of just these columns (jsonb_to_record: no other column is read). */
	std::string record = "pg_catalog.jsonb_to_record(t.counters) AS l(";
	std::string values;
	for (size_t i = 0; i < delta_columns.count; i++) {
		std::string col = QuoteIdentifier(delta_columns.items[i]);
		size_t first = 3 + kTombstoneCounterParams * i;
		std::string new_value = Param(first), old_value = Param(first + 1), name = Param(first + 2);
		std::string merged = DeltaExpression("l." + col, new_value, old_value, types.items[i]);
		if (i > 0) {
			record.append(", ");
			values.append(store ? " || " : ", ");
		}
		record.append(col + " " + std::string(types.items[i]));
		if (store)
			values.append("CASE WHEN t.counters ? " + name + " THEN pg_catalog.jsonb_build_object(" + name + ", " +
			              merged + ") ELSE pg_catalog.jsonb_build_object() END");
		else
			values.append("CAST(CASE WHEN t.counters ? " + name + " THEN " + merged + " ELSE " + new_value +
			              " END AS " + std::string(column_types.items[i]) + ")");
	}
	record.append(")");
	std::string where = " WHERE t.relid = $1 AND t.key = $2 AND t.counters IS NOT NULL";
	if (store)
		return "UPDATE concord.tombstone AS t SET counters = (SELECT t.counters || " + values + " FROM " + record +
		       ")" + where;
	return "SELECT " + values + " FROM concord.tombstone AS t, " + record + where;
}

std::string BuildTruncate(Names qualified_tables, bool cascade, bool restart_identity) {
	std::string out = "TRUNCATE TABLE ";
	for (size_t i = 0; i < qualified_tables.count; i++) {
		if (i > 0)
			out.append(", ");
		out.append(qualified_tables.items[i]);
	}
	if (restart_identity)
		out.append(" RESTART IDENTITY");
	if (cascade)
		out.append(" CASCADE");
	return out;
}

} // namespace concord::sql
