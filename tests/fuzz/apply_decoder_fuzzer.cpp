/*
 * apply_decoder_fuzzer.cpp — libFuzzer target: a hostile peer's replication
 * stream through the apply worker's decoding.
 *
 * The input is a stream of CopyData frames (see SplitFrames in
 * support/messages.hpp).  Each frame is copied into a heap block of exactly
 * its size and handed to ApplySession, which calls ParseFrame and the Reader
 * exactly as worker/apply/ does: message type dispatch, BEGIN/COMMIT in and
 * out of a transaction, RELATION header and columns, INSERT/UPDATE/DELETE
 * with every old-tuple kind and tuples of any column count, TRUNCATE.  The
 * stream stops at the first error, as the worker exits there.
 *
 * Oracles, beyond ASan and UBSan:
 *   - every failure carries a message; nothing is read outside the frame;
 *   - a message the worker applies is well-formed to the stateless decoder,
 *     re-encodes with Writer to its own bytes, and DescribeMessage agrees;
 *   - a message the worker calls malformed fails the stateless decoder at the
 *     same offset with the same error.
 */
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "tests/fuzz/support/apply_session.hpp"
#include "tests/fuzz/support/messages.hpp"

using concord::fuzz::ApplySession;
using concord::fuzz::Decode;
using concord::fuzz::Decoded;
using concord::fuzz::ExactBuffer;
using concord::fuzz::Outcome;
using concord::fuzz::Verdict;

namespace {

void CheckMessage(const Outcome &out) {
	Decoded d = Decode(out.payload, out.payload_len);
	concord::fuzz::CheckDescribeAgrees(out.payload, out.payload_len, d);
	switch (out.verdict) {
	case Verdict::kApplied:
		FUZZ_CHECK(d.ok, "the worker applied a message the decoder rejects");
		break;
	case Verdict::kMalformed:
		FUZZ_CHECK(!d.ok, "the worker called a well-formed message malformed");
		FUZZ_CHECK(std::strcmp(d.error, out.reader_error) == 0 && d.error_offset == out.reader_offset,
		           "the worker and the decoder fail differently");
		break;
	case Verdict::kRejected:
		break;
	}
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	ApplySession session;
	for (std::string_view bytes : concord::fuzz::SplitFrames(data, size)) {
		ExactBuffer frame(bytes);
		Outcome out = session.HandleFrame(frame.data(), frame.size());
		if (out.is_message)
			CheckMessage(out);
		if (out.verdict != Verdict::kApplied) {
			FUZZ_CHECK(!out.error.empty() && session.failed(), "a failure without an error");
			break;
		}
	}
	return 0;
}
