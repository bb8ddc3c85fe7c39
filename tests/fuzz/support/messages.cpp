/*
 * messages.cpp — the owning message model: comparison, encoding with Writer,
 * strict decoding with Reader, envelope frames and fuzz-input streams.
 * See messages.hpp for the invariants.
 */
#include "tests/fuzz/support/messages.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <tuple>
#include <utility>

#include "common/protocol/stream_frame.hpp"

namespace concord::fuzz {

using protocol::MessageType;
using protocol::Reader;
using protocol::StringSink;
using protocol::Writer;

void CheckFailed(const char *file, int line, const char *cond, const char *what) {
	std::fprintf(stderr, "%s:%d: check failed: %s (%s)\n", file, line, cond, what);
	std::abort();
}

ExactBuffer::ExactBuffer(std::string_view bytes) : size_(bytes.size()), data_(new char[bytes.size()]) {
	if (size_ > 0)
		std::memcpy(data_.get(), bytes.data(), size_);
}

std::string CopyInside(std::string_view s, const char *begin, size_t len) {
	if (s.empty())
		return {};
	/* As integers: comparing pointers into different objects is unspecified. */
	auto at = reinterpret_cast<uintptr_t>(s.data());
	auto lo = reinterpret_cast<uintptr_t>(begin);
	FUZZ_CHECK(at >= lo && at - lo <= len && s.size() <= len - (at - lo), "Reader returned a view outside the message");
	return std::string(s);
}

/* ---- comparison -------------------------------------------------------------- */

bool operator==(const OwnedValue &a, const OwnedValue &b) { return a.kind == b.kind && a.data == b.data; }
bool operator==(const Column &a, const Column &b) {
	return std::tie(a.flags, a.name, a.type_oid, a.typmod) == std::tie(b.flags, b.name, b.type_oid, b.typmod);
}
bool operator==(const Begin &a, const Begin &b) {
	return std::tie(a.final_lsn, a.commit_time, a.xid, a.origin) ==
	       std::tie(b.final_lsn, b.commit_time, b.xid, b.origin);
}
bool operator==(const Commit &a, const Commit &b) {
	return std::tie(a.commit_lsn, a.end_lsn, a.commit_time) == std::tie(b.commit_lsn, b.end_lsn, b.commit_time);
}
bool operator==(const Relation &a, const Relation &b) {
	return std::tie(a.relid, a.nspname, a.relname, a.replident, a.columns) ==
	       std::tie(b.relid, b.nspname, b.relname, b.replident, b.columns);
}
bool operator==(const Clock &a, const Clock &b) { return a.now == b.now; }
bool operator==(const Insert &a, const Insert &b) { return a.relid == b.relid && a.new_tuple == b.new_tuple; }
bool operator==(const Update &a, const Update &b) {
	return std::tie(a.relid, a.old_kind, a.old_tuple, a.new_tuple) ==
	       std::tie(b.relid, b.old_kind, b.old_tuple, b.new_tuple);
}
bool operator==(const Delete &a, const Delete &b) {
	return std::tie(a.relid, a.old_kind, a.old_tuple) == std::tie(b.relid, b.old_kind, b.old_tuple);
}
bool operator==(const Truncate &a, const Truncate &b) { return a.options == b.options && a.relids == b.relids; }

/* ---- encoding ----------------------------------------------------------------- */

namespace {

class Encoder {
public:
	explicit Encoder(Writer<StringSink> &w) : w_(w) {}

