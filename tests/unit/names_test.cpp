/*
 * names_test.cpp — node names and the slot/origin names derived from them
 * (common/naming/names.{hpp,cpp}).
 */
#include "common/naming/names.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace concord::naming {
namespace {

/* ---- NodeNameProblem --------------------------------------------------------- */

struct NameCase {
	std::string label;
	std::string name;
	const char *problem; /* nullptr: valid */
};

const char *const kEmpty = "A node name must not be empty";
const char *const kTooLong = "A node name must be at most 24 characters long";
const char *const kBadStart = "A node name must start with a lowercase letter";
const char *const kBadChar = "A node name may contain only lowercase letters, digits and underscores";
const char *const kBadUnderscores = "A node name may not contain two underscores in a row or end with an underscore";

class NodeName : public ::testing::TestWithParam<NameCase> {};

TEST_P(NodeName, Problem) {
	const NameCase &c = GetParam();
	const char *problem = NodeNameProblem(c.name);
	if (c.problem == nullptr)
		EXPECT_EQ(problem, nullptr) << "\"" << c.name << "\" rejected: " << problem;
	else
		EXPECT_STREQ(problem, c.problem) << "\"" << c.name << "\"";
}

INSTANTIATE_TEST_SUITE_P(
    Table, NodeName,
    ::testing::Values(NameCase{"SingleLetter", "a", nullptr}, NameCase{"LetterDigit", "n1", nullptr},
                      NameCase{"Underscores", "node_1_a", nullptr}, NameCase{"TrailingUnderscore", "z9_", kBadUnderscores},
                      NameCase{"DoubleUnderscore", "a__b", kBadUnderscores},
                      NameCase{"MaxLength", std::string(24, 'x'), nullptr},
                      NameCase{"AllDigitsAfterLetter", "a01234567890123456789012", nullptr},
                      NameCase{"Empty", "", kEmpty}, NameCase{"TooLong", std::string(25, 'x'), kTooLong},
                      NameCase{"TooLongAndUpperCase", std::string(25, 'X'), kTooLong},
                      NameCase{"StartsWithDigit", "1abc", kBadStart}, NameCase{"StartsWithUnderscore", "_a", kBadStart},
                      NameCase{"StartsUpperCase", "Abc", kBadStart}, NameCase{"OnlyUnderscore", "_", kBadStart},
                      NameCase{"UpperCaseInside", "aBc", kBadChar}, NameCase{"Hyphen", "a-b", kBadChar},
                      NameCase{"Space", "a b", kBadChar}, NameCase{"Dot", "a.b", kBadChar},
                      NameCase{"Semicolon", "a;drop", kBadChar}, NameCase{"Quote", "a\"b", kBadChar},
                      NameCase{"EmbeddedNul", std::string("a\0b", 3), kBadChar},
                      NameCase{"TrailingNul", std::string("ab\0", 3), kBadChar},
                      NameCase{"Utf8", "caf\xc3\xa9", kBadChar}, NameCase{"Utf8Start", "\xc3\xa9t\xc3\xa9", kBadStart},
                      NameCase{"Percent", "a%", kBadChar}, NameCase{"Newline", "a\n", kBadChar}),
    [](const ::testing::TestParamInfo<NameCase> &info) { return info.param.label; });

/* ---- LinkName / ProviderSlotPrefix / ProviderOfLink --------------------------- */

TEST(LinkNames, Layout) {
	EXPECT_EQ(LinkName("n1", "n2"), "concord_n1__n2");
	EXPECT_EQ(LinkName("a_b", "c"), "concord_a_b__c");
	EXPECT_EQ(ProviderSlotPrefix("n1"), "concord_n1__");
	EXPECT_EQ(kPrefix, "concord_");
}

TEST(LinkNames, UnderscoredNamesNeverShareALink) {
	/* With a single "_" separator both of these were concord_a_b_b. */
	EXPECT_NE(LinkName("a", "b_b"), LinkName("a_b", "b"));
	EXPECT_EQ(ProviderOfLink(LinkName("a", "b_b"), "b"), "");
	EXPECT_EQ(ProviderOfLink(LinkName("a_b", "b"), "b_b"), "");
	EXPECT_EQ(ProviderOfLink(LinkName("a_b", "b"), "b"), "a_b");
}

TEST(LinkNames, LongestLinkNameFitsASlotName) {
	/* PostgreSQL slot and origin names hold at most NAMEDATALEN - 1 = 63 bytes. */
	std::string longest = LinkName(std::string(kMaxNodeNameLength, 'p'), std::string(kMaxNodeNameLength, 's'));
	EXPECT_EQ(longest.size(), 58u);
	EXPECT_LE(longest.size(), 63u);
}

struct Pair {
	std::string provider;
	std::string subscriber;
};

class LinkRoundTrip : public ::testing::TestWithParam<Pair> {};

TEST_P(LinkRoundTrip, ProviderIsRecovered) {
	const Pair &p = GetParam();
	ASSERT_EQ(NodeNameProblem(p.provider), nullptr);
	ASSERT_EQ(NodeNameProblem(p.subscriber), nullptr);
	std::string link = LinkName(p.provider, p.subscriber);
	EXPECT_EQ(ProviderOfLink(link, p.subscriber), p.provider);
	/* Every slot on the provider starts with its prefix... */
	EXPECT_EQ(link.rfind(ProviderSlotPrefix(p.provider), 0), 0u);
	/* ...and the link is not mistaken for one into a different subscriber. */
	EXPECT_EQ(ProviderOfLink(link, p.subscriber + "x"), "");
}

INSTANTIATE_TEST_SUITE_P(Pairs, LinkRoundTrip,
                         ::testing::Values(Pair{"n1", "n2"}, Pair{"n2", "n1"}, Pair{"a", "b"}, Pair{"a_b", "c"},
                                           Pair{"a", "b_c"}, Pair{"x_1_y", "z_2"}, Pair{"same", "same"},
                                           Pair{"p_q", "s_t_u"}, Pair{std::string(24, 'p'), std::string(24, 's')},
                                           Pair{"a", std::string(24, 'b')}));

struct NotALink {
	std::string label;
	std::string link;
	std::string subscriber;
};

class ProviderOfLinkRejects : public ::testing::TestWithParam<NotALink> {};

TEST_P(ProviderOfLinkRejects, ReturnsEmpty) {
	const NotALink &c = GetParam();
	EXPECT_EQ(ProviderOfLink(c.link, c.subscriber), "") << c.link << " for subscriber " << c.subscriber;
}

INSTANTIATE_TEST_SUITE_P(Table, ProviderOfLinkRejects,
                         ::testing::Values(NotALink{"OtherPrefix", "pglogical_a__b", "b"},
                                           NotALink{"NoPrefix", "a__b", "b"}, NotALink{"PrefixCase", "Concord_a__b", "b"},
                                           NotALink{"OtherSubscriber", "concord_a__b", "c"},
                                           NotALink{"SubscriberOnlyASuffix", "concord_a__bb", "b"},
                                           NotALink{"EmptyProvider", "concord___b", "b"},
                                           NotALink{"OnlyPrefix", "concord_", "b"}, NotALink{"Empty", "", "b"},
                                           NotALink{"PrefixWithoutProvider", "concord__b", "b"},
                                           NotALink{"UpperCaseProvider", "concord_A__b", "b"},
                                           NotALink{"ProviderStartsWithDigit", "concord_1a__b", "b"},
                                           NotALink{"ProviderEndsWithUnderscore", "concord_a___b", "b"},
                                           NotALink{"ProviderWithHyphen", "concord_a-x__b", "b"},
                                           NotALink{"ProviderTooLong", "concord_" + std::string(25, 'p') + "__b", "b"},
                                           NotALink{"SingleUnderscoreSeparator", "concord_a_b", "b"},
                                           NotALink{"MissingSeparator", "concord_ab", "b"}),
                         [](const ::testing::TestParamInfo<NotALink> &info) { return info.param.label; });

} // namespace
} // namespace concord::naming
