/*
 * wire.hpp — concord's replication wire format (pure C++, no PostgreSQL headers).
 *
 * The output plugin encodes each decoded change into one message; the apply
 * worker decodes it.  Every integer is big-endian; strings and values are
 * length-prefixed (u32), never NUL-terminated.  Messages:
 *
 *   'B' BEGIN     u64 final_lsn, i64 commit_time, u32 xid, str origin_node
 *   'R' RELATION  u32 relid, str nspname, str relname, u8 replident, u16 natts,
 *                 natts x { u8 flags (1 = key column), str name, u32 type_oid, i32 typmod }
 *   'I' INSERT    u32 relid, tuple new
 *   'U' UPDATE    u32 relid, u8 old_kind ('K' key, 'O' full old row, 'N' none),
 *                 [tuple old], tuple new
 *   'D' DELETE    u32 relid, u8 old_kind ('K' or 'O'), tuple old
 *   'T' TRUNCATE  u8 options (1 = cascade, 2 = restart identity), u32 nrels, nrels x u32 relid
 *   'C' COMMIT    u64 commit_lsn, u64 end_lsn, i64 commit_time
 *
 *   tuple:        u16 ncols, ncols x { u8 kind, [u32 len, len bytes] }
 *                 kind 'n' NULL, 'u' unchanged TOASTed value (no data),
 *                 't' text output of the type, 'b' binary send output
 *
 * Messages travel in batches: the payload of one replication frame holds one
 * or more messages, each preceded by its length (u32).  A small transaction
 * is one frame; a large one is sent in frames of about kBatchBytes, so the
 * per-frame cost of the walsender (a send and a poll for replies) is paid
 * per batch, not per change.
 *
 * Invariants: the decoder never reads past the buffer, never allocates and
 * never throws; any malformed input leaves the Reader in a failed state with a
 * message naming the offset.  Lengths beyond the remaining bytes are malformed.
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include <boost/endian/conversion.hpp>

namespace concord::protocol {

/* Version spoken by this build; negotiated in START_REPLICATION options. */
inline constexpr uint32_t kProtocolVersion = 1;
/* Upper bound of one value, to reject hostile lengths early (1 GB, as varlena). */
inline constexpr uint32_t kMaxValueLength = 0x3FFFFFFF;
/* A sender starts a new frame once the current one holds this much. */
inline constexpr size_t kBatchBytes = 64 * 1024;

enum class MessageType : char {
	kBegin = 'B',
	kRelation = 'R',
	kInsert = 'I',
	kUpdate = 'U',
	kDelete = 'D',
	kTruncate = 'T',
	kCommit = 'C',
	kClock = 'K',
};

enum class ValueKind : char {
	kNull = 'n',
	kUnchanged = 'u',
	kText = 't',
	kBinary = 'b',
};

enum class OldTupleKind : char {
	kNone = 'N',
	kKey = 'K',
	kFull = 'O',
};

inline constexpr uint8_t kColumnIsKey = 1;
inline constexpr uint8_t kTruncateCascade = 1;
inline constexpr uint8_t kTruncateRestartIdentity = 2;

struct BeginMessage {
	uint64_t final_lsn = 0;
	int64_t commit_time = 0; /* microseconds since 2000-01-01, as TimestampTz */
	uint32_t xid = 0;
	std::string_view origin_node;
};

struct CommitMessage {
	uint64_t commit_lsn = 0;
	uint64_t end_lsn = 0;
	int64_t commit_time = 0;
};

/*
 * The provider's clock, at a point of its WAL between transactions: every
 * transaction it committed before `now` has been sent ahead of this message
 * (tombstone pruning relies on it; see worker/apply/apply_main.cpp).
 */
struct ClockMessage {
	int64_t now = 0; /* microseconds since 2000-01-01, as TimestampTz */
};

/*
 * Prefix of the non-transactional logical messages a node writes to its WAL
 * with its clock (8 bytes, the TimestampTz in the server's byte order); its
 * output plugin sends each as a ClockMessage.
 */
inline constexpr const char *kClockMessagePrefix = "concord.clock";

struct RelationHeader {
	uint32_t relid = 0;
	std::string_view nspname;
	std::string_view relname;
	char replident = 'd';
	uint16_t natts = 0;
};

