/*
 * secret_guard.cpp — password scrubbing for error reports; see secret_guard.hpp.
 */
#include "extension/sqlapi/secret_guard.hpp"

namespace concord::sqlapi {

char *ScrubText(const char *text, const char *secret) {
	if (text == nullptr)
		return nullptr;
	return pg::ToPalloc([&] { return conninfo::Scrub(text, secret); });
}

} // namespace concord::sqlapi