	void operator()(const Begin &m) const {
		w_.Begin(protocol::BeginMessage{m.final_lsn, m.commit_time, m.xid, m.origin});
	}
	void operator()(const Commit &m) const {
		w_.Commit(protocol::CommitMessage{m.commit_lsn, m.end_lsn, m.commit_time});
	}
	void operator()(const Clock &m) const { w_.Clock(protocol::ClockMessage{m.now}); }
	void operator()(const Relation &m) const {
		w_.RelationStart(protocol::RelationHeader{m.relid, m.nspname, m.relname, m.replident,
		                                          static_cast<uint16_t>(m.columns.size())});
		for (const Column &c : m.columns)
			w_.RelationColumn(protocol::ColumnDef{c.flags, c.name, c.type_oid, c.typmod});
	}
	void operator()(const Insert &m) const {
		w_.ChangeStart(MessageType::kInsert, m.relid);
		PutTuple(m.new_tuple);
	}
	void operator()(const Update &m) const {
		w_.ChangeStart(MessageType::kUpdate, m.relid);
		w_.OldTuple(m.old_kind);
		if (m.old_kind != OldTupleKind::kNone)
			PutTuple(m.old_tuple);
		PutTuple(m.new_tuple);
	}
	void operator()(const Delete &m) const {
		w_.ChangeStart(MessageType::kDelete, m.relid);
		w_.OldTuple(m.old_kind);
		PutTuple(m.old_tuple);
	}
	void operator()(const Truncate &m) const {
		w_.TruncateStart(protocol::TruncateHeader{m.options, static_cast<uint32_t>(m.relids.size())});
		for (uint32_t relid : m.relids)
			w_.TruncateRelation(relid);
	}

private:
	void PutTuple(const Tuple &t) const {
		w_.TupleStart(static_cast<uint16_t>(t.size()));
		for (const OwnedValue &v : t)
			w_.TupleValue(v.kind, v.data);
	}

	Writer<StringSink> &w_;
};

class StrictDecoder {
public:
	StrictDecoder(const char *data, size_t len) : r_(data, len), begin_(data), end_(data + len) {}

	Decoded Run() {
		Decoded d;
		MessageType type = r_.GetMessageType();
		if (r_.ok()) {
			switch (type) {
			case MessageType::kBegin: {
				protocol::BeginMessage m;
				r_.GetBegin(&m);
				d.message = Begin{m.final_lsn, m.commit_time, m.xid, Copy(m.origin_node)};
				break;
			}
			case MessageType::kCommit: {
				protocol::CommitMessage m;
				r_.GetCommit(&m);
				d.message = Commit{m.commit_lsn, m.end_lsn, m.commit_time};
				break;
			}
			case MessageType::kClock: {
				protocol::ClockMessage m;
				r_.GetClock(&m);
				d.message = Clock{m.now};
				break;
			}
			case MessageType::kRelation: {
				protocol::RelationHeader h;
				Relation rel;
				if (r_.GetRelationHeader(&h)) {
					rel = Relation{h.relid, Copy(h.nspname), Copy(h.relname), h.replident, {}};
					for (uint16_t i = 0; i < h.natts; i++) {
						protocol::ColumnDef c;
						if (!r_.GetRelationColumn(&c))
							break;
						rel.columns.push_back(Column{c.flags, Copy(c.name), c.type_oid, c.typmod});
					}
				}
				d.message = std::move(rel);
				break;
			}
			case MessageType::kInsert: {
				Insert m;
				m.relid = r_.GetRelid();
				m.new_tuple = ReadTuple();
				d.message = std::move(m);
				break;
			}
			case MessageType::kUpdate: {
				Update m;
				m.relid = r_.GetRelid();
				m.old_kind = r_.GetOldTupleKind();
				if (m.old_kind != OldTupleKind::kNone)
					m.old_tuple = ReadTuple();
				m.new_tuple = ReadTuple();
				d.message = std::move(m);
				break;
			}
			case MessageType::kDelete: {
				Delete m;
				m.relid = r_.GetRelid();
				m.old_kind = r_.GetOldTupleKind();
				m.old_tuple = ReadTuple();
				d.message = std::move(m);
				break;
			}
			case MessageType::kTruncate: {
				protocol::TruncateHeader h;
				Truncate m;
				if (r_.GetTruncateHeader(&h)) {
					m.options = h.options;
					for (uint32_t i = 0; i < h.nrels && r_.ok(); i++)
						m.relids.push_back(r_.GetU32());
				}
				d.message = std::move(m);
				break;
			}
			}
		}
		r_.ExpectEnd();
		FUZZ_CHECK(r_.offset() <= static_cast<size_t>(end_ - begin_), "Reader cursor past the end");
		d.ok = r_.ok();
		if (!d.ok) {
			d.error = r_.error();
			d.error_offset = r_.error_offset();
			FUZZ_CHECK(d.error != nullptr && d.error[0] != '\0', "failed Reader without an error message");
			FUZZ_CHECK(d.error_offset <= static_cast<size_t>(end_ - begin_), "error offset past the end");
		} else {
			FUZZ_CHECK(r_.AtEnd() && r_.error() == nullptr, "accepted message not consumed");
		}
		return d;
	}

private:
	std::string Copy(std::string_view s) const { return CopyInside(s, begin_, static_cast<size_t>(end_ - begin_)); }

