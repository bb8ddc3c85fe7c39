/*
 * backoff_test.cpp — restart delay after consecutive failures (common/apply/backoff.hpp).
 *
 * The delay doubles from the base per consecutive failure, is capped at the
 * maximum (also when the base alone exceeds it), and is zero without failures.
 */
#include "common/apply/backoff.hpp"

#include <gtest/gtest.h>

#include <climits>
#include <cstdint>
#include <string>

namespace concord::apply {
namespace {

struct BackoffCase {
	std::string name;
	int failures;
	int64_t base_ms;
	int64_t max_ms;
	int64_t expected;
};

class Backoff : public ::testing::TestWithParam<BackoffCase> {};

TEST_P(Backoff, Delay) {
	const BackoffCase &c = GetParam();
	EXPECT_EQ(BackoffDelayMs(c.failures, c.base_ms, c.max_ms), c.expected)
	    << "failures " << c.failures << ", base " << c.base_ms << ", max " << c.max_ms;
}

INSTANTIATE_TEST_SUITE_P(
    Table, Backoff,
    ::testing::Values(
        BackoffCase{"NoFailures", 0, 500, 10000, 0}, BackoffCase{"NegativeFailures", -3, 500, 10000, 0},
        BackoffCase{"FirstFailureWaitsBase", 1, 500, 10000, 500}, BackoffCase{"SecondDoubles", 2, 500, 10000, 1000},
        BackoffCase{"ThirdDoublesAgain", 3, 500, 10000, 2000}, BackoffCase{"Fourth", 4, 500, 10000, 4000},
        BackoffCase{"Fifth", 5, 500, 10000, 8000}, BackoffCase{"SixthHitsCap", 6, 500, 10000, 10000},
        BackoffCase{"StaysAtCap", 7, 500, 10000, 10000}, BackoffCase{"ManyFailuresStayAtCap", 1000, 500, 10000, 10000},
        BackoffCase{"IntMaxFailuresStayAtCap", INT_MAX, 500, 10000, 10000},
        BackoffCase{"CapNotAPowerOfTwoOfBase", 3, 500, 1500, 1500},
        BackoffCase{"DoublingLandsExactlyOnCap", 3, 250, 1000, 1000},
        BackoffCase{"BaseEqualsCap", 1, 10000, 10000, 10000},
        BackoffCase{"BaseAboveCapIsCapped", 1, 20000, 10000, 10000},
        BackoffCase{"BaseAboveCapLaterFailures", 5, 20000, 10000, 10000}, BackoffCase{"GucMinimums", 2, 10, 10, 10},
        BackoffCase{"GucMaximums", 3, 3600000, 3600000, 3600000}, BackoffCase{"ZeroBase", 5, 0, 10000, 0},
        BackoffCase{"ZeroBaseManyFailures", INT_MAX, 0, 10000, 0}, BackoffCase{"ZeroCap", 3, 500, 0, 0},
        BackoffCase{"NearInt64Max", 200, 1, INT64_MAX, INT64_MAX},
        BackoffCase{"JustBelowOverflow", 63, 1, INT64_MAX, INT64_C(1) << 62}),
    [](const ::testing::TestParamInfo<BackoffCase> &info) { return info.param.name; });

TEST(BackoffShape, NeverDecreasesAndNeverExceedsCap) {
	for (int64_t base : {1, 10, 500, 7000}) {
		for (int64_t cap : {10, 999, 10000, 3600000}) {
			int64_t previous = 0;
			for (int failures = 0; failures < 80; failures++) {
				int64_t delay = BackoffDelayMs(failures, base, cap);
				EXPECT_GE(delay, previous) << failures << " failures, base " << base << ", cap " << cap;
				EXPECT_LE(delay, cap);
				if (failures > 0) {
					EXPECT_GT(delay, 0);
					/* Below the cap every step is an exact doubling. */
					if (failures > 1 && delay < cap) {
						EXPECT_EQ(delay, 2 * previous);
					}
				}
				previous = delay;
			}
			EXPECT_EQ(previous, cap) << "base " << base << " never reached cap " << cap;
		}
	}
}

} // namespace
} // namespace concord::apply
