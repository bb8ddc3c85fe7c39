/*
 * string_info_sink.hpp — lets concord's protocol::Writer append to a StringInfo.
 * Owns nothing, so an out-of-memory ERROR while appending unwinds no C++ object.
 */
#pragma once

extern "C" {
#include "postgres.h"

#include "lib/stringinfo.h"
}

#include <cstddef>

namespace concord::pg {

struct StringInfoSink {
	StringInfo buf;
	void Append(const char *data, size_t len) { appendBinaryStringInfo(buf, data, static_cast<int>(len)); }
	size_t size() const { return static_cast<size_t>(buf->len); }
	void Patch(size_t offset, const char *data, size_t len) { memcpy(buf->data + offset, data, len); }
};

} // namespace concord::pg