	Tuple ReadTuple() {
		Tuple t;
		uint16_t n = r_.GetTupleHeader();
		/* Each value takes at least one byte: a hostile count cannot make this reserve more. */
		t.reserve(n < r_.remaining() ? n : r_.remaining());
		for (uint16_t i = 0; i < n && r_.ok(); i++) {
			protocol::Value v;
			if (!r_.GetValue(&v))
				break;
			t.push_back(OwnedValue{v.kind, Copy(v.data)});
		}
		return t;
	}

	Reader r_;
	const char *begin_;
	const char *end_;
};

void PutBigEndian32(std::string *out, uint32_t v) {
	StringSink sink;
	Writer<StringSink> w(sink);
	w.PutU32(v);
	out->append(sink.bytes);
}

} // namespace

std::string Encode(const Message &m) {
	StringSink sink;
	Writer<StringSink> w(sink);
	std::visit(Encoder(w), m);
	return sink.bytes;
}

Decoded Decode(const char *data, size_t len) { return StrictDecoder(data, len).Run(); }

std::string MalformedDescription(const char *error, size_t offset) {
	return std::string("malformed message: ") + error + " at offset " + std::to_string(offset);
}

namespace {

const char *Keyword(const Message &m) {
	/* In the order of the Message variant's alternatives. */
	static const char *const kKeywords[] = {"BEGIN ", "COMMIT", "CLOCK",   "RELATION ",
	                                        "INSERT ", "UPDATE", "DELETE ", "TRUNCATE "};
	return kKeywords[m.index()];
}

} // namespace

void CheckDescribeAgrees(const char *data, size_t len, const Decoded &d) {
	std::string described = protocol::DescribeMessage(data, len);
	if (!d.ok) {
		FUZZ_CHECK(described == MalformedDescription(d.error, d.error_offset),
		           "DescribeMessage and Reader disagree on a malformed message");
		return;
	}
	FUZZ_CHECK(described.rfind(Keyword(d.message), 0) == 0, "DescribeMessage misnamed an accepted message");
	std::string again = Encode(d.message);
	FUZZ_CHECK(again.size() == len && (len == 0 || std::memcmp(again.data(), data, len) == 0),
	           "accepted message does not re-encode to its own bytes");
}

/* ---- envelope ------------------------------------------------------------------ */

std::string XLogDataFrame(uint64_t data_start, uint64_t wal_end, int64_t send_time, std::string_view payload) {
	StringSink sink;
	Writer<StringSink> w(sink);
	w.PutU8(static_cast<uint8_t>(protocol::FrameType::kXLogData));
	w.PutU64(data_start);
	w.PutU64(wal_end);
	w.PutI64(send_time);
	sink.Append(payload.data(), payload.size());
	return sink.bytes;
}

std::string KeepaliveFrame(uint64_t wal_end, int64_t send_time, bool reply_requested) {
	StringSink sink;
	Writer<StringSink> w(sink);
	w.PutU8(static_cast<uint8_t>(protocol::FrameType::kKeepalive));
	w.PutU64(wal_end);
	w.PutI64(send_time);
	w.PutU8(reply_requested ? 1 : 0);
	return sink.bytes;
}

void AppendFrame(std::string *stream, std::string_view frame) {
	PutBigEndian32(stream, static_cast<uint32_t>(frame.size()));
	stream->append(frame.data(), frame.size());
}

std::vector<std::string_view> SplitFrames(const uint8_t *data, size_t size) {
	std::vector<std::string_view> frames;
	const char *p = reinterpret_cast<const char *>(data);
	size_t left = size;
	while (left > 0) {
		if (left < 4) {
			/* Too short for a length: the tail is one last frame. */
			frames.emplace_back(p, left);
			break;
		}
		uint32_t n = 0;
		for (size_t i = 0; i < 4; i++)
			n = (n << 8) | static_cast<uint8_t>(p[i]);
		p += 4;
		left -= 4;
		size_t take = n < left ? n : left;
		frames.emplace_back(p, take);
		p += take;
		left -= take;
	}
	return frames;
}

} // namespace concord::fuzz
