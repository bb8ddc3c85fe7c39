/*
 * statements_test.cpp — the SQL the apply worker prepares (common/sql/statements.{hpp,cpp}).
 *
 * Exact text for representative shapes, and two properties for every shape
 * and every awkward identifier: the statement's skeleton (identifiers
 * replaced by I) does not depend on the names, so no name can change the
 * statement's structure; and parameters are exactly $1..$n, each used once.
 */
#include "common/sql/statements.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <initializer_list>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace concord::sql {
namespace {

/* The fast path's guard (sql::kGuardParams parameters from $n) for table relid. */
std::string Origin(int n, uint32_t relid = 0) {
	auto p = [](int i) { return "$" + std::to_string(i); };
	return "concord.written_through(xmin, " + p(n) + ", " + p(n + 1) + ", " + std::to_string(relid) +
	       "::pg_catalog.oid, " + p(n + 2) + ", " + p(n + 3) + ", " + p(n + 4) + ")";
}

/* Keeps string_views alive for a Names argument. */
class NameList {
public:
	NameList(std::initializer_list<std::string> names) : strings_(names) { Refresh(); }
	explicit NameList(std::vector<std::string> names) : strings_(std::move(names)) { Refresh(); }
	NameList(const NameList &other) : strings_(other.strings_) { Refresh(); }
	NameList &operator=(const NameList &) = delete;

	Names names() const { return Names{views_.data(), views_.size()}; }

private:
	void Refresh() {
		views_.clear();
		for (const std::string &s : strings_)
			views_.emplace_back(s);
	}

