/*
 * roundtrip_fuzzer.cpp — libFuzzer target: Writer then Reader, field for field.
 *
 * The input only chooses values (through FuzzedDataProvider); every message is
 * built with the codec's Writer.  Checked:
 *   - one message of any type, with any field values, decodes to exactly the
 *     fields written (empty relation or column names are the one encoding the
 *     Reader refuses, with its own error); every strict prefix fails as
 *     truncated, and any bytes appended fail as trailing bytes;
 *   - the message travels inside an XLogData frame and ParseFrame returns the
 *     header fields and the payload untouched; keepalives and the standby
 *     status update round-trip as well;
 *   - a whole transaction the output plugin could send (RELATION, BEGIN,
 *     changes shaped by the relation, TRUNCATE, COMMIT) is applied frame by
 *     frame by ApplySession without an error: the worker's decoding accepts
 *     everything the sending side writes.
 */
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "common/protocol/stream_frame.hpp"
#include "common/protocol/wire.hpp"
#include "tests/fuzz/support/apply_session.hpp"
#include "tests/fuzz/support/messages.hpp"

namespace concord::fuzz {
namespace {

/*
 * Element counts: small ones mostly, to keep runs fast, and up to 1024 (past
 * one byte) for two selector values in 256 (not 0x00 or 0xFF, which
 * mutations make often).  Counts near the u16 limit cost ~100 ms a run and
 * libFuzzer keeps them for their loop counts, so they are left to
 * tests/unit/wire_test.cpp, which checks 65535 columns and values directly.
 */
uint16_t Count(FuzzedDataProvider &p, uint16_t usual_max) {
	uint8_t selector = p.ConsumeIntegral<uint8_t>();
	if (selector == 0xA5 || selector == 0xA6)
		return p.ConsumeIntegralInRange<uint16_t>(0, 1024);
	return p.ConsumeIntegralInRange<uint16_t>(0, usual_max);
}

std::string Bytes(FuzzedDataProvider &p) { return p.ConsumeRandomLengthString(1024); }

OwnedValue Value(FuzzedDataProvider &p) {
	OwnedValue v;
	v.kind = p.PickValueInArray({ValueKind::kNull, ValueKind::kUnchanged, ValueKind::kText, ValueKind::kBinary});
	if (v.kind == ValueKind::kText || v.kind == ValueKind::kBinary)
		v.data = Bytes(p);
	return v;
}

Tuple MakeTuple(FuzzedDataProvider &p, size_t ncols, bool text_only) {
	Tuple t(ncols);
	for (OwnedValue &v : t) {
		v = Value(p);
		if (text_only && v.kind == ValueKind::kBinary)
			v.kind = ValueKind::kText; /* the worker refuses binary values in protocol version 1 */
	}
	return t;
}

Relation MakeRelation(FuzzedDataProvider &p, uint16_t ncols) {
	Relation r;
	r.relid = p.ConsumeIntegral<uint32_t>();
	r.nspname = Bytes(p);
	r.relname = Bytes(p);
	r.replident = static_cast<char>(p.ConsumeIntegral<uint8_t>());
	r.columns.resize(ncols);
	for (Column &c : r.columns) {
		c.flags = p.ConsumeIntegral<uint8_t>();
		c.name = Bytes(p);
		c.type_oid = p.ConsumeIntegral<uint32_t>();
		c.typmod = p.ConsumeIntegral<int32_t>();
	}
	return r;
}

Message MakeMessage(FuzzedDataProvider &p) {
	switch (p.ConsumeIntegralInRange<int>(0, 7)) {
	case 0:
		return Begin{p.ConsumeIntegral<uint64_t>(), p.ConsumeIntegral<int64_t>(), p.ConsumeIntegral<uint32_t>(),
		             Bytes(p)};
	case 1:
		return Commit{p.ConsumeIntegral<uint64_t>(), p.ConsumeIntegral<uint64_t>(), p.ConsumeIntegral<int64_t>()};
	case 2:
		return MakeRelation(p, Count(p, 8));
	case 3: {
		Insert m;
		m.relid = p.ConsumeIntegral<uint32_t>();
		m.new_tuple = MakeTuple(p, Count(p, 8), false);
		return m;
	}
	case 4: {
		Update m;
		m.relid = p.ConsumeIntegral<uint32_t>();
		m.old_kind = p.PickValueInArray({OldTupleKind::kNone, OldTupleKind::kKey, OldTupleKind::kFull});
		if (m.old_kind != OldTupleKind::kNone)
			m.old_tuple = MakeTuple(p, Count(p, 8), false);
		m.new_tuple = MakeTuple(p, Count(p, 8), false);
		return m;
	}
	case 5: {
		Delete m;
		m.relid = p.ConsumeIntegral<uint32_t>();
		m.old_kind = p.PickValueInArray({OldTupleKind::kKey, OldTupleKind::kFull});
		m.old_tuple = MakeTuple(p, Count(p, 8), false);
		return m;
	}
	default: {
		Truncate m;
		m.options = p.ConsumeIntegral<uint8_t>();
		m.relids.resize(Count(p, 8));
		for (uint32_t &relid : m.relids)
			relid = p.ConsumeIntegral<uint32_t>();
		return m;
	}
	case 7:
		return Clock{p.ConsumeIntegral<int64_t>()};
	}
}

/* The one field combination the Reader refuses: empty names. */
const char *ExpectedError(const Message &m) {
	const auto *rel = std::get_if<Relation>(&m);
	if (rel == nullptr)
		return nullptr;
	if (rel->nspname.empty() || rel->relname.empty())
		return "empty relation name";
	for (const Column &c : rel->columns)
		if (c.name.empty())
			return "empty column name";
	return nullptr;
}

void CheckMessage(FuzzedDataProvider &p) {
	Message m = MakeMessage(p);
	std::string bytes = Encode(m);

	ExactBuffer whole(bytes);
	Decoded d = Decode(whole.data(), whole.size());
	CheckDescribeAgrees(whole.data(), whole.size(), d);
	const char *expected_error = ExpectedError(m);
	if (expected_error != nullptr) {
		FUZZ_CHECK(!d.ok && std::strcmp(d.error, expected_error) == 0, "empty name not refused as such");
		return;
	}
	FUZZ_CHECK(d.ok, "Writer output refused by Reader");
	FUZZ_CHECK(d.message == m, "Reader returned other fields than Writer wrote");

	/* One strict prefix, chosen by the input; the last byte cut always. */
	for (size_t cut : {bytes.size() - 1, p.ConsumeIntegralInRange<size_t>(0, bytes.size() - 1)}) {
		ExactBuffer prefix(std::string_view(bytes).substr(0, cut));
		Decoded t = Decode(prefix.data(), prefix.size());
		CheckDescribeAgrees(prefix.data(), prefix.size(), t);
		FUZZ_CHECK(!t.ok, "a strict prefix of a message was accepted");
		FUZZ_CHECK(std::strcmp(t.error, "message truncated") == 0 ||
		               std::strcmp(t.error, "relation count exceeds message") == 0,
		           "a strict prefix failed for another reason than truncation");
	}

	/* Trailing bytes. */
	std::string longer = bytes + p.ConsumeBytesAsString(p.ConsumeIntegralInRange<size_t>(1, 16));
	if (longer.size() > bytes.size()) {
		ExactBuffer extra(longer);
		Decoded t = Decode(extra.data(), extra.size());
		CheckDescribeAgrees(extra.data(), extra.size(), t);
		FUZZ_CHECK(!t.ok && std::strcmp(t.error, "trailing bytes after message") == 0 && t.error_offset == bytes.size(),
		           "bytes after a complete message were not refused");
	}

	/* Inside the envelope. */
	uint64_t data_start = p.ConsumeIntegral<uint64_t>(), wal_end = p.ConsumeIntegral<uint64_t>();
	int64_t send_time = p.ConsumeIntegral<int64_t>();
	ExactBuffer frame(XLogDataFrame(data_start, wal_end, send_time, bytes));
	protocol::Frame f;
	const char *error = nullptr;
	FUZZ_CHECK(protocol::ParseFrame(frame.data(), frame.size(), &f, &error), "XLogData frame refused");
	FUZZ_CHECK(f.type == protocol::FrameType::kXLogData && f.data_start == data_start && f.wal_end == wal_end &&
	               f.send_time == send_time && !f.reply_requested,
	           "XLogData header changed");
	FUZZ_CHECK(f.payload_len == bytes.size() && std::memcmp(f.payload, bytes.data(), bytes.size()) == 0,
	           "XLogData payload changed");
}

void CheckEnvelope(FuzzedDataProvider &p) {
	uint64_t wal_end = p.ConsumeIntegral<uint64_t>();
	int64_t send_time = p.ConsumeIntegral<int64_t>();
	bool reply = p.ConsumeBool();
	ExactBuffer keepalive(KeepaliveFrame(wal_end, send_time, reply));
	protocol::Frame f;
	const char *error = nullptr;
	FUZZ_CHECK(protocol::ParseFrame(keepalive.data(), keepalive.size(), &f, &error), "keepalive refused");
	FUZZ_CHECK(f.type == protocol::FrameType::kKeepalive && f.wal_end == wal_end && f.send_time == send_time &&
	               f.reply_requested == reply && f.payload == nullptr && f.payload_len == 0,
	           "keepalive fields changed");

	/* A keepalive has exactly one size: every other length is refused. */
	std::string other = KeepaliveFrame(wal_end, send_time, reply);
	size_t other_len = p.ConsumeIntegralInRange<size_t>(0, 2 * other.size());
	if (other_len != other.size()) {
		other.resize(other_len, '\0');
		ExactBuffer odd(other);
		error = nullptr;
		FUZZ_CHECK(!protocol::ParseFrame(odd.data(), odd.size(), &f, &error) && error != nullptr,
		           "keepalive of the wrong size accepted");
	}

	uint64_t written = p.ConsumeIntegral<uint64_t>(), flushed = p.ConsumeIntegral<uint64_t>(),
	         applied = p.ConsumeIntegral<uint64_t>();
	int64_t now = p.ConsumeIntegral<int64_t>();
	reply = p.ConsumeBool();
	char status[protocol::kStatusUpdateSize];
	protocol::BuildStatusUpdate(written, flushed, applied, now, reply, status);
	protocol::Reader r(status, sizeof(status));
	FUZZ_CHECK(r.GetU8() == 'r' && r.GetU64() == written && r.GetU64() == flushed && r.GetU64() == applied &&
	               r.GetI64() == now && r.GetU8() == (reply ? 1 : 0) && r.ExpectEnd(),
	           "standby status update fields changed");
}

/* A transaction the sending side could produce must be applied without error. */
void CheckTransaction(FuzzedDataProvider &p) {
	uint16_t natts = p.ConsumeIntegralInRange<uint16_t>(1, 32);
	Relation rel = MakeRelation(p, natts);
	rel.nspname += "s"; /* names are never empty on the sending side */
	rel.relname += "t";
	for (Column &c : rel.columns)
		c.name += "c";
	rel.columns[p.ConsumeIntegralInRange<size_t>(0, natts - 1)].flags |= protocol::kColumnIsKey;

	/* RELATION comes inside the transaction or before it: the worker takes both. */
	bool relation_first = p.ConsumeBool();
	std::vector<Message> xact;
	if (relation_first)
		xact.push_back(rel);
	xact.push_back(
	    Begin{p.ConsumeIntegral<uint64_t>(), p.ConsumeIntegral<int64_t>(), p.ConsumeIntegral<uint32_t>(), Bytes(p)});
	if (!relation_first)
		xact.push_back(rel);
	int nchanges = p.ConsumeIntegralInRange<int>(0, 8);
	for (int i = 0; i < nchanges; i++) {
		switch (p.ConsumeIntegralInRange<int>(0, 3)) {
		case 0:
			xact.push_back(Insert{rel.relid, MakeTuple(p, natts, true)});
			break;
		case 1: {
			auto old_kind = p.PickValueInArray({OldTupleKind::kNone, OldTupleKind::kKey, OldTupleKind::kFull});
			Tuple old_tuple = old_kind == OldTupleKind::kNone ? Tuple{} : MakeTuple(p, natts, true);
			xact.push_back(Update{rel.relid, old_kind, old_tuple, MakeTuple(p, natts, true)});
			break;
		}
		case 2:
			xact.push_back(Delete{rel.relid, p.PickValueInArray({OldTupleKind::kKey, OldTupleKind::kFull}),
			                      MakeTuple(p, natts, true)});
			break;
		default:
			xact.push_back(Truncate{p.ConsumeIntegral<uint8_t>(), std::vector<uint32_t>(1, rel.relid)});
			break;
		}
	}
	xact.push_back(Commit{p.ConsumeIntegral<uint64_t>(), p.ConsumeIntegral<uint64_t>(), p.ConsumeIntegral<int64_t>()});

	ApplySession session;
	for (const Message &m : xact) {
		ExactBuffer frame(XLogDataFrame(0, 0, 0, protocol::FrameMessage(Encode(m))));
		Outcome out = session.HandleFrame(frame.data(), frame.size());
		if (out.verdict != Verdict::kApplied) {
			std::fprintf(stderr, "refused: %s\n", out.error.c_str());
			FUZZ_CHECK(false, "the worker's decoding refused a valid transaction");
		}
	}
	FUZZ_CHECK(!session.in_remote_xact() && session.relations() == 1, "transaction state wrong after COMMIT");
}

} // namespace
} // namespace concord::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	FuzzedDataProvider p(data, size);
	switch (p.ConsumeIntegralInRange<int>(0, 2)) {
	case 0:
		concord::fuzz::CheckMessage(p);
		break;
	case 1:
		concord::fuzz::CheckTransaction(p);
		break;
	default:
		concord::fuzz::CheckEnvelope(p);
		break;
	}
	return 0;
}
