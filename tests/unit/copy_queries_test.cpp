/*
 * copy_queries_test.cpp — the initial copy's queries (common/sql/copy_queries.{hpp,cpp}).
 *
 * QuoteLiteral must keep any text inside one SQL string literal; the copy
 * queries must quote identifiers and literals they embed, so a peer or column
 * name cannot change the statement.
 */
#include "common/sql/copy_queries.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace concord::sql {
namespace {

/* Removes one SQL string literal ('...' or E'...') starting at sql[i]; returns the index after it. */
size_t SkipLiteral(const std::string &sql, size_t i, bool escapes) {
	for (size_t j = i + 1; j < sql.size(); j++) {
		if (escapes && sql[j] == '\\') {
			j++;
			continue;
		}
		if (sql[j] == '\'') {
			if (j + 1 < sql.size() && sql[j + 1] == '\'') {
				j++;
				continue;
			}
			return j + 1;
		}
	}
	ADD_FAILURE() << "unterminated literal in: " << sql;
	return sql.size();
}

/* The statement with literals replaced by L and quoted identifiers by I. */
std::string Skeleton(const std::string &sql) {
	std::string out;
	for (size_t i = 0; i < sql.size();) {
		bool e_string = sql[i] == 'E' && i + 1 < sql.size() && sql[i + 1] == '\'' &&
		                (i == 0 || !(std::isalnum(static_cast<unsigned char>(sql[i - 1])) || sql[i - 1] == '_'));
		if (e_string) {
			i = SkipLiteral(sql, i + 1, true);
			out.push_back('L');
		} else if (sql[i] == '\'') {
			i = SkipLiteral(sql, i, false);
			out.push_back('L');
		} else if (sql[i] == '"') {
			size_t j = i + 1;
			while (j < sql.size() && !(sql[j] == '"' && (j + 1 >= sql.size() || sql[j + 1] != '"')))
				j += sql[j] == '"' ? 2 : 1;
			EXPECT_LT(j, sql.size()) << "unterminated identifier in: " << sql;
			i = j + 1;
			out.push_back('I');
		} else {
			out.push_back(sql[i++]);
		}
	}
	return out;
}

struct LiteralCase {
	std::string name;
	std::string text;
	std::string literal;
};

class Literal : public ::testing::TestWithParam<LiteralCase> {};

TEST_P(Literal, Quotes) {
	const LiteralCase &c = GetParam();
	EXPECT_EQ(QuoteLiteral(c.text), c.literal);
	EXPECT_EQ(Skeleton(QuoteLiteral(c.text)), "L");
}

INSTANTIATE_TEST_SUITE_P(Table, Literal,
                         ::testing::Values(LiteralCase{"Plain", "n1", "'n1'"}, LiteralCase{"Empty", "", "''"},
                                           LiteralCase{"Quote", "it's", "'it''s'"},
                                           LiteralCase{"OnlyQuote", "'", "''''"},
                                           LiteralCase{"Backslash", "a\\b", "E'a\\\\b'"},
                                           LiteralCase{"BackslashAndQuote", "\\'", "E'\\\\'''"},
                                           LiteralCase{"TrailingBackslash", "x\\", "E'x\\\\'"},
                                           LiteralCase{"Injection", "x'; DROP TABLE t; --", "'x''; DROP TABLE t; --'"},
                                           LiteralCase{"Underscore", "_n1", "'_n1'"},
                                           LiteralCase{"Utf8", "\xc3\xa9", "'\xc3\xa9'"}),
                         [](const ::testing::TestParamInfo<LiteralCase> &info) { return info.param.name; });

class NameListFixture {
public:
	explicit NameListFixture(std::vector<std::string> names) : strings_(std::move(names)) {
		for (const std::string &s : strings_)
			views_.emplace_back(s);
	}
	Names names() const { return Names{views_.data(), views_.size()}; }

private:
	std::vector<std::string> strings_;
	std::vector<std::string_view> views_;
};

TEST(CopyRowsQuery, Exact) {
	NameListFixture cols({"id", "na\"me"});
	EXPECT_EQ(BuildCopyRowsQuery("\"public\".\"t\"", cols.names()),
	          "COPY (SELECT \"id\", \"na\"\"me\" FROM \"public\".\"t\") TO STDOUT");
}

TEST(KeyExpression, FramesEveryKeyColumn) {
	NameListFixture keys({"a", "b\"c"});
	NameListFixture sends({"pg_catalog.int4send", "pg_catalog.textsend"});
	EXPECT_EQ(BuildKeyExpression("r", keys.names(), sends.names()),
	          "pg_catalog.int4send(pg_catalog.length(pg_catalog.int4send(r.\"a\"))) || pg_catalog.int4send(r.\"a\") || "
	          "pg_catalog.int4send(pg_catalog.length(pg_catalog.textsend(r.\"b\"\"c\"))) || "
	          "pg_catalog.textsend(r.\"b\"\"c\")");
}

TEST(CopyVersionsQuery, PeerNameIsALiteralWhateverItHolds) {
	NameListFixture keys({"id"});
	NameListFixture sends({"pg_catalog.int4send"});
	std::string key_expr = BuildKeyExpression("r", keys.names(), sends.names());
	std::string reference = Skeleton(BuildCopyVersionsQuery("\"s\".\"t\"", 16384, key_expr, "n1"));
	for (const std::string peer : {"n1", "x'y", "a\\b", "'; DROP TABLE t; --", "\\'"}) {
		std::string sql = BuildCopyVersionsQuery("\"s\".\"t\"", 16384, key_expr, peer);
		EXPECT_EQ(Skeleton(sql), reference) << sql;
	}
	std::string sql = BuildCopyVersionsQuery("\"s\".\"t\"", 16384, key_expr, "n1");
	EXPECT_EQ(sql.rfind("COPY (SELECT 16384::pg_catalog.oid, " + key_expr + ", ", 0), 0u) << sql;
	EXPECT_NE(sql.find("THEN 'n1'"), std::string::npos) << sql;
	EXPECT_NE(sql.find("'__n1'"), std::string::npos) << sql;
	EXPECT_NE(sql.find("cv.relid = '\"s\".\"t\"'::pg_catalog.regclass"), std::string::npos) << sql;
	EXPECT_EQ(sql.substr(sql.size() - 11), ") TO STDOUT") << sql;
}

TEST(CopyTombstonesQuery, TombstonesOfTheTableWithoutALiveRow) {
	NameListFixture keys({"id"});
	NameListFixture sends({"pg_catalog.int4send"});
	std::string live = BuildKeyExpression("live", keys.names(), sends.names());
	EXPECT_EQ(BuildCopyTombstonesQuery("\"s\".\"t\"", 16384, live),
	          "COPY (SELECT 16384::pg_catalog.oid, r.key, r.counters FROM concord.tombstone AS r WHERE r.relid = "
	          "'\"s\".\"t\"'::pg_catalog.regclass AND NOT EXISTS (SELECT 1 FROM \"s\".\"t\" AS live WHERE " +
	              live + " = r.key)) TO STDOUT");
}

TEST(CopyTombstoneVersionsQuery, SameVersionsAsRowsForTheSameTombstones) {
	NameListFixture keys({"id"});
	NameListFixture sends({"pg_catalog.int4send"});
	std::string live = BuildKeyExpression("live", keys.names(), sends.names());
	std::string sql = BuildCopyTombstoneVersionsQuery("\"s\".\"t\"", 16384, live, "n1");
	EXPECT_EQ(sql.rfind("COPY (SELECT 16384::pg_catalog.oid, r.key, ", 0), 0u) << sql;
	EXPECT_NE(sql.find(" FROM concord.tombstone AS r LEFT JOIN LATERAL pg_catalog.pg_xact_commit_timestamp_origin(r.xmin)"),
	          std::string::npos)
	    << sql;
	EXPECT_NE(sql.find("cv.relid = r.relid AND cv.key = r.key AND cv.xmin = r.xmin"), std::string::npos) << sql;
	/* exactly the tombstones BuildCopyTombstonesQuery copies */
	std::string filter = " WHERE r.relid = '\"s\".\"t\"'::pg_catalog.regclass AND NOT EXISTS (SELECT 1 FROM "
	                     "\"s\".\"t\" AS live WHERE " +
	                     live + " = r.key)) TO STDOUT";
	EXPECT_EQ(sql.substr(sql.size() - filter.size()), filter) << sql;
	/* the version expressions are those of rows */
	std::string rows = BuildCopyVersionsQuery("\"s\".\"t\"", 16384, "r.key", "n1");
	EXPECT_EQ(sql.substr(0, sql.find(" FROM ")), rows.substr(0, rows.find(" FROM "))) << sql;
	for (const std::string peer : {"x'y", "a\\b", "'; DROP TABLE t; --"})
		EXPECT_EQ(Skeleton(BuildCopyTombstoneVersionsQuery("\"s\".\"t\"", 16384, live, peer)), Skeleton(sql)) << peer;
}

} // namespace
} // namespace concord::sql
