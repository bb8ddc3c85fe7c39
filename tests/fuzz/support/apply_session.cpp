/*
 * apply_session.cpp — the apply worker's reading of frames and messages,
 * step for step; see apply_session.hpp.  Each function names the worker
 * function it stands for.  ereport(ERROR) becomes a thrown Raised, caught
 * once in HandleFrame, as the worker's error ends its run.
 */
#include "tests/fuzz/support/apply_session.hpp"

#include <cstring>
#include <string_view>

#include "common/protocol/stream_frame.hpp"
#include "common/protocol/wire.hpp"
#include "tests/fuzz/support/messages.hpp"

namespace concord::fuzz {

namespace {

using protocol::MessageType;
using protocol::OldTupleKind;
using protocol::Reader;
using protocol::ValueKind;

struct Raised {
	Verdict verdict;
	std::string error;
	const char *reader_error = nullptr;
	size_t reader_offset = 0;
};

[[noreturn]] void Reject(std::string error) { throw Raised{Verdict::kRejected, std::move(error)}; }

/* tuple_values.cpp CheckReader: a failed Reader is a protocol violation. */
void CheckReader(const Reader &r, const char *what) {
	if (!r.ok())
		throw Raised{Verdict::kMalformed, std::string("malformed ") + what + " message: " + r.error(), r.error(),
		             r.error_offset()};
}

/* What the worker's pnstrdup() + InputFunctionCall() read of a text value: up to the first NUL. */
size_t InputFunctionSees(std::string_view text) {
	const void *nul = text.empty() ? nullptr : std::memchr(text.data(), '\0', text.size());
	return nul == nullptr ? text.size() : static_cast<size_t>(static_cast<const char *>(nul) - text.data());
}

} // namespace

class MessageHandler {
public:
	MessageHandler(ApplySession &s, const char *data, size_t len) : s_(s), r_(data, len), data_(data), len_(len) {}

	/* apply_main.cpp HandleMessage. */
	void Run() {
		MessageType type = r_.GetMessageType();
		CheckReader(r_, "message");
		switch (type) {
		case MessageType::kBegin:
			HandleBegin();
			break;
		case MessageType::kCommit:
			HandleCommit();
			break;
		case MessageType::kClock: {
			protocol::ClockMessage m;
			r_.GetClock(&m);
			r_.ExpectEnd();
			CheckReader(r_, "CLOCK");
			if (s_.in_remote_xact_)
				Reject("sent a CLOCK message inside a transaction");
			break;
		}
		case MessageType::kRelation: {
			protocol::RelationHeader h;
			r_.GetRelationHeader(&h);
			CheckReader(r_, "RELATION");
			StoreRelation(h);
			break;
		}
		case MessageType::kInsert:
		case MessageType::kUpdate:
		case MessageType::kDelete:
		case MessageType::kTruncate:
			HandleChange(type);
			break;
		}
	}

private:
	/* Every byte handed to PostgreSQL is read here, and must lie inside the message. */
	void Touch(std::string_view s) { sink_ += CopyInside(s, data_, len_).size(); }

	/* apply_xact.cpp RequireRemoteXact. */
	void RequireRemoteXact(const char *what) {
		if (!s_.in_remote_xact_)
			Reject(std::string("sent ") + what + " outside a transaction");
	}

	/* apply_xact.cpp HandleBegin. */
	void HandleBegin() {
		protocol::BeginMessage m;
		r_.GetBegin(&m);
		r_.ExpectEnd();
		CheckReader(r_, "BEGIN");
		Touch(m.origin_node);
		if (s_.in_remote_xact_)
			Reject("began a transaction inside another");
		s_.in_remote_xact_ = true;
	}

	/* apply_xact.cpp HandleCommit. */
	void HandleCommit() {
		protocol::CommitMessage m;
		r_.GetCommit(&m);
		r_.ExpectEnd();
		CheckReader(r_, "COMMIT");
		RequireRemoteXact("COMMIT");
		s_.in_remote_xact_ = false;
	}

	/* relation_map.cpp StoreRelation: the entry is replaced before the end is checked. */
	void StoreRelation(const protocol::RelationHeader &h) {
		Touch(h.nspname);
		Touch(h.relname);
		ApplySession::RemoteRelation rel;
		rel.natts = h.natts;
		for (int i = 0; i < h.natts; i++) {
			protocol::ColumnDef c;
			if (!r_.GetRelationColumn(&c))
				break;
			Touch(c.name);
			if (c.flags & protocol::kColumnIsKey)
				rel.has_key = true;
		}
		s_.relations_[h.relid] = rel;
		if (!r_.ExpectEnd())
			CheckReader(r_, "RELATION");
	}

	/* relation_map.cpp LookupRelation, then ResolveTarget/BuildTarget's checks that depend on the message alone. */
	const ApplySession::RemoteRelation &ResolveRelation(uint32_t relid) {
		auto it = s_.relations_.find(relid);
		if (it == s_.relations_.end())
			Reject("sent a change for relation " + std::to_string(relid) + " before announcing it");
		if (!it->second.has_key)
			Reject("sent table without key columns");
		return it->second;
	}

	/* apply_xact.cpp HandleChange. */
	void HandleChange(MessageType type) {
		RequireRemoteXact("a change");
		switch (type) {
		case MessageType::kInsert:
			ApplyInsert();
			break;
		case MessageType::kUpdate:
			ApplyUpdate();
			break;
		case MessageType::kDelete:
			ApplyDelete();
			break;
		case MessageType::kTruncate:
			ApplyTruncate();
			break;
		default:
			break;
		}
	}

