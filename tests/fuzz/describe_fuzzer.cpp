/*
 * describe_fuzzer.cpp — libFuzzer target: DescribeMessage over arbitrary
 * bytes (one message, type byte first).
 *
 * DescribeMessage renders whatever a peer sent into logs and test output, so
 * it must survive anything.  Beyond ASan and UBSan, its verdict must match the
 * stateless Reader-based decoder's (support/messages.hpp): accepted messages
 * are named by their type and re-encode to their own bytes, malformed ones
 * are reported with the decoder's error and offset.
 */
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tests/fuzz/support/messages.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	concord::fuzz::ExactBuffer buf(std::string_view(reinterpret_cast<const char *>(data), size));
	concord::fuzz::Decoded d = concord::fuzz::Decode(buf.data(), buf.size());
	concord::fuzz::CheckDescribeAgrees(buf.data(), buf.size(), d);
	return 0;
}
