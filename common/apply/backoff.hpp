/*
 * backoff.hpp — restart delay after consecutive failures (pure C++).
 *
 * Delay doubles from base_ms per consecutive failure and is capped at max_ms,
 * so a fixed problem is picked up within max_ms.  Zero failures (or a
 * non-positive base or cap): no delay.
 */
#pragma once

#include <cstdint>

namespace concord::apply {

inline int64_t BackoffDelayMs(int failures, int64_t base_ms, int64_t max_ms) {
	if (failures <= 0 || base_ms <= 0 || max_ms <= 0)
		return 0;
	int64_t delay = base_ms < max_ms ? base_ms : max_ms;
	/* At most ~63 rounds: delay >= 1 doubles each time; never doubles past max_ms (no overflow). */
	for (int i = 1; i < failures && delay < max_ms; i++)
		delay = delay > max_ms / 2 ? max_ms : delay * 2;
	return delay;
}

} // namespace concord::apply
