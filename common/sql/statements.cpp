/*
 * statements.cpp — builds the apply worker's prepared statements.
 */
#include "common/sql/statements.hpp"

namespace concord::sql {

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

std::string Param(size_t n) { return "$" + std::to_string(n); }

/* key1 = $first AND key2 = $(first+1) ... */
void AppendKeyCondition(std::string *out, Names keys, size_t first_param) {
	for (size_t i = 0; i < keys.count; i++) {
		if (i > 0)
			out->append(" AND ");
		out->append(QuoteIdentifier(keys.items[i]));
		out->append(" = ");
		out->append(Param(first_param + i));
	}
}

} // namespace

std::string BuildInsert(std::string_view table, Names columns, bool overriding) {
	std::string out = "INSERT INTO ";
	out.append(table);
	out.append(" (");
	for (size_t i = 0; i < columns.count; i++) {
		if (i > 0)
			out.append(", ");
		out.append(QuoteIdentifier(columns.items[i]));
	}
	out.append(")");
	if (overriding)
		out.append(" OVERRIDING SYSTEM VALUE");
	out.append(" VALUES (");
	for (size_t i = 0; i < columns.count; i++) {
		if (i > 0)
			out.append(", ");
		out.append(Param(i + 1));
	}
	out.append(")");
	return out;
}

std::string BuildUpdate(std::string_view table, Names set_columns, Names key_columns, bool guard_xmin,
                        const bool *delta) {
	/* old values of delta columns follow the SET, key and xmin parameters */
	size_t next_old = set_columns.count + key_columns.count + (guard_xmin ? 1 : 0) + 1;

	std::string out = "UPDATE ";
	out.append(table);
	out.append(" SET ");
	for (size_t i = 0; i < set_columns.count; i++) {
		if (i > 0)
			out.append(", ");
		std::string col = QuoteIdentifier(set_columns.items[i]);
		out.append(col);
		out.append(" = ");
		if (delta != nullptr && delta[i]) {
			/* local + (remote_new - remote_old); a NULL side counts as 0 */
			out.append("COALESCE(" + col + ", 0) + (COALESCE(" + Param(i + 1) + ", 0) - COALESCE(" +
			           Param(next_old++) + ", 0))");
		} else {
			out.append(Param(i + 1));
		}
	}
	out.append(" WHERE ");
	AppendKeyCondition(&out, key_columns, set_columns.count + 1);
	if (guard_xmin)
		out.append(" AND xmin = " + Param(set_columns.count + key_columns.count + 1));
	return out;
}

std::string BuildDelete(std::string_view table, Names key_columns, bool guard_xmin) {
	std::string out = "DELETE FROM ";
	out.append(table);
	out.append(" WHERE ");
	AppendKeyCondition(&out, key_columns, 1);
	if (guard_xmin)
		out.append(" AND xmin = " + Param(key_columns.count + 1));
	return out;
}

std::string BuildLookup(std::string_view table, Names columns, Names key_columns) {
	std::string out = "SELECT xmin";
	for (size_t i = 0; i < columns.count; i++) {
		out.append(", ");
		out.append(QuoteIdentifier(columns.items[i]));
	}
	out.append(" FROM ");
	out.append(table);
	out.append(" WHERE ");
	AppendKeyCondition(&out, key_columns, 1);
	return out;
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