struct ColumnDef {
	uint8_t flags = 0;
	std::string_view name;
	uint32_t type_oid = 0;
	int32_t typmod = -1;
};

struct Value {
	ValueKind kind = ValueKind::kNull;
	std::string_view data;
};

struct TruncateHeader {
	uint8_t options = 0;
	uint32_t nrels = 0;
};

/*
 * Writer appends encoded fields to any sink with Append(const char *, size_t).
 * It owns nothing, so it is safe to use inside PostgreSQL callbacks whose sink
 * may raise an error.
 */
template <typename Sink>
class Writer {
public:
	explicit Writer(Sink &sink) : sink_(sink) {}

	void PutU8(uint8_t v) { sink_.Append(reinterpret_cast<const char *>(&v), 1); }
	void PutU16(uint16_t v) { PutBigEndian(v); }
	void PutU32(uint32_t v) { PutBigEndian(v); }
	void PutI32(int32_t v) { PutBigEndian(static_cast<uint32_t>(v)); }
	void PutU64(uint64_t v) { PutBigEndian(v); }
	void PutI64(int64_t v) { PutBigEndian(static_cast<uint64_t>(v)); }
	void PutString(std::string_view s) {
		PutU32(static_cast<uint32_t>(s.size()));
		sink_.Append(s.data(), s.size());
	}

	void Begin(const BeginMessage &m) {
		PutU8(static_cast<uint8_t>(MessageType::kBegin));
		PutU64(m.final_lsn);
		PutI64(m.commit_time);
		PutU32(m.xid);
		PutString(m.origin_node);
	}
	void Commit(const CommitMessage &m) {
		PutU8(static_cast<uint8_t>(MessageType::kCommit));
		PutU64(m.commit_lsn);
		PutU64(m.end_lsn);
		PutI64(m.commit_time);
	}
	void Clock(const ClockMessage &m) {
		PutU8(static_cast<uint8_t>(MessageType::kClock));
		PutI64(m.now);
	}
	void RelationStart(const RelationHeader &h) {
		PutU8(static_cast<uint8_t>(MessageType::kRelation));
		PutU32(h.relid);
		PutString(h.nspname);
		PutString(h.relname);
		PutU8(static_cast<uint8_t>(h.replident));
		PutU16(h.natts);
	}
	void RelationColumn(const ColumnDef &c) {
		PutU8(c.flags);
		PutString(c.name);
		PutU32(c.type_oid);
		PutI32(c.typmod);
	}
	/* A change starts with its type and relation; tuples follow. */
	void ChangeStart(MessageType type, uint32_t relid) {
		PutU8(static_cast<uint8_t>(type));
		PutU32(relid);
	}
	void OldTuple(OldTupleKind kind) { PutU8(static_cast<uint8_t>(kind)); }
	void TupleStart(uint16_t ncols) { PutU16(ncols); }
	void TupleValue(ValueKind kind, std::string_view data = {}) {
		PutU8(static_cast<uint8_t>(kind));
		if (kind == ValueKind::kText || kind == ValueKind::kBinary)
			PutString(data);
	}
	void TruncateStart(const TruncateHeader &h) {
		PutU8(static_cast<uint8_t>(MessageType::kTruncate));
		PutU8(h.options);
		PutU32(h.nrels);
	}
	void TruncateRelation(uint32_t relid) { PutU32(relid); }

private:
	template <typename T>
	void PutBigEndian(T v) {
		T big = boost::endian::native_to_big(v);
		sink_.Append(reinterpret_cast<const char *>(&big), sizeof(T));
	}

	Sink &sink_;
};

/* A sink collecting bytes into a std::string (tests, debug tools). */
struct StringSink {
	std::string bytes;
	void Append(const char *data, size_t len) { bytes.append(data, len); }
};

/*
 * Reader is a bounds-checked cursor over one message.  After the first
 * failure every further read returns zero values and ok() stays false.
 */
class Reader {
public:
	Reader(const char *data, size_t len) : data_(data), len_(len) {}

	bool ok() const { return error_ == nullptr; }
	/* Static description of the first failure, or nullptr. */
	const char *error() const { return error_; }
	size_t error_offset() const { return error_offset_; }
	size_t offset() const { return pos_; }
	size_t remaining() const { return len_ - pos_; }
	bool AtEnd() const { return pos_ == len_; }