	/* apply_change.cpp StartChange. */
	const ApplySession::RemoteRelation &StartChange(const char *action) {
		uint32_t relid = r_.GetRelid();
		CheckReader(r_, action);
		return ResolveRelation(relid);
	}

	/* apply_change.cpp ExpectEnd. */
	void ExpectEnd(const char *what) {
		r_.ExpectEnd();
		CheckReader(r_, what);
	}

	/* tuple_values.cpp ReadTuple. */
	void ReadTuple(const ApplySession::RemoteRelation &rel) {
		int ncols = r_.GetTupleHeader();
		CheckReader(r_, "tuple");
		if (ncols != rel.natts)
			Reject("sent " + std::to_string(ncols) + " columns for a table announced with " +
			       std::to_string(rel.natts));
		for (int c = 0; c < ncols; c++) {
			protocol::Value v;
			r_.GetValue(&v);
			CheckReader(r_, "tuple");
			switch (v.kind) {
			case ValueKind::kNull:
			case ValueKind::kUnchanged:
				break;
			case ValueKind::kText:
				Touch(v.data.substr(0, InputFunctionSees(v.data)));
				break;
			case ValueKind::kBinary:
				Reject("sent a binary value, which this protocol version does not use");
			}
		}
	}

	/* apply_change.cpp ApplyInsert. */
	void ApplyInsert() {
		const auto &rel = StartChange("INSERT");
		ReadTuple(rel);
		ExpectEnd("INSERT");
	}

	/* apply_change.cpp ApplyUpdate. */
	void ApplyUpdate() {
		const auto &rel = StartChange("UPDATE");
		OldTupleKind old_kind = r_.GetOldTupleKind();
		CheckReader(r_, "UPDATE");
		if (old_kind != OldTupleKind::kNone)
			ReadTuple(rel);
		ReadTuple(rel);
		ExpectEnd("UPDATE");
	}

	/* apply_change.cpp ApplyDelete. */
	void ApplyDelete() {
		const auto &rel = StartChange("DELETE");
		r_.GetOldTupleKind();
		CheckReader(r_, "DELETE");
		ReadTuple(rel);
		ExpectEnd("DELETE");
	}

	/* apply_change.cpp ApplyTruncate. */
	void ApplyTruncate() {
		protocol::TruncateHeader h;
		r_.GetTruncateHeader(&h);
		CheckReader(r_, "TRUNCATE");
		/* The worker pallocs nrels names before reading them: the header must bound it. */
		FUZZ_CHECK(h.nrels <= len_ / 4, "TRUNCATE relation count not bounded by the message");
		for (uint32_t i = 0; i < h.nrels; i++) {
			uint32_t relid = r_.GetU32();
			CheckReader(r_, "TRUNCATE");
			ResolveRelation(relid);
		}
		ExpectEnd("TRUNCATE");
	}

	ApplySession &s_;
	Reader r_;
	const char *data_;
	size_t len_;
	size_t sink_ = 0;
};

Outcome ApplySession::HandleMessage(const char *data, size_t len) {
	Outcome out;
	out.is_message = true;
	out.payload = data;
	out.payload_len = len;
	try {
		MessageHandler(*this, data, len).Run();
	} catch (const Raised &e) {
		failed_ = true;
		out.verdict = e.verdict;
		out.error = e.error;
		out.reader_error = e.reader_error;
		out.reader_offset = e.reader_offset;
		FUZZ_CHECK(!out.error.empty(), "worker error without a message");
		if (e.verdict == Verdict::kMalformed) {
			FUZZ_CHECK(e.reader_error != nullptr && e.reader_error[0] != '\0', "Reader failed without a message");
			FUZZ_CHECK(e.reader_offset <= len, "Reader error offset past the end");
		}
	}
	return out;
}

/* apply_main.cpp HandleFrame. */
Outcome ApplySession::HandleFrame(const char *data, size_t len) {
	FUZZ_CHECK(!failed_, "frame after a failure: the worker has exited");
	protocol::Frame frame;
	const char *error = nullptr;
	if (!protocol::ParseFrame(data, len, &frame, &error)) {
		FUZZ_CHECK(error != nullptr && error[0] != '\0', "ParseFrame failed without a message");
		failed_ = true;
		Outcome out;
		out.verdict = Verdict::kMalformed;
		out.error = std::string("malformed replication frame: ") + error;
		return out;
	}
	if (frame.type == protocol::FrameType::kKeepalive) {
		/* 'k', u64 wal_end, i64 send_time, u8 reply_requested: walreceiver.c refuses any other size. */
		FUZZ_CHECK(len == 1 + 8 + 8 + 1, "keepalive of the wrong size accepted");
		FUZZ_CHECK(frame.payload == nullptr && frame.payload_len == 0, "keepalive with a payload");
		return Outcome{};
	}
	FUZZ_CHECK(frame.type == protocol::FrameType::kXLogData, "unknown frame type accepted");
	FUZZ_CHECK(frame.payload != nullptr && frame.payload >= data && frame.payload_len <= len &&
	               static_cast<size_t>(frame.payload - data) == len - frame.payload_len,
	           "XLogData payload is not the tail of the frame");
	/* The payload is a batch of length-prefixed messages, applied in turn until one fails. */
	protocol::PayloadReader payload(frame.payload, frame.payload_len);
	const char *message;
	size_t message_len;
	Outcome last;
	while (payload.Next(&message, &message_len)) {
		last = HandleMessage(message, message_len);
		if (failed_)
			return last;
	}
	if (!payload.ok()) {
		failed_ = true;
		Outcome out;
		out.verdict = Verdict::kMalformed;
		out.error = std::string("malformed frame: ") + payload.error();
		return out;
	}
	return last;
}

} // namespace concord::fuzz
