/*
 * backoff.hpp — restart delay after consecutive failures (pure C++).
 *
 * Delay doubles from base_ms per consecutive failure and is capped at max_ms,
 * so a fixed problem is picked up within max_ms.  Zero failures: no delay.
 */
#pragma once

#include <cstdint>

namespace concord::apply {

inline int64_t BackoffDelayMs(int failures, int64_t base_ms, int64_t max_ms) {
	if (failures <= 0)
		return 0;
	int64_t delay = base_ms;
	for (int i = 1; i < failures && delay < max_ms; i++)
		delay *= 2;
	return delay < max_ms ? delay : max_ms;
}

} // namespace concord::apply
