/*
 * messages.hpp — an owning model of concord's wire messages for the fuzz
 * targets and the corpus generator (test code only; pure C++).
 *
 * The codec's own structs hold string_views into the buffer they were read
 * from; the model copies every field out, so a decoded message can outlive its
 * buffer, be compared field by field, and be encoded again with Writer.
 *
 * Invariants kept here:
 *   - Encode() uses only the codec's Writer, so it is the sending side's
 *     encoding, byte for byte;
 *   - Decode() reads one whole message with the codec's Reader in the same
 *     order as DescribeMessage and the apply worker, and checks that every
 *     string_view the Reader hands out lies inside the message buffer (a
 *     slice of a larger buffer would hide an over-read from ASan);
 *   - ExactBuffer gives each decoded message a heap block of exactly its size,
 *     so one byte read too far is an AddressSanitizer report.
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/protocol/wire.hpp"

namespace concord::fuzz {

using protocol::OldTupleKind;
using protocol::ValueKind;

/* ---- the model ------------------------------------------------------------ */

struct OwnedValue {
	ValueKind kind = ValueKind::kNull;
	std::string data; /* empty unless kind is kText or kBinary */
};
using Tuple = std::vector<OwnedValue>;

struct Column {
	uint8_t flags = 0;
	std::string name;
	uint32_t type_oid = 0;
	int32_t typmod = -1;
};

struct Begin {
	uint64_t final_lsn = 0;
	int64_t commit_time = 0;
	uint32_t xid = 0;
	std::string origin;
};

struct Commit {
	uint64_t commit_lsn = 0;
	uint64_t end_lsn = 0;
	int64_t commit_time = 0;
};

struct Relation {
	uint32_t relid = 0;
	std::string nspname;
	std::string relname;
	char replident = 'd';
	std::vector<Column> columns;
};

struct Insert {
	uint32_t relid = 0;
	Tuple new_tuple;
};

struct Update {
	uint32_t relid = 0;
	OldTupleKind old_kind = OldTupleKind::kNone;
	Tuple old_tuple; /* absent from the wire when old_kind is kNone */
	Tuple new_tuple;
};

struct Delete {
	uint32_t relid = 0;
	OldTupleKind old_kind = OldTupleKind::kKey;
	Tuple old_tuple;
};

struct Truncate {
	uint8_t options = 0;
	std::vector<uint32_t> relids;
};

struct Clock {
	int64_t now = 0;
};

using Message = std::variant<Begin, Commit, Clock, Relation, Insert, Update, Delete, Truncate>;

bool operator==(const OwnedValue &a, const OwnedValue &b);
bool operator==(const Column &a, const Column &b);
bool operator==(const Begin &a, const Begin &b);
bool operator==(const Commit &a, const Commit &b);
bool operator==(const Clock &a, const Clock &b);
bool operator==(const Relation &a, const Relation &b);
bool operator==(const Insert &a, const Insert &b);
bool operator==(const Update &a, const Update &b);
bool operator==(const Delete &a, const Delete &b);
bool operator==(const Truncate &a, const Truncate &b);

/* ---- encoding and decoding -------------------------------------------------- */

/* The message as the output plugin's Writer encodes it. */
std::string Encode(const Message &m);

struct Decoded {
	bool ok = false;
	Message message;             /* meaningful only when ok */
	const char *error = nullptr; /* the Reader's static description when !ok */
	size_t error_offset = 0;
};

/*
 * Decodes one whole message (type byte to last byte) statelessly.  Aborts
 * (a fuzzer crash) if the Reader breaks one of its own promises: a view
 * outside the buffer, a cursor past the end, a failure without a message.
 */
Decoded Decode(const char *data, size_t len);

/* The text DescribeMessage returns for a malformed message with this error. */
std::string MalformedDescription(const char *error, size_t offset);

/*
 * Oracle shared by the targets: DescribeMessage(data, len) and Decode() must
 * agree.  A message Decode accepts re-encodes to exactly its bytes (the
 * encoding is canonical) and is described starting with its type's keyword;
 * a message it rejects is described as malformed with the same error and
 * offset.  Aborts on any disagreement.
 */
void CheckDescribeAgrees(const char *data, size_t len, const Decoded &d);

/* ---- the replication envelope ---------------------------------------------- */

std::string XLogDataFrame(uint64_t data_start, uint64_t wal_end, int64_t send_time, std::string_view payload);
std::string KeepaliveFrame(uint64_t wal_end, int64_t send_time, bool reply_requested);

/*
 * A stream of CopyData frames as one fuzz input: each frame is a big-endian
 * u32 length and that many bytes.  A length beyond the input takes the rest,
 * and a tail too short for a length is one last frame, so every byte of any
 * input reaches ParseFrame.
 */
void AppendFrame(std::string *stream, std::string_view frame);
std::vector<std::string_view> SplitFrames(const uint8_t *data, size_t size);

/* ---- helpers ---------------------------------------------------------------- */

/*
 * Copies a view the Reader returned out of [begin, begin + len), aborting if
 * it points anywhere else.  Touching every byte also lets ASan see the read.
 */
std::string CopyInside(std::string_view s, const char *begin, size_t len);

/* A heap copy of exactly bytes.size() bytes (new char[0] for none). */
class ExactBuffer {
public:
	explicit ExactBuffer(std::string_view bytes);
	const char *data() const { return data_.get(); }
	size_t size() const { return size_; }

private:
	size_t size_;
	std::unique_ptr<char[]> data_;
};

/* Aborts with a message on stderr when cond is false: the fuzzer's oracle. */
#define FUZZ_CHECK(cond, ...)                                                     \
	do {                                                                          \
		if (!(cond))                                                              \
			::concord::fuzz::CheckFailed(__FILE__, __LINE__, #cond, __VA_ARGS__); \
	} while (0)

[[noreturn]] void CheckFailed(const char *file, int line, const char *cond, const char *what);

} // namespace concord::fuzz