	std::vector<std::string> strings_;
	std::vector<std::string_view> views_;
};

/*
 * The statement with every double-quoted identifier replaced by I (a doubled
 * quote inside one stays part of it).  Fails the test on an unterminated identifier.
 */
std::string Skeleton(const std::string &sql) {
	std::string out;
	for (size_t i = 0; i < sql.size(); i++) {
		if (sql[i] != '"') {
			out.push_back(sql[i]);
			continue;
		}
		size_t j = i + 1;
		for (;; j++) {
			if (j >= sql.size()) {
				ADD_FAILURE() << "unterminated identifier in: " << sql;
				return out;
			}
			if (sql[j] == '"') {
				if (j + 1 < sql.size() && sql[j + 1] == '"') {
					j++;
					continue;
				}
				break;
			}
		}
		out.push_back('I');
		i = j;
	}
	return out;
}

/* How often each $n occurs outside identifiers. */
std::map<size_t, int> Params(const std::string &sql) {
	std::string skeleton = Skeleton(sql);
	std::map<size_t, int> out;
	for (size_t i = 0; i < skeleton.size(); i++) {
		if (skeleton[i] != '$')
			continue;
		size_t j = i + 1;
		while (j < skeleton.size() && std::isdigit(static_cast<unsigned char>(skeleton[j])))
			j++;
		EXPECT_GT(j, i + 1) << "a $ without a number in: " << sql;
		if (j > i + 1)
			out[std::stoul(skeleton.substr(i + 1, j - i - 1))]++;
		i = j - 1;
	}
	return out;
}

/* $1..$n each appear once, except those `uses` names (parameter -> times). */
void ExpectParamsOneToN(const std::string &sql, size_t n, const std::map<size_t, int> &uses = {}) {
	std::map<size_t, int> expected;
	for (size_t i = 1; i <= n; i++)
		expected[i] = 1;
	for (const auto &[param, times] : uses)
		expected[param] = times;
	EXPECT_EQ(Params(sql), expected) << sql;
}

/* ---- QuoteIdentifier / QualifiedName ----------------------------------------- */

struct QuoteCase {
	std::string name;
	std::string input;
	std::string quoted;
};

class Quote : public ::testing::TestWithParam<QuoteCase> {};

TEST_P(Quote, Identifier) { EXPECT_EQ(QuoteIdentifier(GetParam().input), GetParam().quoted); }

INSTANTIATE_TEST_SUITE_P(
    Table, Quote,
    ::testing::Values(QuoteCase{"Plain", "t", "\"t\""}, QuoteCase{"Empty", "", "\"\""},
                      QuoteCase{"UpperCaseKept", "MyTable", "\"MyTable\""},
                      QuoteCase{"Space", "with space", "\"with space\""}, QuoteCase{"Keyword", "select", "\"select\""},
                      QuoteCase{"Semicolon", "a;DROP TABLE x;--", "\"a;DROP TABLE x;--\""},
                      QuoteCase{"EmbeddedQuote", "my \"table\"", "\"my \"\"table\"\"\""},
                      QuoteCase{"OnlyAQuote", "\"", "\"\"\"\""}, QuoteCase{"TwoQuotes", "\"\"", "\"\"\"\"\"\""},
                      QuoteCase{"InjectionAttempt", "x\" = 1; DROP TABLE t; --", "\"x\"\" = 1; DROP TABLE t; --\""},
                      QuoteCase{"SingleQuote", "it's", "\"it's\""}, QuoteCase{"Dot", "a.b", "\"a.b\""},
                      QuoteCase{"Dollar", "$1", "\"$1\""},
                      QuoteCase{"Utf8", "\xc3\xa9t\xc3\xa9", "\"\xc3\xa9t\xc3\xa9\""}),
    [](const ::testing::TestParamInfo<QuoteCase> &info) { return info.param.name; });

TEST(Quote, QualifiedName) {
	EXPECT_EQ(QualifiedName("public", "t"), "\"public\".\"t\"");
	EXPECT_EQ(QualifiedName("my schema", "a\"b"), "\"my schema\".\"a\"\"b\"");
	EXPECT_EQ(QualifiedName("a.b", "c"), "\"a.b\".\"c\"");
	EXPECT_EQ(QualifiedName("", ""), "\"\".\"\"");
}

/* ---- exact statements ----------------------------------------------------------- */

const std::string kTable = "\"public\".\"t\"";

TEST(BuildInsert, Exact) {
	EXPECT_EQ(BuildInsert(kTable, NameList{"id", "na me", "q\"t"}.names(), false),
	          "INSERT INTO \"public\".\"t\" (\"id\", \"na me\", \"q\"\"t\") VALUES ($1, $2, $3)");
	EXPECT_EQ(BuildInsert(kTable, NameList{"id"}.names(), true),
	          "INSERT INTO \"public\".\"t\" (\"id\") OVERRIDING SYSTEM VALUE VALUES ($1)");
}

TEST(BuildInsert, TwoDigitParameters) {
	std::vector<std::string> cols;
	for (int i = 1; i <= 12; i++)
		cols.push_back("c" + std::to_string(i));
	std::string sql = BuildInsert(kTable, NameList(cols).names(), false);
	EXPECT_NE(sql.find("VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"), std::string::npos) << sql;
	ExpectParamsOneToN(sql, 12);
}

TEST(BuildGuardedInsert, Exact) {
	EXPECT_EQ(BuildGuardedInsert(kTable, NameList{"id", "v"}.names(), false, NameList{"id"}.names(), 16384),
	          "INSERT INTO \"public\".\"t\" (\"id\", \"v\") SELECT $1, $2 WHERE NOT concord.key_deleted("
	          "16384::pg_catalog.oid, $3) ON CONFLICT (\"id\") DO NOTHING");
	EXPECT_EQ(
	    BuildGuardedInsert(kTable, NameList{"a", "b", "v"}.names(), true, NameList{"a", "b"}.names(), 4294967295u),
	    "INSERT INTO \"public\".\"t\" (\"a\", \"b\", \"v\") OVERRIDING SYSTEM VALUE SELECT $1, $2, $3 WHERE NOT "
	    "concord.key_deleted(4294967295::pg_catalog.oid, $4) ON CONFLICT (\"a\", \"b\") DO NOTHING");
	/* relid 0: the table has no tombstones, only the key is checked */
	EXPECT_EQ(BuildGuardedInsert(kTable, NameList{"id", "v"}.names(), false, NameList{"id"}.names(), 0),
	          "INSERT INTO \"public\".\"t\" (\"id\", \"v\") VALUES ($1, $2) ON CONFLICT (\"id\") DO NOTHING");
}

/* Base types of up to three SET columns, for their delta expressions. */
const std::string_view kDeltaTypes[] = {"integer", "pg_catalog.money", "numeric"};

UpdateOptions Guarded(uint32_t recorded_relid = 0, const bool *delta = nullptr) {
	UpdateOptions o;
	o.guarded = true;
	o.relid = recorded_relid;
	o.recorded_check = recorded_relid != 0;
	o.delta = delta;
	o.delta_types = {kDeltaTypes, 3};
	return o;
}

UpdateOptions Deltas(const bool *delta, size_t ntypes = 3) {
	UpdateOptions o;
	o.delta = delta;
	o.delta_types = {kDeltaTypes, ntypes};
	return o;
}

/* What a delta column `col` of base type `type` is set to, from $n (new) and $o (old). */
std::string DeltaOf(const std::string &col, int n, int o, const std::string &type) {
	std::string nv = "$" + std::to_string(n), ov = "$" + std::to_string(o), zero = "CAST(0 AS " + type + ")";
	return "CASE WHEN " + nv + " IS NOT DISTINCT FROM " + ov + " THEN " + col + " WHEN " + col +
	       " IS NOT DISTINCT FROM " + ov + " THEN " + nv + " ELSE COALESCE(" + col + ", " + zero + ") + (COALESCE(" +
	       nv + ", " + zero + ") - COALESCE(" + ov + ", " + zero + ")) END";
}

const std::string kRecorded = " AND NOT concord.version_recorded(";

TEST(BuildUpdate, Exact) {
	NameList set{"a", "b"};
	NameList key{"id"};
	EXPECT_EQ(BuildUpdate(kTable, set.names(), key.names(), UpdateOptions{}),
	          "UPDATE \"public\".\"t\" SET \"a\" = $1, \"b\" = $2 WHERE \"id\" = $3");
	EXPECT_EQ(BuildUpdate(kTable, set.names(), key.names(), Guarded()),
	          "UPDATE \"public\".\"t\" SET \"a\" = $1, \"b\" = $2 WHERE \"id\" = $3 AND " + Origin(4));
	EXPECT_EQ(BuildUpdate(kTable, set.names(), NameList{"k1", "k2"}.names(), Guarded()),
	          "UPDATE \"public\".\"t\" SET \"a\" = $1, \"b\" = $2 WHERE \"k1\" = $3 AND \"k2\" = $4 AND " + Origin(5) + "");
}

TEST(BuildUpdate, RecordedVersionCheck) {
	NameList set{"a"};
	NameList key{"id"};
	/* the guard takes $3..$7; the check reuses its key bytes ($5) */
	EXPECT_EQ(BuildUpdate(kTable, set.names(), key.names(), Guarded(16384)),
	          "UPDATE \"public\".\"t\" SET \"a\" = $1 WHERE \"id\" = $2 AND " + Origin(3, 16384) + kRecorded +
	              "16384::pg_catalog.oid, $5, xmin)");
	/* The check belongs to the guarded fast path only. */
	UpdateOptions unguarded;
	unguarded.relid = 16384;
	unguarded.recorded_check = true;
	EXPECT_EQ(BuildUpdate(kTable, set.names(), key.names(), unguarded),
	          BuildUpdate(kTable, set.names(), key.names(), UpdateOptions{}));
}

TEST(BuildUpdate, DeltaColumns) {
	NameList set{"a", "n", "m"};
	NameList key{"id"};
	const bool delta[] = {false, true, true};
	/* old values follow SET ($1..$3), key ($4) and the guard ($5..$9): n's is $10, m's is $11 */
	/* each delta column's zero has that column's type (n is money, m numeric) */
	EXPECT_EQ(BuildUpdate(kTable, set.names(), key.names(), Guarded(0, delta)),
	          "UPDATE \"public\".\"t\" SET \"a\" = $1, \"n\" = " + DeltaOf("\"n\"", 2, 10, "pg_catalog.money") +
	              ", \"m\" = " + DeltaOf("\"m\"", 3, 11, "numeric") + " WHERE \"id\" = $4 AND " + Origin(5));
	/* without the guard the old values follow the key */
	EXPECT_EQ(BuildUpdate(kTable, set.names(), key.names(), Deltas(delta)),
	          "UPDATE \"public\".\"t\" SET \"a\" = $1, \"n\" = " + DeltaOf("\"n\"", 2, 5, "pg_catalog.money") +
	              ", \"m\" = " + DeltaOf("\"m\"", 3, 6, "numeric") + " WHERE \"id\" = $4");
	/* the recorded-version check adds no parameter: it reuses the guard's key bytes ($7) */
	EXPECT_EQ(BuildUpdate(kTable, set.names(), key.names(), Guarded(77, delta)),
	          "UPDATE \"public\".\"t\" SET \"a\" = $1, \"n\" = " + DeltaOf("\"n\"", 2, 10, "pg_catalog.money") +
	              ", \"m\" = " + DeltaOf("\"m\"", 3, 11, "numeric") + " WHERE \"id\" = $4 AND " +
	              Origin(5, 77) + kRecorded + "77::pg_catalog.oid, $7, xmin)");
	/* the written form of one, in full */
	EXPECT_EQ(DeltaOf("\"n\"", 2, 5, "integer"),
	          "CASE WHEN $2 IS NOT DISTINCT FROM $5 THEN \"n\" WHEN \"n\" IS NOT DISTINCT FROM $5 THEN $2 ELSE "
	          "COALESCE(\"n\", CAST(0 AS integer)) + (COALESCE($2, CAST(0 AS integer)) - COALESCE($5, CAST(0 AS "
	          "integer))) END");
}

TEST(BuildUpdate, DeltaColumnNeedsItsType) {
	const bool delta[] = {false, true};
	/* a type for the first SET column only: the delta column (the second) has none */
	EXPECT_THROW(BuildUpdate(kTable, NameList{"a", "n"}.names(), NameList{"id"}.names(), Deltas(delta, 1)),
	             std::invalid_argument);
}

TEST(BuildUpdate, DeltaColumnWithAwkwardName) {
	NameList set{"bal\"ance"};
	const bool delta[] = {true};
	EXPECT_EQ(BuildUpdate(kTable, set.names(), NameList{"id"}.names(), Deltas(delta)),
	          "UPDATE \"public\".\"t\" SET \"bal\"\"ance\" = " + DeltaOf("\"bal\"\"ance\"", 1, 3, "integer") +
	              " WHERE \"id\" = $2");
}

TEST(BuildUpdate, AllFalseDeltaIsPlainUpdate) {
	NameList set{"a", "b"};
	NameList key{"id"};
	const bool delta[] = {false, false};
	EXPECT_EQ(BuildUpdate(kTable, set.names(), key.names(), Guarded(0, delta)),
	          BuildUpdate(kTable, set.names(), key.names(), Guarded()));
}

TEST(BuildDelete, Exact) {
	EXPECT_EQ(BuildDelete(kTable, NameList{"id"}.names(), false), "DELETE FROM \"public\".\"t\" WHERE \"id\" = $1");
	EXPECT_EQ(BuildDelete(kTable, NameList{"id"}.names(), true),
	          "DELETE FROM \"public\".\"t\" WHERE \"id\" = $1 AND " + Origin(2));
	EXPECT_EQ(BuildDelete(kTable, NameList{"a", "b"}.names(), true),
	          "DELETE FROM \"public\".\"t\" WHERE \"a\" = $1 AND \"b\" = $2 AND " + Origin(3));
}

TEST(BuildLookup, ByKey) {
	/* Only xmin and the row: the version is read from xmin after FOR UPDATE settled on a row version. */
	EXPECT_EQ(BuildLookup(kTable, NameList{"id"}.names()),
	          "SELECT \"concord row\".xmin, \"concord row\" FROM \"public\".\"t\" AS \"concord row\" "
	          "WHERE \"concord row\".\"id\" = $1 LIMIT 1 FOR UPDATE OF \"concord row\"");
}

TEST(BuildLookup, OtherRowHoldingUniqueValues) {
	std::string sql = BuildLookup(kTable, NameList{"k1", "k2"}.names(), NameList{"email"}.names());
	EXPECT_NE(sql.find(" WHERE \"concord row\".\"email\" = $1 AND NOT (\"concord row\".\"k1\" = $2 AND "
	                   "\"concord row\".\"k2\" = $3) LIMIT 1 FOR UPDATE OF \"concord row\""),
	          std::string::npos)
	    << sql;
	ExpectParamsOneToN(sql, 3);
}

TEST(BuildLookup, NullsNotDistinctColumnsTestedIsNull) {
	/* Column b is NULL in the row: IS NULL there, and the key parameters keep their numbers. */
	std::string sql = BuildLookup(kTable, NameList{"id"}.names(), NameList{"a", "b", "c"}.names(), 0b010);
	EXPECT_NE(sql.find(" WHERE \"concord row\".\"a\" = $1 AND \"concord row\".\"b\" IS NULL AND "
	                   "\"concord row\".\"c\" = $3 AND NOT (\"concord row\".\"id\" = $4)"),
	          std::string::npos)
	    << sql;
	EXPECT_EQ(sql.find("$2"), std::string::npos) << sql;
}

TEST(BuildTombstoneLookup, TwoParameters) {
	std::string sql = BuildTombstoneLookup();
	EXPECT_EQ(sql.rfind("SELECT t.xmin FROM concord.tombstone AS t ", 0), 0u) << sql;
	EXPECT_NE(sql.find("WHERE t.relid = $1 AND t.key = $2"), std::string::npos) << sql;
	ExpectParamsOneToN(sql, 2);
}

TEST(BuildTruncate, Options) {
	NameList one{"\"s\".\"a\""};
	NameList two{"\"s\".\"a\"", "\"s\".\"b\""};
	EXPECT_EQ(BuildTruncate(one.names(), false, false), "TRUNCATE TABLE \"s\".\"a\"");
	EXPECT_EQ(BuildTruncate(two.names(), true, false), "TRUNCATE TABLE \"s\".\"a\", \"s\".\"b\" CASCADE");
	EXPECT_EQ(BuildTruncate(two.names(), false, true), "TRUNCATE TABLE \"s\".\"a\", \"s\".\"b\" RESTART IDENTITY");
	/* PostgreSQL's grammar wants RESTART IDENTITY before CASCADE. */
	EXPECT_EQ(BuildTruncate(one.names(), true, true), "TRUNCATE TABLE \"s\".\"a\" RESTART IDENTITY CASCADE");
}

/* ---- every shape x every awkward name ---------------------------------------------- */

const std::vector<std::string> kAwkwardNames = {"id",
                                                "Mixed Case",
                                                "with space",
                                                "semi;colon",
                                                "quote\"inside",
                                                "\"",
                                                "\"\"",
                                                "select",
                                                "from",
                                                "$1",
                                                "x\" = 1; DROP TABLE t; --",
                                                "concord row",
                                                "xmin",
                                                "a.b",
                                                "--comment",
                                                "/*c*/",
                                                "\xc3\xa9t\xc3\xa9",
                                                "trailing ",
                                                "it's"};

struct Shape {
	std::string name;
	size_t set_count;
	size_t key_count;
	bool guarded;
	bool recorded;           /* with guarded: the recorded-version check of BuildUpdate */
	std::vector<bool> delta; /* empty: no delta array */
};

class StatementShape : public ::testing::TestWithParam<Shape> {};

/* Builds the statements of one shape with every column named `name`. */
std::vector<std::string> BuildAll(const Shape &s, const std::string &name) {
	NameList set(std::vector<std::string>(s.set_count, name));
	NameList key(std::vector<std::string>(s.key_count, name));
	std::string table = QualifiedName(name, name);
	std::vector<std::string> out;
	bool delta[16] = {};
	for (size_t i = 0; i < s.delta.size(); i++)
		delta[i] = s.delta[i];
	out.push_back(BuildInsert(table, set.names(), s.guarded));
	out.push_back(BuildGuardedInsert(table, set.names(), s.guarded, key.names(), 42));
	UpdateOptions options;
	options.guarded = s.guarded;
	options.relid = 16384;
	options.recorded_check = s.recorded;
	options.delta = s.delta.empty() ? nullptr : delta;
	std::vector<std::string_view> types(s.set_count, "integer");
	options.delta_types = {types.data(), types.size()};
	out.push_back(BuildUpdate(table, set.names(), key.names(), options));
	out.push_back(BuildDelete(table, key.names(), s.guarded));
	out.push_back(BuildLookup(table, key.names()));
	out.push_back(BuildLookup(table, key.names(), set.names()));
	return out;
}

TEST_P(StatementShape, NamesNeverChangeTheSkeleton) {
	const Shape &s = GetParam();
	std::vector<std::string> reference = BuildAll(s, "plain");
	for (const std::string &name : kAwkwardNames) {
		std::vector<std::string> built = BuildAll(s, name);
		ASSERT_EQ(built.size(), reference.size());
		for (size_t i = 0; i < built.size(); i++)
			EXPECT_EQ(Skeleton(built[i]), Skeleton(reference[i])) << "name \"" << name << "\": " << built[i];
	}
}

TEST_P(StatementShape, ParametersAreOneToN) {
	const Shape &s = GetParam();
	size_t deltas = 0;
	for (bool d : s.delta)
		deltas += d ? 1 : 0;
	for (const std::string &name : {std::string("c"), std::string("$1"), std::string("\"$2\"")}) {
		std::vector<std::string> built = BuildAll(s, name);
		ExpectParamsOneToN(built[0], s.set_count);
		ExpectParamsOneToN(built[1], s.set_count + 1);
		/* a delta column's new and old values appear three times each in its CASE */
		std::map<size_t, int> uses;
		size_t old_value = s.set_count + s.key_count + (s.guarded ? kGuardParams : 0) + 1;
		for (size_t i = 0; i < s.delta.size(); i++)
			if (s.delta[i])
				uses[i + 1] = uses[old_value++] = 3;
		/* the recorded-version check reuses the guard's key bytes (its third parameter) */
		if (s.guarded && s.recorded)
			uses[s.set_count + s.key_count + 3] = 2;
		ExpectParamsOneToN(built[2], s.set_count + s.key_count + (s.guarded ? kGuardParams : 0) + deltas, uses);
		ExpectParamsOneToN(built[3], s.key_count + (s.guarded ? kGuardParams : 0));
		ExpectParamsOneToN(built[4], s.key_count);
		ExpectParamsOneToN(built[5], s.set_count + s.key_count);
	}
}

TEST_P(StatementShape, NoStatementSeparatorOutsideIdentifiers) {
	for (const std::string &name : kAwkwardNames)
		for (const std::string &sql : BuildAll(GetParam(), name))
			EXPECT_EQ(Skeleton(sql).find_first_of(";'"), std::string::npos) << sql;
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, StatementShape,
    ::testing::Values(
        Shape{"OneKey", 1, 1, false, false, {}}, Shape{"OneKeyGuarded", 1, 1, true, false, {}},
        Shape{"GuardedRecorded", 2, 1, true, true, {}}, Shape{"RecordedWithoutGuard", 2, 1, false, true, {}},
        Shape{"Composite", 3, 2, true, false, {}}, Shape{"DeltaFirst", 2, 1, true, false, {true, false}},
        Shape{"DeltaRecorded", 3, 2, true, true, {false, true, true}},
        Shape{"DeltaAll", 3, 1, false, false, {true, true, true}}, Shape{"Wide", 12, 3, true, true, {}},
        Shape{
            "WideDelta", 11, 1, true, false, {false, true, false, true, false, true, false, true, false, true, true}}),
    [](const ::testing::TestParamInfo<Shape> &info) { return info.param.name; });

} // namespace
} // namespace concord::sql

