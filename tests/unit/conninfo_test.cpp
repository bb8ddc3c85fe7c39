/*
 * conninfo_test.cpp — checking and redacting connection strings
 * (common/conninfo/conninfo.{hpp,cpp}).
 *
 * What must hold: Redact keeps every option but shows passwords as
 * "********", never the password text itself, and its output parses back to
 * the same options; ParseProblem reports libpq's complaint without the
 * password; Scrub leaves no part of any occurrence of the secret behind.
 */
#include "common/conninfo/conninfo.hpp"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <map>
#include <string>
#include <vector>

namespace concord::conninfo {
namespace {

const std::string kMask = "********";

/* keyword -> value of every option libpq set from dsn (defaults excluded where unset). */
std::map<std::string, std::string> Options(const std::string &dsn) {
	std::map<std::string, std::string> out;
	char *err = nullptr;
	PQconninfoOption *options = PQconninfoParse(dsn.c_str(), &err);
	if (err != nullptr) {
		ADD_FAILURE() << "\"" << dsn << "\" does not parse: " << err;
		PQfreemem(err);
	}
	if (options == nullptr)
		return out;
	for (const PQconninfoOption *o = options; o->keyword != nullptr; o++)
		if (o->val != nullptr)
			out[o->keyword] = o->val;
	PQconninfoFree(options);
	return out;
}

/* ---- Redact ------------------------------------------------------------------ */

struct RedactCase {
	std::string name;
	std::string dsn;
	std::vector<std::string> secrets; /* texts that must not appear in the output */
};

class Redaction : public ::testing::TestWithParam<RedactCase> {};

TEST_P(Redaction, HidesEverySecret) {
	const RedactCase &c = GetParam();
	std::string redacted = Redact(c.dsn);
	for (const std::string &secret : c.secrets)
		EXPECT_EQ(redacted.find(secret), std::string::npos) << "\"" << secret << "\" shows in: " << redacted;
}

TEST_P(Redaction, KeepsEveryOtherOption) {
	const RedactCase &c = GetParam();
	std::string redacted = Redact(c.dsn);
	ASSERT_EQ(ParseProblem(redacted), "") << redacted;
	std::map<std::string, std::string> expected = Options(c.dsn);
	for (const char *secret_key : {"password", "sslpassword"})
		if (expected.count(secret_key) != 0)
			expected[secret_key] = kMask;
	EXPECT_EQ(Options(redacted), expected) << redacted;
}

TEST_P(Redaction, IsIdempotent) {
	std::string once = Redact(GetParam().dsn);
	EXPECT_EQ(Redact(once), once);
}

INSTANTIATE_TEST_SUITE_P(
    Table, Redaction,
    ::testing::Values(
        RedactCase{"NoPassword", "host=db.example port=5433 dbname=app user=alice", {}},
        RedactCase{"KeyValuePassword",
                   "host=db.example port=5433 dbname=app user=alice password=s3cr3t-Pa55",
                   {"s3cr3t-Pa55", "s3cr3t"}},
        RedactCase{
            "QuotedPasswordWithSpaces", "host=h password='correct horse battery'", {"correct horse battery", "horse"}},
        RedactCase{"PasswordWithQuoteAndBackslash",
                   "host=h password='it\\'s a \\\\secret'",
                   {"it's a \\secret", "it\\'s", "secret"}},
        RedactCase{"PasswordLooksLikeAnOption", "host=h password='x host=evil'", {"evil"}},
        RedactCase{"PasswordIsTheMask", "host=h password=********", {}},
        RedactCase{"EmptyPassword", "host=h password=''", {}},
        RedactCase{"RepeatedPassword", "password=first host=h password=second", {"first", "second"}},
        RedactCase{"SslPassword", "host=h sslpassword=keypass", {"keypass"}},
        RedactCase{"BothPasswords", "host=h password=one-pw sslpassword=two-pw", {"one-pw", "two-pw"}},
        RedactCase{"MultiHost", "host=a,b port=1,2 password=pw123 target_session_attrs=read-write", {"pw123"}},
        RedactCase{"ValueWithQuoteInHost", "host='we\\'ird' password=zz9", {"zz9"}},
        RedactCase{"UriUserPassword", "postgresql://alice:hunter2@db.example:5432/app?sslmode=disable", {"hunter2"}},
        RedactCase{"UriPercentEncodedPassword",
                   "postgresql://alice:p%40ss%2Fw0rd@h/app",
                   {"p@ss/w0rd", "p%40ss%2Fw0rd", "w0rd"}},
        RedactCase{"UriPasswordParameter", "postgres://h/app?password=zxcvbn&application_name=x", {"zxcvbn"}},
        RedactCase{"UriNoPassword", "postgresql://alice@h:5432/app", {}}, RedactCase{"Empty", "", {}}),
    [](const ::testing::TestParamInfo<RedactCase> &info) { return info.param.name; });

TEST(Redact, KeyValueLayout) {
	EXPECT_EQ(Redact("host=h port=5432 user=u password=x dbname=d"),
	          "user='u' password='********' dbname='d' host='h' port='5432'");
	EXPECT_EQ(Redact("postgresql://alice:hunter2@h/app"), "user='alice' password='********' dbname='app' host='h'");
	EXPECT_EQ(Redact(""), "");
}

TEST(Redact, EscapesQuotesAndBackslashes) { EXPECT_EQ(Redact("host='a\\'b\\\\c'"), "host='a\\'b\\\\c'"); }

TEST(Redact, UnparsableIsReplacedEntirely) {
	for (const std::string dsn : {"host=h password=hunter2 bogus", "password=hunter2 foo=bar", "password='hunter2",
	                              "postgresql://u:hunter2@[::1", "postgresql://u:hunter2@h?nope=1"}) {
		EXPECT_EQ(Redact(dsn), "(unparsable connection string)") << dsn;
	}
}

/* ---- ParseProblem -------------------------------------------------------------- */

struct ProblemCase {
	std::string name;
	std::string dsn;
	std::string problem; /* exact; empty when the DSN is valid */
};

class Problem : public ::testing::TestWithParam<ProblemCase> {};

TEST_P(Problem, MatchesLibpq) {
	const ProblemCase &c = GetParam();
	std::string problem = ParseProblem(c.dsn);
	EXPECT_EQ(problem, c.problem);
	if (!problem.empty()) {
		EXPECT_NE(problem.back(), '\n');
		EXPECT_NE(problem.back(), ' ');
	}
}

INSTANTIATE_TEST_SUITE_P(
    Table, Problem,
    ::testing::Values(
        ProblemCase{"Empty", "", ""}, ProblemCase{"KeyValue", "host=h port=5432 dbname=d", ""},
        ProblemCase{"SpacesAroundEquals", "host = h", ""}, ProblemCase{"QuotedValue", "dbname='my db'", ""},
        ProblemCase{"Uri", "postgresql://u:p@h:5432/db?sslmode=disable", ""},
        ProblemCase{"ShortUriScheme", "postgres://h", ""}, ProblemCase{"BareUri", "postgresql://", ""},
        ProblemCase{"MissingEquals", "host", "missing \"=\" after \"host\" in connection info string"},
        ProblemCase{"UnknownKeyword", "foo=bar", "invalid connection option \"foo\""},
        ProblemCase{"UnterminatedQuote", "host='h", "unterminated quoted string in connection info string"},
        ProblemCase{"UnknownUriParameter", "postgresql://h?foo=bar", "invalid URI query parameter: \"foo\""},
        ProblemCase{"UriParameterWithoutValue", "postgresql://h:5432/db?sslmode",
                    "missing key/value separator \"=\" in URI query parameter: \"sslmode\""},
        ProblemCase{"UnclosedIpv6", "postgresql://[::1",
                    "end of string reached when looking for matching \"]\" in IPv6 host address in URI: "
                    "\"postgresql://[::1\""},
        /* libpq quotes the URI or the bad token: the password in it must be masked. */
        ProblemCase{"UnclosedIpv6WithPassword", "postgresql://u:hunter2@[::1",
                    "end of string reached when looking for matching \"]\" in IPv6 host address in URI: "
                    "\"postgresql://u:********@[::1\""},
        ProblemCase{"BadPercentTokenInPassword", "postgresql://u:hun%zzter2@h",
                    "invalid percent-encoded token: \"********\""},
        ProblemCase{"BadCharacterAfterHostWithPassword", "postgresql://u:hunter2@[::1]x/db",
                    "unexpected character \"x\" at position 29 in URI (expected \":\" or \"/\"): "
                    "\"postgresql://u:********@[::1]x/db\""},
        ProblemCase{"BadPercentTokenInPasswordParameter", "postgresql://h/db?password=pw%zz",
                    "invalid percent-encoded token: \"********\""},
        ProblemCase{"PasswordParameterInEchoedUri", "postgresql://[::1/db?password=topsecret",
                    "end of string reached when looking for matching \"]\" in IPv6 host address in URI: "
                    "\"postgresql://[::1/db?password=********\""}),
    [](const ::testing::TestParamInfo<ProblemCase> &info) { return info.param.name; });

/* ---- PasswordOf / HasPassword --------------------------------------------------- */

struct PasswordCase {
	std::string name;
	std::string dsn;
	std::string password;
};

class Password : public ::testing::TestWithParam<PasswordCase> {};

TEST_P(Password, IsExtracted) {
	const PasswordCase &c = GetParam();
	EXPECT_EQ(PasswordOf(c.dsn), c.password);
	EXPECT_EQ(HasPassword(c.dsn), !c.password.empty());
}

INSTANTIATE_TEST_SUITE_P(Table, Password,
                         ::testing::Values(PasswordCase{"None", "host=h", ""}, PasswordCase{"Empty", "", ""},
                                           PasswordCase{"KeyValue", "host=h password=s3cr3t", "s3cr3t"},
                                           PasswordCase{"Quoted", "password='a b\\'c'", "a b'c"},
                                           PasswordCase{"EmptyValue", "host=h password=''", ""},
                                           PasswordCase{"LastOneWins", "password=first password=second", "second"},
                                           PasswordCase{"SslPasswordIsNotThePassword", "host=h sslpassword=kp", ""},
                                           PasswordCase{"Uri", "postgresql://alice:hunter2@h/db", "hunter2"},
                                           PasswordCase{"UriPercentEncoded", "postgresql://alice:p%40ss@h/db", "p@ss"},
                                           PasswordCase{"UriParameter", "postgresql://h/db?password=zxcvbn", "zxcvbn"},
                                           PasswordCase{"UriWithoutPassword", "postgresql://alice@h/db", ""},
                                           PasswordCase{"Unparsable", "password=hunter2 bogus", ""}),
                         [](const ::testing::TestParamInfo<PasswordCase> &info) { return info.param.name; });

/* ---- Scrub ------------------------------------------------------------------------ */

struct ScrubCase {
	std::string name;
	std::string text;
	std::string secret;
	std::string expected;
};

class Scrubbing : public ::testing::TestWithParam<ScrubCase> {};

TEST_P(Scrubbing, MasksEveryOccurrence) {
	const ScrubCase &c = GetParam();
	EXPECT_EQ(Scrub(c.text, c.secret), c.expected);
}

INSTANTIATE_TEST_SUITE_P(
    Table, Scrubbing,
    ::testing::Values(ScrubCase{"Typical", "password authentication failed: s3cr3t", "s3cr3t",
                                "password authentication failed: ********"},
                      ScrubCase{"EmptySecretChangesNothing", "text with nothing", "", "text with nothing"},
                      ScrubCase{"EmptyText", "", "x", ""}, ScrubCase{"NotPresent", "abc", "xyz", "abc"},
                      ScrubCase{"WholeText", "s3cr3t", "s3cr3t", "********"},
                      ScrubCase{"AtStartAndEnd", "pw middle pw", "pw", "******** middle ********"},
                      ScrubCase{"Repeated", "s s s", "s", "******** ******** ********"},
                      ScrubCase{"AdjacentOccurrences", "abab", "ab", "****************"},
                      ScrubCase{"SecretLongerThanText", "ab", "abc", "ab"},
                      ScrubCase{"StarSecret", "a*b", "*", "a********b"},
                      ScrubCase{"StarsSecret", "x**y", "**", "x********y"},
                      ScrubCase{"SecretIsTheMask", "x********y", "********", "x********y"},
                      ScrubCase{"OverlappingOccurrences", "ababab", "abab", "********"},
                      ScrubCase{"OverlappingStars", "***", "**", "********"},
                      ScrubCase{"OverlappingRun", "[aaaaa]", "aa", "[********]"},
                      ScrubCase{"OverlapThenSeparate", "ababa-aba", "aba", "********-********"},
                      ScrubCase{"PrefixOfSecretStays", "abcab", "abc", "********ab"},
                      ScrubCase{"RegexCharacters", "a.*b and a.*b", ".*", "a********b and a********b"},
                      ScrubCase{"Utf8Secret", "p\xc3\xa4ss=p\xc3\xa4ss", "p\xc3\xa4ss", "********=********"},
                      ScrubCase{"EmbeddedNul", std::string("a\0b\0", 4), std::string("\0", 1), "a********b********"}),
    [](const ::testing::TestParamInfo<ScrubCase> &info) { return info.param.name; });

TEST(Scrub, NoCharacterOfAnOccurrenceSurvives) {
	/* For each position covered by some occurrence of the secret, the output must not keep that text. */
	const std::vector<std::pair<std::string, std::string>> cases = {
	    {"xababababy", "abab"}, {"aaaaaaa", "aaa"}, {"1212121", "121"}, {"**x**", "*x*"}, {"zzzz", "zz"}};
	for (const auto &[text, secret] : cases) {
		std::string out = Scrub(text, secret);
		/* Remove the masks: what is left must be only the uncovered characters. */
		std::string left;
		for (size_t i = 0; i < out.size();) {
			if (out.compare(i, kMask.size(), kMask) == 0)
				i += kMask.size();
			else
				left.push_back(out[i++]);
		}
		std::vector<bool> covered(text.size(), false);
		for (size_t at = text.find(secret); at != std::string::npos; at = text.find(secret, at + 1))
			for (size_t k = at; k < at + secret.size(); k++)
				covered[k] = true;
		std::string uncovered;
		for (size_t i = 0; i < text.size(); i++)
			if (!covered[i])
				uncovered.push_back(text[i]);
		EXPECT_EQ(left, uncovered) << "text \"" << text << "\", secret \"" << secret << "\" gave " << out;
	}
}

} // namespace
} // namespace concord::conninfo
