/*
 * wire.cpp — bounds-checked decoding and debug rendering of concord messages.
 * See wire.hpp for the format.  Nothing here allocates except DescribeMessage.
 */
#include "common/protocol/wire.hpp"

#include <cstdio>
#include <cstring>

#include <boost/endian/conversion.hpp>

namespace concord::protocol {

void Reader::Fail(const char *why) {
	if (error_ == nullptr) {
		error_ = why;
		error_offset_ = pos_;
	}
}

MessageType Reader::GetMessageType() {
	uint8_t t = GetU8();
	switch (static_cast<MessageType>(t)) {
	case MessageType::kBegin:
	case MessageType::kRelation:
	case MessageType::kInsert:
	case MessageType::kUpdate:
	case MessageType::kDelete:
	case MessageType::kTruncate:
	case MessageType::kCommit:
	case MessageType::kClock:
		return static_cast<MessageType>(t);
	}
	if (ok()) {
		pos_--;
		Fail("unknown message type");
	}
	return MessageType::kBegin;
}

bool Reader::GetBegin(BeginMessage *out) {
	out->final_lsn = GetU64();
	out->commit_time = GetI64();
	out->xid = GetU32();
	out->origin_node = GetString();
	return ok();
}

bool Reader::GetCommit(CommitMessage *out) {
	out->commit_lsn = GetU64();
	out->end_lsn = GetU64();
	out->commit_time = GetI64();
	return ok();
}

bool Reader::GetClock(ClockMessage *out) {
	out->now = GetI64();
	return ok();
}

bool Reader::GetRelationHeader(RelationHeader *out) {
	out->relid = GetU32();
	out->nspname = GetString();
	out->relname = GetString();
	out->replident = static_cast<char>(GetU8());
	out->natts = GetU16();
	if (ok() && (out->nspname.empty() || out->relname.empty()))
		Fail("empty relation name");
	return ok();
}

bool Reader::GetRelationColumn(ColumnDef *out) {
	out->flags = GetU8();
	out->name = GetString();
	out->type_oid = GetU32();
	out->typmod = GetI32();
	if (ok() && out->name.empty())
		Fail("empty column name");
	return ok();
}

OldTupleKind Reader::GetOldTupleKind() {
	uint8_t k = GetU8();
	switch (static_cast<OldTupleKind>(k)) {
	case OldTupleKind::kNone:
	case OldTupleKind::kKey:
	case OldTupleKind::kFull:
		return static_cast<OldTupleKind>(k);
	}
	if (ok())
		Fail("unknown old tuple kind");
	return OldTupleKind::kNone;
}

bool Reader::GetValue(Value *out) {
	uint8_t k = GetU8();
	out->data = {};
	switch (static_cast<ValueKind>(k)) {
	case ValueKind::kNull:
	case ValueKind::kUnchanged:
		out->kind = static_cast<ValueKind>(k);
		return ok();
	case ValueKind::kText:
	case ValueKind::kBinary:
		out->kind = static_cast<ValueKind>(k);
		out->data = GetString();
		return ok();
	}
	if (ok())
		Fail("unknown value kind");
	return false;
}

bool Reader::GetTruncateHeader(TruncateHeader *out) {
	out->options = GetU8();
	out->nrels = GetU32();
	/* Each relid takes 4 bytes: reject counts the message cannot hold. */
	if (ok() && out->nrels > remaining() / 4)
		Fail("relation count exceeds message");
	return ok();
}

bool Reader::ExpectEnd() {
	if (ok() && !AtEnd())
		Fail("trailing bytes after message");
	return ok();
}

bool PayloadReader::Next(const char **message, size_t *len) {
	if (!reader_.ok() || reader_.AtEnd())
		return false;
	std::string_view m = reader_.GetString();
	if (!reader_.ok())
		return false;
	if (m.empty()) {
		reader_.Fail("empty message in payload");
		return false;
	}
	*message = m.data();
	*len = m.size();
	return true;
}

std::string FrameMessage(const std::string &message) {
	StringSink sink;
	Writer<StringSink> w(sink);
	w.PutString(message);
	return sink.bytes;
}

std::string DescribePayload(const char *data, size_t len) {
	PayloadReader payload(data, len);
	std::string out;
	const char *message;
	size_t message_len;
	while (payload.Next(&message, &message_len)) {
		if (!out.empty())
			out.push_back('\n');
		out += DescribeMessage(message, message_len);
	}
	if (!payload.ok()) {
		if (!out.empty())
			out.push_back('\n');
		out += std::string("malformed payload: ") + payload.error() + " at offset " +
		       std::to_string(payload.error_offset());
	} else if (out.empty()) {
		out = "malformed payload: no message";
	}
	return out;
}

std::string FormatLsn(uint64_t lsn) {
	char buf[32];
	std::snprintf(buf, sizeof(buf), "%X/%X", static_cast<unsigned>(lsn >> 32), static_cast<unsigned>(lsn));
	return buf;
}

namespace {

void AppendQuoted(std::string *out, std::string_view s) {
	out->push_back('\'');
	for (char c : s) {
		if (c == '\'')
			out->push_back('\'');
		out->push_back(c);
	}
	out->push_back('\'');
}

void DescribeTuple(Reader &r, std::string *out) {
	uint16_t n = r.GetTupleHeader();
	out->append("(");
	for (uint16_t i = 0; i < n && r.ok(); i++) {
		Value v;
		if (!r.GetValue(&v))
			break;
		if (i > 0)
			out->append(", ");
		switch (v.kind) {
		case ValueKind::kNull:
			out->append("null");
			break;
		case ValueKind::kUnchanged:
			out->append("unchanged-toast");
			break;
		case ValueKind::kText:
			AppendQuoted(out, v.data);
			break;
		case ValueKind::kBinary:
			out->append("binary:" + std::to_string(v.data.size()) + "B");
			break;
		}
	}
	out->append(")");
}

} // namespace

std::string DescribeMessage(const char *data, size_t len) {
	Reader r(data, len);
	std::string out;
	MessageType type = r.GetMessageType();
	if (r.ok()) {
		switch (type) {
		case MessageType::kBegin: {
			BeginMessage m;
			if (r.GetBegin(&m))
				out = "BEGIN origin " + std::string(m.origin_node);
			break;
		}
		case MessageType::kCommit: {
			CommitMessage m;
			if (r.GetCommit(&m))
				out = "COMMIT";
			break;
		}
		case MessageType::kClock: {
			ClockMessage m;
			if (r.GetClock(&m))
				out = "CLOCK";
			break;
		}
		case MessageType::kRelation: {
			RelationHeader h;
			if (!r.GetRelationHeader(&h))
				break;
			out = "RELATION " + std::string(h.nspname) + "." + std::string(h.relname) + " replident " +
			      std::string(1, h.replident) + " (";
			for (uint16_t i = 0; i < h.natts; i++) {
				ColumnDef c;
				if (!r.GetRelationColumn(&c))
					break;
				if (i > 0)
					out += ", ";
				out += std::string(c.name) + " " + std::to_string(c.type_oid);
				if (c.flags & kColumnIsKey)
					out += " key";
			}
			out += ")";
			break;
		}
		case MessageType::kInsert:
			r.GetRelid();
			out = "INSERT new ";
			DescribeTuple(r, &out);
			break;
		case MessageType::kUpdate: {
			r.GetRelid();
			OldTupleKind k = r.GetOldTupleKind();
			out = "UPDATE";
			if (k != OldTupleKind::kNone) {
				out += k == OldTupleKind::kKey ? " key " : " old ";
				DescribeTuple(r, &out);
			}
			out += " new ";
			DescribeTuple(r, &out);
			break;
		}
		case MessageType::kDelete: {
			r.GetRelid();
			OldTupleKind k = r.GetOldTupleKind();
			out = k == OldTupleKind::kFull ? "DELETE old " : "DELETE key ";
			DescribeTuple(r, &out);
			break;
		}
		case MessageType::kTruncate: {
			TruncateHeader h;
			if (!r.GetTruncateHeader(&h))
				break;
			out = "TRUNCATE " + std::to_string(h.nrels) + " relation(s)";
			if (h.options & kTruncateCascade)
				out += " cascade";
			if (h.options & kTruncateRestartIdentity)
				out += " restart identity";
			for (uint32_t i = 0; i < h.nrels; i++)
				r.GetU32();
			break;
		}
		}
	}
	r.ExpectEnd();
	if (!r.ok())
		return std::string("malformed message: ") + r.error() + " at offset " + std::to_string(r.error_offset());
	return out;
}

} // namespace concord::protocol