namespace concord::sql {
namespace {

TEST(BuildBatchInsert, ArraysOfEveryColumnThenTombstoneKeys) {
	EXPECT_EQ(BuildBatchInsert("\"public\".\"t\"", NameList{"id", "v"}.names(), false, NameList{"id"}.names(), 42),
	          "INSERT INTO \"public\".\"t\" (\"id\", \"v\") SELECT u.c1, u.c2 FROM ROWS FROM (pg_catalog.unnest($1), "
	          "pg_catalog.unnest($2), pg_catalog.unnest($3)) AS u(c1, c2, concord_key) WHERE NOT "
	          "concord.key_deleted(42::pg_catalog.oid, u.concord_key) ON CONFLICT (\"id\") DO NOTHING");
}

TEST(BuildBatchInsert, WithoutTombstonesNoKeyArray) {
	EXPECT_EQ(BuildBatchInsert("\"public\".\"t\"", NameList{"id", "v"}.names(), true, NameList{"id"}.names(), 0),
	          "INSERT INTO \"public\".\"t\" (\"id\", \"v\") OVERRIDING SYSTEM VALUE SELECT u.c1, u.c2 FROM ROWS FROM "
	          "(pg_catalog.unnest($1), pg_catalog.unnest($2)) AS u(c1, c2) ON CONFLICT (\"id\") DO NOTHING");
}

TEST(BuildUpdate, KeyOnlyTableStillFindsItsRow) {
	/* Nothing to set (every column is the key): a no-op assignment keeps the row count meaningful. */
	EXPECT_EQ(BuildUpdate("\"public\".\"t\"", Names{}, NameList{"a", "b"}.names(), UpdateOptions{}),
	          "UPDATE \"public\".\"t\" SET \"a\" = \"a\" WHERE \"a\" = $1 AND \"b\" = $2");
}

} // namespace
} // namespace concord::sql

