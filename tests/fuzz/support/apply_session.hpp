/*
 * apply_session.hpp — the apply worker's consumption of a peer's stream,
 * without PostgreSQL (test code only).
 *
 * ApplySession makes the same codec calls, in the same order, with the same
 * checks between them, as worker/apply/apply_main.cpp (HandleFrame,
 * HandleMessage), apply_xact.cpp (HandleBegin, HandleCommit, HandleChange),
 * apply_change.cpp (StartChange, ApplyInsert/Update/Delete/Truncate),
 * tuple_values.cpp (ReadTuple, CheckReader) and relation_map.cpp
 * (StoreRelation, LookupRelation, the key check of BuildTarget).  Where the
 * worker would ereport(ERROR), the session records the error and stops, as
 * the worker exits and reconnects; everything the worker does with the
 * database (SPI, input functions, catalog lookups) is left out, but every
 * byte it would hand to PostgreSQL is copied, so ASan sees the read.  The
 * session never skips a transaction (the worker then reads less, not more),
 * and batched inserts (ReadTupleText) share ReadTuple's decoding, ReadValues.
 *
 * Keep it in step with the worker: a change to how the worker reads a
 * message belongs here too, or the fuzzer tests a decoder nobody runs.
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

namespace concord::fuzz {

enum class Verdict {
	kApplied,   /* frame consumed; the worker goes on */
	kMalformed, /* ParseFrame or the Reader rejected the bytes: a protocol error */
	kRejected,  /* well-formed bytes the worker refuses (state, relation, column count) */
};

struct Outcome {
	Verdict verdict = Verdict::kApplied;
	std::string error;                  /* the gist of the worker's errmsg; empty when applied */
	const char *reader_error = nullptr; /* kMalformed from the Reader: its static description */
	size_t reader_offset = 0;
	bool is_message = false;       /* an XLogData frame whose payload was decoded */
	const char *payload = nullptr; /* that payload (inside the frame given) */
	size_t payload_len = 0;
};

class ApplySession {
public:
	/* One CopyData frame, as HandleFrame.  After a failure the session takes no more frames. */
	Outcome HandleFrame(const char *data, size_t len);

	bool failed() const { return failed_; }
	bool in_remote_xact() const { return in_remote_xact_; }
	size_t relations() const { return relations_.size(); }

private:
	struct RemoteRelation {
		uint16_t natts = 0;
		bool has_key = false;
	};

	Outcome HandleMessage(const char *data, size_t len);

	bool failed_ = false;
	bool in_remote_xact_ = false;
	std::map<uint32_t, RemoteRelation> relations_;

	friend class MessageHandler;
};

} // namespace concord::fuzz