	/*
	 * The primitive reads are inline: the apply worker makes a dozen or more
	 * of them per row, and as calls they cost about 1,000 instructions per
	 * single-row transaction (bench/RESULTS.md, "What was tried").
	 */
	uint8_t GetU8() { return GetBigEndian<uint8_t>(); }
	uint16_t GetU16() { return GetBigEndian<uint16_t>(); }
	uint32_t GetU32() { return GetBigEndian<uint32_t>(); }
	int32_t GetI32() { return static_cast<int32_t>(GetU32()); }
	uint64_t GetU64() { return GetBigEndian<uint64_t>(); }
	int64_t GetI64() { return static_cast<int64_t>(GetU64()); }
	std::string_view GetString() {
		uint32_t n = GetU32();
		if (n > kMaxValueLength) {
			Fail("length out of range");
			return {};
		}
		if (!Need(n))
			return {};
		std::string_view s(data_ + pos_, n);
		pos_ += n;
		return s;
	}

	/* Reads the message type byte; fails on an unknown type. */
	MessageType GetMessageType();
	bool GetBegin(BeginMessage *out);
	bool GetCommit(CommitMessage *out);
	bool GetClock(ClockMessage *out);
	bool GetRelationHeader(RelationHeader *out);
	bool GetRelationColumn(ColumnDef *out);
	/* INSERT/UPDATE/DELETE payload start: relation id. */
	uint32_t GetRelid() { return GetU32(); }
	OldTupleKind GetOldTupleKind();
	uint16_t GetTupleHeader() { return GetU16(); }
	bool GetValue(Value *out);
	bool GetTruncateHeader(TruncateHeader *out);
	/* Fails unless every byte was consumed (trailing garbage is malformed). */
	bool ExpectEnd();

	void Fail(const char *why);

private:
	/* False once failed, or (failing now) if fewer than n bytes are left. */
	bool Need(size_t n) {
		if (error_ == nullptr && n <= len_ - pos_)
			return true;
		Fail("message truncated");
		return false;
	}
	template <typename T>
	T GetBigEndian() {
		if (!Need(sizeof(T)))
			return 0;
		T v;
		std::memcpy(&v, data_ + pos_, sizeof(T));
		pos_ += sizeof(T);
		return boost::endian::big_to_native(v);
	}

	const char *data_;
	size_t len_;
	size_t pos_ = 0;
	const char *error_ = nullptr;
	size_t error_offset_ = 0;
};

/*
 * The messages of one frame's payload (see "Messages travel in batches").
 * Next() hands out each message in turn; it returns false at the end or on
 * a malformed length (then ok() is false and error() says why).
 */
class PayloadReader {
public:
	PayloadReader(const char *data, size_t len) : reader_(data, len) {}
	bool Next(const char **message, size_t *len);
	bool ok() const { return reader_.ok(); }
	const char *error() const { return reader_.error(); }
	size_t error_offset() const { return reader_.error_offset(); }

private:
	Reader reader_;
};

/*
 * Writes length-prefixed messages into a sink that allows patching a length
 * afterwards: Start() before a message, Finish() after it.  Sink needs
 * Append(const char *, size_t), size() and Patch(offset, const char *, size_t).
 */
template <typename Sink>
class MessageFramer {
public:
	explicit MessageFramer(Sink &sink) : sink_(sink) {}
	void Start() {
		start_ = sink_.size();
		static const char zeros[4] = {0, 0, 0, 0};
		sink_.Append(zeros, 4);
	}
	void Finish() {
		uint32_t len = boost::endian::native_to_big(static_cast<uint32_t>(sink_.size() - start_ - 4));
		sink_.Patch(start_, reinterpret_cast<const char *>(&len), 4);
	}

private:
	Sink &sink_;
	size_t start_ = 0;
};

/* Frames one message: its length (u32), then its bytes. */
std::string FrameMessage(const std::string &message);

/* Human-readable rendering of one whole message (tests, debugging). */
std::string DescribeMessage(const char *data, size_t len);

/* Renders every message of a payload, one per line. */
std::string DescribePayload(const char *data, size_t len);

/* Formats an LSN the way PostgreSQL prints it: %X/%X. */
std::string FormatLsn(uint64_t lsn);

} // namespace concord::protocol