namespace concord::sql {
namespace {

TEST(BuildDelete, RecordedVersionCheckOnDeltaTables) {
	/* the guard takes $2..$6; the check reuses its key bytes ($4) */
	EXPECT_EQ(BuildDelete("\"public\".\"t\"", NameList{"id"}.names(), true, 77, true),
	          "DELETE FROM \"public\".\"t\" WHERE \"id\" = $1 AND concord.written_through(xmin, $2, $3, "
	          "77::pg_catalog.oid, $4, $5, $6) AND NOT concord.version_recorded(77::pg_catalog.oid, $4, xmin)");
	/* only with the guard */
	EXPECT_EQ(BuildDelete("\"public\".\"t\"", NameList{"id"}.names(), false, 77, true),
	          "DELETE FROM \"public\".\"t\" WHERE \"id\" = $1");
}

} // namespace
} // namespace concord::sql

namespace concord::sql {
namespace {

TEST(BuildTombstoneCounters, StoreMergesIntoKnownCountersOnly) {
	NameList cols{"hits", "amount"};
	NameList types{"bigint", "pg_catalog.money"};
	/* per column: new, old, name — hits $3, $4, $5; amount $6, $7, $8 */
	EXPECT_EQ(BuildTombstoneCounters(cols.names(), types.names(), true),
	          "UPDATE concord.tombstone AS t SET counters = (SELECT t.counters || CASE WHEN t.counters ? $5 THEN "
	          "pg_catalog.jsonb_build_object($5, " +
	              DeltaOf("l.\"hits\"", 3, 4, "bigint") +
	              ") ELSE pg_catalog.jsonb_build_object() END || CASE WHEN t.counters ? $8 THEN "
	              "pg_catalog.jsonb_build_object($8, " +
	              DeltaOf("l.\"amount\"", 6, 7, "pg_catalog.money") +
	              ") ELSE pg_catalog.jsonb_build_object() END FROM pg_catalog.jsonb_to_record(t.counters) AS "
	              "l(\"hits\" bigint, \"amount\" pg_catalog.money)) WHERE t.relid = $1 AND t.key = $2 AND t.counters "
	              "IS NOT NULL");
}

TEST(BuildTombstoneCounters, SelectMergesKnownCountersAndTakesTheNewValueOtherwise) {
	NameList cols{"hits"};
	NameList types{"bigint"};
	NameList column_types{"public.nonneg"};
	/* read as the base type, returned as the column's own (a domain's checks apply) */
	EXPECT_EQ(BuildTombstoneCounters(cols.names(), types.names(), false, column_types.names()),
	          "SELECT CAST(CASE WHEN t.counters ? $5 THEN " + DeltaOf("l.\"hits\"", 3, 4, "bigint") +
	              " ELSE $3 END AS public.nonneg) FROM concord.tombstone AS t, pg_catalog.jsonb_to_record(t.counters) "
	              "AS l(\"hits\" bigint) WHERE t.relid = $1 AND t.key = $2 AND t.counters IS NOT NULL");
}

TEST(BuildTombstoneCounters, EveryColumnNeedsItsType) {
	EXPECT_THROW(BuildTombstoneCounters(NameList{"a", "b"}.names(), NameList{"integer"}.names(), true),
	             std::invalid_argument);
	NameList two{"integer", "integer"};
	/* the SELECT also needs each column's own type */
	EXPECT_THROW(BuildTombstoneCounters(NameList{"a", "b"}.names(), two.names(), false, NameList{"integer"}.names()),
	             std::invalid_argument);
}

TEST(BuildTombstoneCounters, NamesNeverChangeTheSkeletonAndParametersAreOneToN) {
	for (bool store : {true, false}) {
		NameList types{"integer", "integer", "integer"};
		std::string reference =
		    BuildTombstoneCounters(NameList{"a", "b", "c"}.names(), types.names(), store, types.names());
		/* relid and key once; each new and old value three times in its CASE (a new value once more in the
		 * SELECT's fallback); each name twice when stored, once when selected */
		std::map<size_t, int> uses;
		for (size_t col = 0; col < 3; col++) {
			size_t first = 3 + kTombstoneCounterParams * col;
			uses[first] = store ? 3 : 4;
			uses[first + 1] = 3;
			uses[first + 2] = store ? 2 : 1;
		}
		ExpectParamsOneToN(reference, 2 + 3 * kTombstoneCounterParams, uses);
		for (const std::string &name : kAwkwardNames) {
			NameList cols{name, name, name};
			std::string sql = BuildTombstoneCounters(cols.names(), types.names(), store, types.names());
			EXPECT_EQ(Skeleton(sql), Skeleton(reference)) << sql;
			EXPECT_EQ(Skeleton(sql).find_first_of(";'"), std::string::npos) << sql;
		}
	}
}

TEST(BuildTombstoneLookup, LockedForAWrite) {
	EXPECT_EQ(BuildTombstoneLookup(true), BuildTombstoneLookup() + " FOR UPDATE OF t");
}

} // namespace
} // namespace concord::sql
