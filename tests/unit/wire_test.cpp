/*
 * wire_test.cpp — the replication wire codec (common/protocol/wire.{hpp,cpp}).
 *
 * Every message type is encoded with Writer, decoded with Reader the way the
 * apply worker reads it, and compared field by field.  Every strict prefix of
 * each encoding, and each encoding followed by extra bytes, must be rejected;
 * all decoding reads from exactly-sized heap buffers so that scripts/test/unit.sh's
 * AddressSanitizer run catches any read past the end.  A seeded mutation run
 * checks the decoder is canonical: whatever it accepts re-encodes byte for byte.
 */
#include "common/protocol/wire.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <ostream>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "tests/unit/support/support.hpp"

namespace concord::protocol {
namespace {

constexpr uint64_t kU64Max = std::numeric_limits<uint64_t>::max();
constexpr int64_t kI64Min = std::numeric_limits<int64_t>::min();
constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();
constexpr uint32_t kU32Max = std::numeric_limits<uint32_t>::max();

using test::BigEndian;
using test::Bytes;
using test::ExactBuffer;

/* ---------------------------------------------------------------------------
 * An owning model of one message, and its encoder and decoder
 * ------------------------------------------------------------------------- */

struct OwnedValue {
	ValueKind kind = ValueKind::kNull;
	std::string data;
};
bool operator==(const OwnedValue &a, const OwnedValue &b) { return a.kind == b.kind && a.data == b.data; }
using Tuple = std::vector<OwnedValue>;

struct Column {
	uint8_t flags = 0;
	std::string name;
	uint32_t type_oid = 0;
	int32_t typmod = -1;
};
bool operator==(const Column &a, const Column &b) {
	return std::tie(a.flags, a.name, a.type_oid, a.typmod) == std::tie(b.flags, b.name, b.type_oid, b.typmod);
}

struct Begin {
	uint64_t final_lsn = 0;
	int64_t commit_time = 0;
	uint32_t xid = 0;
	std::string origin;
};
bool operator==(const Begin &a, const Begin &b) {
	return std::tie(a.final_lsn, a.commit_time, a.xid, a.origin) ==
	       std::tie(b.final_lsn, b.commit_time, b.xid, b.origin);
}

struct Commit {
	uint64_t commit_lsn = 0;
	uint64_t end_lsn = 0;
	int64_t commit_time = 0;
};
bool operator==(const Commit &a, const Commit &b) {
	return std::tie(a.commit_lsn, a.end_lsn, a.commit_time) == std::tie(b.commit_lsn, b.end_lsn, b.commit_time);
}

struct Clock {
	int64_t now = 0;
};
bool operator==(const Clock &a, const Clock &b) { return a.now == b.now; }

struct Relation {
	uint32_t relid = 0;
	std::string nspname;
	std::string relname;
	char replident = 'd';
	std::vector<Column> columns;
};
bool operator==(const Relation &a, const Relation &b) {
	return std::tie(a.relid, a.nspname, a.relname, a.replident, a.columns) ==
	       std::tie(b.relid, b.nspname, b.relname, b.replident, b.columns);
}

struct Insert {
	uint32_t relid = 0;
	Tuple new_tuple;
};
bool operator==(const Insert &a, const Insert &b) { return a.relid == b.relid && a.new_tuple == b.new_tuple; }

struct Update {
	uint32_t relid = 0;
	OldTupleKind old_kind = OldTupleKind::kNone;
	Tuple old_tuple; /* empty and absent from the wire when old_kind is kNone */
	Tuple new_tuple;
};
bool operator==(const Update &a, const Update &b) {
	return std::tie(a.relid, a.old_kind, a.old_tuple, a.new_tuple) ==
	       std::tie(b.relid, b.old_kind, b.old_tuple, b.new_tuple);
}

struct Delete {
	uint32_t relid = 0;
	OldTupleKind old_kind = OldTupleKind::kKey;
	Tuple old_tuple;
};
bool operator==(const Delete &a, const Delete &b) {
	return std::tie(a.relid, a.old_kind, a.old_tuple) == std::tie(b.relid, b.old_kind, b.old_tuple);
}

struct Truncate {
	uint8_t options = 0;
	std::vector<uint32_t> relids;
};
bool operator==(const Truncate &a, const Truncate &b) { return a.options == b.options && a.relids == b.relids; }

using Message = std::variant<Begin, Commit, Clock, Relation, Insert, Update, Delete, Truncate>;

class Encoder {
public:
	explicit Encoder(Writer<StringSink> &w) : w_(w) {}

	void operator()(const Begin &m) const { w_.Begin(BeginMessage{m.final_lsn, m.commit_time, m.xid, m.origin}); }
	void operator()(const Commit &m) const { w_.Commit(CommitMessage{m.commit_lsn, m.end_lsn, m.commit_time}); }
	void operator()(const Clock &m) const { w_.Clock(ClockMessage{m.now}); }
	void operator()(const Relation &m) const {
		w_.RelationStart(
		    RelationHeader{m.relid, m.nspname, m.relname, m.replident, static_cast<uint16_t>(m.columns.size())});
		for (const Column &c : m.columns)
			w_.RelationColumn(ColumnDef{c.flags, c.name, c.type_oid, c.typmod});
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
		w_.TruncateStart(TruncateHeader{m.options, static_cast<uint32_t>(m.relids.size())});
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

std::string Encode(const Message &m) {
	StringSink sink;
	Writer<StringSink> w(sink);
	std::visit(Encoder(w), m);
	return sink.bytes;
}

struct Decoded {
	bool ok = false;
	Message message;
	std::string error;
	size_t error_offset = 0;
};

Tuple ReadTuple(Reader &r) {
	Tuple t;
	uint16_t n = r.GetTupleHeader();
	for (uint16_t i = 0; i < n && r.ok(); i++) {
		Value v;
		if (!r.GetValue(&v))
			break;
		t.push_back(OwnedValue{v.kind, std::string(v.data)});
	}
	return t;
}

/* Decodes one whole message the way the apply worker does, from an exact-size copy. */
Decoded Decode(std::string_view bytes) {
	ExactBuffer buf(bytes);
	Reader r(buf.data(), buf.size());
	Decoded d;
	MessageType type = r.GetMessageType();
	if (r.ok()) {
		switch (type) {
		case MessageType::kBegin: {
			BeginMessage m;
			r.GetBegin(&m);
			d.message = Begin{m.final_lsn, m.commit_time, m.xid, std::string(m.origin_node)};
			break;
		}
		case MessageType::kCommit: {
			CommitMessage m;
			r.GetCommit(&m);
			d.message = Commit{m.commit_lsn, m.end_lsn, m.commit_time};
			break;
		}
		case MessageType::kClock: {
			ClockMessage m;
			r.GetClock(&m);
			d.message = Clock{m.now};
			break;
		}
		case MessageType::kRelation: {
			RelationHeader h;
			Relation rel;
			if (r.GetRelationHeader(&h)) {
				rel = Relation{h.relid, std::string(h.nspname), std::string(h.relname), h.replident, {}};
				for (uint16_t i = 0; i < h.natts; i++) {
					ColumnDef c;
					if (!r.GetRelationColumn(&c))
						break;
					rel.columns.push_back(Column{c.flags, std::string(c.name), c.type_oid, c.typmod});
				}
			}
			d.message = rel;
			break;
		}
		case MessageType::kInsert: {
			Insert m;
			m.relid = r.GetRelid();
			m.new_tuple = ReadTuple(r);
			d.message = m;
			break;
		}
		case MessageType::kUpdate: {
			Update m;
			m.relid = r.GetRelid();
			m.old_kind = r.GetOldTupleKind();
			if (m.old_kind != OldTupleKind::kNone)
				m.old_tuple = ReadTuple(r);
			m.new_tuple = ReadTuple(r);
			d.message = m;
			break;
		}
		case MessageType::kDelete: {
			Delete m;
			m.relid = r.GetRelid();
			m.old_kind = r.GetOldTupleKind();
			m.old_tuple = ReadTuple(r);
			d.message = m;
			break;
		}
		case MessageType::kTruncate: {
			TruncateHeader h;
			Truncate m;
			if (r.GetTruncateHeader(&h)) {
				m.options = h.options;
				for (uint32_t i = 0; i < h.nrels && r.ok(); i++)
					m.relids.push_back(r.GetU32());
			}
			d.message = m;
			break;
		}
		}
	}
	r.ExpectEnd();
	d.ok = r.ok();
	if (!d.ok) {
		d.error = r.error();
		d.error_offset = r.error_offset();
	}
	return d;
}

std::string Describe(std::string_view bytes) {
	ExactBuffer buf(bytes);
	return DescribeMessage(buf.data(), buf.size());
}

bool IsMalformed(const std::string &description) { return description.rfind("malformed message: ", 0) == 0; }

/* gtest prints a variant alternative by alternative: show each as DescribeMessage does. */
void PrintMessage(const Message &m, std::ostream *os) { *os << Describe(Encode(m)); }
void PrintTo(const Begin &m, std::ostream *os) { PrintMessage(m, os); }
void PrintTo(const Commit &m, std::ostream *os) { PrintMessage(m, os); }
void PrintTo(const Clock &m, std::ostream *os) { PrintMessage(m, os); }
void PrintTo(const Relation &m, std::ostream *os) { PrintMessage(m, os); }
void PrintTo(const Insert &m, std::ostream *os) { PrintMessage(m, os); }
void PrintTo(const Update &m, std::ostream *os) { PrintMessage(m, os); }
void PrintTo(const Delete &m, std::ostream *os) { PrintMessage(m, os); }
void PrintTo(const Truncate &m, std::ostream *os) { PrintMessage(m, os); }

/* ---------------------------------------------------------------------------
 * Test data
 * ------------------------------------------------------------------------- */

OwnedValue Null() { return {ValueKind::kNull, {}}; }
OwnedValue Unchanged() { return {ValueKind::kUnchanged, {}}; }
OwnedValue Text(std::string s) { return {ValueKind::kText, std::move(s)}; }
OwnedValue Binary(std::string s) { return {ValueKind::kBinary, std::move(s)}; }

std::string AllByteValues() {
	std::string s;
	for (int i = 0; i < 256; i++)
		s.push_back(static_cast<char>(i));
	return s;
}

std::string Patterned(size_t n) {
	std::string s(n, '\0');
	for (size_t i = 0; i < n; i++)
		s[i] = static_cast<char>((i * 131) % 251);
	return s;
}

Tuple EveryValueKind() {
	return {Null(),
	        Unchanged(),
	        Text(""),
	        Text("plain"),
	        Text(std::string("nul\0inside\0", 11)),
	        Text("it's \"quoted\" \xc3\xa9"),
	        Binary(""),
	        Binary(std::string(1, '\0')),
	        Binary(AllByteValues())};
}

Tuple MaxColumnTuple() {
	Tuple t;
	for (size_t i = 0; i < std::numeric_limits<uint16_t>::max(); i++) {
		switch (i % 4) {
		case 0:
			t.push_back(Null());
			break;
		case 1:
			t.push_back(Unchanged());
			break;
		case 2:
			t.push_back(Text(""));
			break;
		default:
			t.push_back(Binary(std::string(1, static_cast<char>(i))));
			break;
		}
	}
	return t;
}

std::vector<Column> ManyColumns(size_t n) {
	std::vector<Column> cols;
	for (size_t i = 0; i < n; i++)
		cols.push_back(Column{static_cast<uint8_t>(i == 0 ? kColumnIsKey : 0), "c" + std::to_string(i),
		                      static_cast<uint32_t>(16 + i % 7), static_cast<int32_t>(i % 3) - 1});
	return cols;
}

/* Messages are built on demand: every test process registers every case. */
struct Case {
	std::string name;
	std::function<Message()> make;
};

std::vector<Case> RoundTripCases() {
	return {
	    {"BeginTypical",
	     [] {
		     return Message(Begin{0x16B3748, 760000000000000, 731, "n1"});
	     }},
	    {"BeginExtremes",
	     [] {
		     return Message(Begin{kU64Max, kI64Min, kU32Max, std::string(24, 'z')});
	     }},
	    {"BeginNegativeTime",
	     [] {
		     return Message(Begin{1, -1, 0, "node_b"});
	     }},
	    {"BeginEmptyOrigin",
	     [] {
		     return Message(Begin{0, 0, 0, ""});
	     }},
	    {"CommitTypical",
	     [] {
		     return Message(Commit{0x16B3748, 0x16B3790, 760000000000123});
	     }},
	    {"CommitZero",
	     [] {
		     return Message(Commit{0, 0, 0});
	     }},
	    {"CommitExtremes",
	     [] {
		     return Message(Commit{kU64Max, kU64Max - 1, kI64Max});
	     }},
	    {"ClockTypical",
	     [] {
		     return Message(Clock{790000000000123});
	     }},
	    {"ClockExtremes",
	     [] {
		     return Message(Clock{kI64Max});
	     }},
	    {"RelationNoColumns",
	     [] {
		     return Message(Relation{16384, "public", "t", 'd', {}});
	     }},
	    {"RelationKeyAndValue",
	     [] {
		     return Message(Relation{
		         16385, "public", "accounts", 'd', {{kColumnIsKey, "id", 23, -1}, {0, "balance", 1700, 655366}}});
	     }},
	    {"RelationFullIdentity",
	     [] {
		     return Message(Relation{1, "s", "t", 'f', {{kColumnIsKey, "a", 25, -1}, {kColumnIsKey, "b", 25, -1}}});
	     }},
	    {"RelationIndexIdentity",
	     [] {
		     return Message(Relation{2, "s", "t", 'i', {{kColumnIsKey | 2, "k", 20, -1}}});
	     }},
	    {"RelationOddNames",
	     [] {
		     return Message(
		         Relation{kU32Max,
		                  "My Schema; DROP",
		                  std::string("t\0x\"'", 5),
		                  'n',
		                  {{0, "col with spaces", 25, -1}, {0, "\xc3\xa9t\xc3\xa9", 1043, 36}, {0, "select", 16, -1}}});
	     }},
	    {"RelationMaxHeapColumns",
	     [] {
		     return Message(Relation{3, "public", "wide", 'd', ManyColumns(1600)});
	     }},
	    {"RelationMaxWireColumns",
	     [] {
		     return Message(Relation{4, "public", "wider", 'd', ManyColumns(65535)});
	     }},
	    {"InsertEveryValueKind",
	     [] {
		     return Message(Insert{16384, EveryValueKind()});
	     }},
	    {"InsertNoColumns",
	     [] {
		     return Message(Insert{16384, {}});
	     }},
	    {"InsertSingleNull",
	     [] {
		     return Message(Insert{1, {Null()}});
	     }},
	    {"InsertEmptyText",
	     [] {
		     return Message(Insert{1, {Text("")}});
	     }},
	    {"InsertEmptyBinary",
	     [] {
		     return Message(Insert{1, {Binary("")}});
	     }},
	    {"InsertLargeText",
	     [] {
		     return Message(Insert{2, {Text(Patterned((1 << 20) + 3)), Null()}});
	     }},
	    {"InsertLargeBinary",
	     [] {
		     return Message(Insert{2, {Binary(Patterned((1 << 21) + 1))}});
	     }},
	    {"InsertMaxColumns",
	     [] {
		     return Message(Insert{5, MaxColumnTuple()});
	     }},
	    {"UpdateNoOldTuple",
	     [] {
		     return Message(Update{16384, OldTupleKind::kNone, {}, {Text("1"), Text("new"), Unchanged()}});
	     }},
	    {"UpdateKeyChanged",
	     [] {
		     return Message(Update{16384, OldTupleKind::kKey, {Text("1"), Null()}, {Text("2"), Text("v")}});
	     }},
	    {"UpdateFullOldRow",
	     [] {
		     return Message(Update{16384, OldTupleKind::kFull, EveryValueKind(), EveryValueKind()});
	     }},
	    {"UpdateUnchangedToast",
	     [] {
		     return Message(Update{7, OldTupleKind::kNone, {}, {Text("1"), Unchanged(), Unchanged()}});
	     }},
	    {"UpdateEmptyTuples",
	     [] {
		     return Message(Update{7, OldTupleKind::kKey, {}, {}});
	     }},
	    {"UpdateLargeValue",
	     [] {
		     return Message(Update{7, OldTupleKind::kFull, {Text("1"), Text(Patterned(70000))}, {Text("1"), Null()}});
	     }},
	    {"DeleteByKey",
	     [] {
		     return Message(Delete{16384, OldTupleKind::kKey, {Text("1")}});
	     }},
	    {"DeleteFullRow",
	     [] {
		     return Message(Delete{16384, OldTupleKind::kFull, EveryValueKind()});
	     }},
	    {"DeleteCompositeKey",
	     [] {
		     return Message(Delete{9, OldTupleKind::kKey, {Text("a"), Binary(std::string("\0\0", 2))}});
	     }},
	    {"TruncateNothing",
	     [] {
		     return Message(Truncate{0, {}});
	     }},
	    {"TruncateOne",
	     [] {
		     return Message(Truncate{0, {16384}});
	     }},
	    {"TruncateCascade",
	     [] {
		     return Message(Truncate{kTruncateCascade, {16384, 16390}});
	     }},
	    {"TruncateRestartIdentity",
	     [] {
		     return Message(Truncate{kTruncateRestartIdentity, {1}});
	     }},
	    {"TruncateBothOptions",
	     [] {
		     return Message(Truncate{kTruncateCascade | kTruncateRestartIdentity, {1, 2, 3, kU32Max}});
	     }},
	    {"TruncateMany",
	     [] {
		     return Message(Truncate{0, std::vector<uint32_t>(1000, 42)});
	     }},
	};
}

/* Prefix lengths to try: all of them for small messages, a spread for big ones. */
std::vector<size_t> PrefixLengths(size_t size) {
	std::vector<size_t> lengths;
	if (size <= 4096) {
		for (size_t n = 0; n < size; n++)
			lengths.push_back(n);
		return lengths;
	}
	for (size_t n = 0; n < 64; n++)
		lengths.push_back(n);
	for (size_t n = size - 64; n < size; n++)
		lengths.push_back(n);
	for (size_t k = 1; k < 32; k++)
		lengths.push_back(size / 32 * k + k);
	return lengths;
}

/* ---------------------------------------------------------------------------
 * Round trips, prefixes, trailing bytes: every message type
 * ------------------------------------------------------------------------- */

class WireRoundTrip : public ::testing::TestWithParam<Case> {};

TEST_P(WireRoundTrip, DecodesToTheEncodedFields) {
	const Message m = GetParam().make();
	std::string bytes = Encode(m);
	Decoded d = Decode(bytes);
	ASSERT_TRUE(d.ok) << d.error << " at offset " << d.error_offset;
	EXPECT_EQ(d.message.index(), m.index());
	EXPECT_EQ(d.message, m);
	EXPECT_EQ(Encode(d.message), bytes);
}

TEST_P(WireRoundTrip, DescribeAcceptsTheWholeMessage) {
	std::string description = Describe(Encode(GetParam().make()));
	EXPECT_FALSE(IsMalformed(description)) << description;
	EXPECT_FALSE(description.empty());
}

TEST_P(WireRoundTrip, EveryStrictPrefixIsRejected) {
	std::string bytes = Encode(GetParam().make());
	for (size_t n : PrefixLengths(bytes.size())) {
		std::string_view prefix(bytes.data(), n);
		Decoded d = Decode(prefix);
		ASSERT_FALSE(d.ok) << "prefix of " << n << " of " << bytes.size() << " bytes was accepted";
		EXPECT_TRUE(d.error == "message truncated" || d.error == "relation count exceeds message")
		    << "prefix " << n << ": " << d.error;
		EXPECT_LE(d.error_offset, n);
		std::string description = Describe(prefix);
		ASSERT_TRUE(IsMalformed(description)) << "prefix " << n << ": " << description;
	}
}

TEST_P(WireRoundTrip, TrailingBytesAreRejected) {
	std::string bytes = Encode(GetParam().make());
	for (const std::string &extra : {std::string(1, '\0'), std::string("x"), std::string("\xff\xff\xff\xff"), bytes}) {
		Decoded d = Decode(bytes + extra);
		ASSERT_FALSE(d.ok) << extra.size() << " trailing bytes accepted";
		EXPECT_EQ(d.error, "trailing bytes after message");
		EXPECT_EQ(d.error_offset, bytes.size());
		EXPECT_EQ(Describe(bytes + extra),
		          "malformed message: trailing bytes after message at offset " + std::to_string(bytes.size()));
	}
}

INSTANTIATE_TEST_SUITE_P(AllTypes, WireRoundTrip, ::testing::ValuesIn(RoundTripCases()),
                         [](const ::testing::TestParamInfo<Case> &info) { return info.param.name; });

/* ---------------------------------------------------------------------------
 * Exact bytes: the layout peers of different builds must agree on
 * ------------------------------------------------------------------------- */

struct GoldenCase {
	std::string name;
	Message message;
	std::string bytes;
};

std::string Str(std::string_view s) { return BigEndian(s.size(), 4) + std::string(s); }

std::vector<GoldenCase> GoldenCases() {
	return {
	    {"Begin", Begin{0x0102030405060708, -2, 0xA0B0C0D0, "n1"},
	     "B" + BigEndian(0x0102030405060708, 8) + Bytes({0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE}) +
	         Bytes({0xA0, 0xB0, 0xC0, 0xD0}) + Bytes({0, 0, 0, 2}) + "n1"},
	    {"Commit", Commit{0x10, 0x20, 0x30}, "C" + BigEndian(0x10, 8) + BigEndian(0x20, 8) + BigEndian(0x30, 8)},
	    {"Clock", Clock{0x0102030405060708}, "K" + BigEndian(0x0102030405060708, 8)},
	    {"Relation", Relation{16384, "public", "t", 'd', {{kColumnIsKey, "id", 23, -1}}},
	     "R" + BigEndian(16384, 4) + Str("public") + Str("t") + "d" + BigEndian(1, 2) + Bytes({1}) + Str("id") +
	         BigEndian(23, 4) + Bytes({0xFF, 0xFF, 0xFF, 0xFF})},
	    {"Insert", Insert{7, {Null(), Unchanged(), Text("a"), Binary(std::string("\0\xff", 2))}},
	     "I" + BigEndian(7, 4) + BigEndian(4, 2) + "n" + "u" + "t" + Str("a") + "b" + Str(std::string("\0\xff", 2))},
	    {"UpdateWithKey", Update{7, OldTupleKind::kKey, {Text("1")}, {Text("2")}},
	     "U" + BigEndian(7, 4) + "K" + BigEndian(1, 2) + "t" + Str("1") + BigEndian(1, 2) + "t" + Str("2")},
	    {"UpdateWithoutOld", Update{7, OldTupleKind::kNone, {}, {Null()}},
	     "U" + BigEndian(7, 4) + "N" + BigEndian(1, 2) + "n"},
	    {"DeleteFull", Delete{7, OldTupleKind::kFull, {Text(""), Null()}},
	     "D" + BigEndian(7, 4) + "O" + BigEndian(2, 2) + "t" + Str("") + "n"},
	    {"Truncate", Truncate{3, {1, 0xDEADBEEF}},
	     "T" + Bytes({3}) + BigEndian(2, 4) + BigEndian(1, 4) + BigEndian(0xDEADBEEF, 4)},
	};
}

class WireGolden : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(WireGolden, EncodesExactly) { EXPECT_EQ(Encode(GetParam().message), GetParam().bytes); }

TEST_P(WireGolden, DecodesExactly) {
	Decoded d = Decode(GetParam().bytes);
	ASSERT_TRUE(d.ok) << d.error;
	EXPECT_EQ(d.message, GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(Layout, WireGolden, ::testing::ValuesIn(GoldenCases()),
                         [](const ::testing::TestParamInfo<GoldenCase> &info) { return info.param.name; });

TEST(WireWriter, NullAndUnchangedCarryNoData) {
	StringSink sink;
	Writer<StringSink> w(sink);
	w.TupleValue(ValueKind::kNull, "ignored");
	w.TupleValue(ValueKind::kUnchanged, "ignored");
	EXPECT_EQ(sink.bytes, "nu");
}

TEST(WireWriter, PrimitivesAreBigEndian) {
	StringSink sink;
	Writer<StringSink> w(sink);
	w.PutU8(0xAB);
	w.PutU16(0x0102);
	w.PutU32(0x03040506);
	w.PutI32(-1);
	w.PutU64(0x0708090A0B0C0D0E);
	w.PutI64(std::numeric_limits<int64_t>::min());
	w.PutString("");
	EXPECT_EQ(sink.bytes, Bytes({0xAB, 1,  2,  3,    4, 5, 6, 0xFF, 0xFF, 0xFF, 0xFF, 7, 8, 9, 10, 11,
	                             12,   13, 14, 0x80, 0, 0, 0, 0,    0,    0,    0,    0, 0, 0, 0}));
}

/* ---------------------------------------------------------------------------
 * Reader primitives and its sticky failure state
 * ------------------------------------------------------------------------- */

TEST(WireReader, ReadsBigEndianPrimitives) {
	std::string bytes = Bytes({0xAB, 1,  2,    3, 4, 5, 6, 0xFF, 0xFF, 0xFF, 0xFE, 7, 8, 9, 10,  11, 12,
	                           13,   14, 0x80, 0, 0, 0, 0, 0,    0,    0,    0,    0, 0, 2, 'h', 'i'});
	ExactBuffer buf(bytes);
	Reader r(buf.data(), buf.size());
	EXPECT_EQ(r.GetU8(), 0xAB);
	EXPECT_EQ(r.GetU16(), 0x0102);
	EXPECT_EQ(r.GetU32(), 0x03040506u);
	EXPECT_EQ(r.GetI32(), -2);
	EXPECT_EQ(r.offset(), 11u);
	EXPECT_EQ(r.remaining(), bytes.size() - 11);
	EXPECT_EQ(r.GetU64(), 0x0708090A0B0C0D0Eu);
	EXPECT_EQ(r.GetI64(), std::numeric_limits<int64_t>::min());
	EXPECT_FALSE(r.AtEnd());
	EXPECT_EQ(r.GetString(), "hi");
	EXPECT_TRUE(r.AtEnd());
	EXPECT_TRUE(r.ExpectEnd());
	EXPECT_TRUE(r.ok());
	EXPECT_EQ(r.error(), nullptr);
}

TEST(WireReader, FailureIsStickyAndKeepsTheFirstError) {
	std::string bytes = Bytes({1, 2, 3});
	ExactBuffer buf(bytes);
	Reader r(buf.data(), buf.size());
	EXPECT_EQ(r.GetU32(), 0u);
	EXPECT_FALSE(r.ok());
	EXPECT_STREQ(r.error(), "message truncated");
	EXPECT_EQ(r.error_offset(), 0u);
	/* Three bytes remain, but a failed reader reads nothing more. */
	EXPECT_EQ(r.GetU8(), 0);
	EXPECT_EQ(r.GetU16(), 0);
	EXPECT_EQ(r.GetString(), "");
	EXPECT_EQ(r.offset(), 0u);
	r.Fail("something else");
	EXPECT_STREQ(r.error(), "message truncated");
	EXPECT_FALSE(r.ExpectEnd());
}

TEST(WireReader, EmptyStringAtTheEnd) {
	std::string bytes = Bytes({0, 0, 0, 0});
	ExactBuffer buf(bytes);
	Reader r(buf.data(), buf.size());
	EXPECT_EQ(r.GetString(), "");
	EXPECT_TRUE(r.ok());
	EXPECT_TRUE(r.AtEnd());
}

TEST(WireReader, EmptyInputIsTruncated) {
	Decoded d = Decode("");
	EXPECT_FALSE(d.ok);
	EXPECT_EQ(d.error, "message truncated");
	EXPECT_EQ(d.error_offset, 0u);
}

TEST(WireReader, EveryUnknownTypeByteIsRejectedAtOffsetZero) {
	const std::string known = "BRIUDTCK";
	for (int b = 0; b < 256; b++) {
		char c = static_cast<char>(b);
		if (known.find(c) != std::string::npos)
			continue;
		Decoded d = Decode(std::string(1, c) + std::string(40, '\0'));
		EXPECT_FALSE(d.ok) << "type byte " << b;
		EXPECT_EQ(d.error, "unknown message type") << "type byte " << b;
		EXPECT_EQ(d.error_offset, 0u) << "type byte " << b;
		/* The single type byte alone must fail the same way. */
		Decoded alone = Decode(std::string(1, c));
		EXPECT_EQ(alone.error, "unknown message type") << "type byte " << b;
	}
}

/* ---------------------------------------------------------------------------
 * Malformed input, each with the error and the offset it must name
 * ------------------------------------------------------------------------- */

struct RejectCase {
	std::string name;
	std::string bytes;
	std::string error;
	size_t offset;
};

std::vector<RejectCase> RejectCases() {
	const std::string relid = BigEndian(16384, 4);
	const std::string begin_fixed = std::string(8 + 8 + 4, '\0');
	return {
	    {"BeginOriginLongerThanMessage", "B" + begin_fixed + BigEndian(5, 4) + "ab", "message truncated", 25},
	    {"BeginOriginLengthCut", "B" + begin_fixed + Bytes({0, 0}), "message truncated", 21},
	    {"CommitShort", "C" + std::string(23, '\0'), "message truncated", 17},
	    {"ClockShort", "K" + std::string(7, '\0'), "message truncated", 1},
	    {"ValueLengthJustOverLimit",
	     "I" + relid + BigEndian(1, 2) + "t" + BigEndian(uint64_t{kMaxValueLength} + 1, 4) + "abc",
	     "length out of range", 12},
	    {"ValueLengthAllOnes", "I" + relid + BigEndian(1, 2) + "b" + Bytes({0xFF, 0xFF, 0xFF, 0xFF}),
	     "length out of range", 12},
	    {"ValueLengthAtLimitButShort", "I" + relid + BigEndian(1, 2) + "t" + BigEndian(kMaxValueLength, 4) + "abc",
	     "message truncated", 12},
	    {"ValueOneByteShort", "I" + relid + BigEndian(1, 2) + "t" + BigEndian(4, 4) + "abc", "message truncated", 12},
	    {"UnknownValueKind", "I" + relid + BigEndian(1, 2) + "x", "unknown value kind", 8},
	    {"UpperCaseValueKind", "I" + relid + BigEndian(2, 2) + "n" + "T" + Str("a"), "unknown value kind", 9},
	    {"TupleShorterThanCount", "I" + relid + BigEndian(3, 2) + "nn", "message truncated", 9},
	    {"TupleCountMaxWithOneValue", "I" + relid + BigEndian(65535, 2) + "n", "message truncated", 8},
	    {"InsertWithoutTuple", "I" + relid, "message truncated", 5},
	    {"UnknownOldTupleKind", "U" + relid + "X" + BigEndian(0, 2), "unknown old tuple kind", 6},
	    {"UpdateMissingNewTuple", "U" + relid + "K" + BigEndian(1, 2) + "n", "message truncated", 9},
	    {"DeleteUnknownOldKind", "D" + relid + "k" + BigEndian(0, 2), "unknown old tuple kind", 6},
	    {"RelationEmptyNamespace", "R" + relid + Str("") + Str("t") + "d" + BigEndian(0, 2), "empty relation name", 17},
	    {"RelationEmptyName", "R" + relid + Str("public") + Str("") + "d" + BigEndian(0, 2), "empty relation name", 22},
	    {"RelationEmptyColumnName",
	     "R" + relid + Str("s") + Str("t") + "d" + BigEndian(1, 2) + Bytes({1}) + Str("") + BigEndian(23, 4) +
	         BigEndian(0, 4),
	     "empty column name", 31},
	    {"RelationFewerColumnsThanAnnounced",
	     "R" + relid + Str("s") + Str("t") + "d" + BigEndian(2, 2) + Bytes({1}) + Str("id") + BigEndian(23, 4) +
	         BigEndian(0, 4),
	     "message truncated", 33},
	    {"RelationNameLengthOutOfRange", "R" + relid + Bytes({0x7F, 0xFF, 0xFF, 0xFF}) + "s", "length out of range", 9},
	    {"TruncateCountExceedsMessage", "T" + Bytes({0}) + BigEndian(2, 4) + BigEndian(1, 4),
	     "relation count exceeds message", 6},
	    {"TruncateCountAllOnes", "T" + Bytes({1}) + Bytes({0xFF, 0xFF, 0xFF, 0xFF}), "relation count exceeds message",
	     6},
	    {"TruncateCountTooSmall", "T" + Bytes({0}) + BigEndian(1, 4) + BigEndian(1, 4) + BigEndian(2, 4),
	     "trailing bytes after message", 10},
	    {"TruncateRelidCut", "T" + Bytes({0}) + BigEndian(1, 4) + Bytes({0, 0, 1}), "relation count exceeds message",
	     6},
	    {"BeginFollowedByCommit", "B" + begin_fixed + Str("n1") + "C" + std::string(24, '\0'),
	     "trailing bytes after message", 27},
	};
}

class WireReject : public ::testing::TestWithParam<RejectCase> {};

TEST_P(WireReject, FailsWithErrorAndOffset) {
	const RejectCase &c = GetParam();
	Decoded d = Decode(c.bytes);
	ASSERT_FALSE(d.ok);
	EXPECT_EQ(d.error, c.error);
	EXPECT_EQ(d.error_offset, c.offset);
	EXPECT_LE(d.error_offset, c.bytes.size());
}

TEST_P(WireReject, DescribeReportsTheSameError) {
	const RejectCase &c = GetParam();
	EXPECT_EQ(Describe(c.bytes), "malformed message: " + c.error + " at offset " + std::to_string(c.offset));
}

INSTANTIATE_TEST_SUITE_P(Malformed, WireReject, ::testing::ValuesIn(RejectCases()),
                         [](const ::testing::TestParamInfo<RejectCase> &info) { return info.param.name; });

/* ---------------------------------------------------------------------------
 * DescribeMessage and FormatLsn
 * ------------------------------------------------------------------------- */

struct DescribeCase {
	std::string name;
	Message message;
	std::string expected;
};

std::vector<DescribeCase> DescribeCases() {
	return {
	    {"Begin", Begin{1, 2, 3, "n1"}, "BEGIN origin n1"},
	    {"BeginEmptyOrigin", Begin{}, "BEGIN origin "},
	    {"Commit", Commit{1, 2, 3}, "COMMIT"},
	    {"Clock", Clock{1}, "CLOCK"},
	    {"RelationNoColumns", Relation{1, "public", "t", 'd', {}}, "RELATION public.t replident d ()"},
	    {"Relation", Relation{1, "s", "t", 'f', {{kColumnIsKey, "id", 23, -1}, {2, "v", 25, -1}, {3, "w", 20, 0}}},
	     "RELATION s.t replident f (id 23 key, v 25, w 20 key)"},
	    {"InsertEveryKind",
	     Insert{1, {Text("1"), Null(), Unchanged(), Text("it's"), Binary("abc"), Text(""), Binary("")}},
	     "INSERT new ('1', null, unchanged-toast, 'it''s', binary:3B, '', binary:0B)"},
	    {"InsertEmbeddedNul", Insert{1, {Text(std::string("a\0b", 3))}}, std::string("INSERT new ('a\0b')", 18)},
	    {"InsertNoColumns", Insert{1, {}}, "INSERT new ()"},
	    {"UpdateNoOld", Update{1, OldTupleKind::kNone, {}, {Text("2")}}, "UPDATE new ('2')"},
	    {"UpdateKey", Update{1, OldTupleKind::kKey, {Text("1")}, {Text("2"), Unchanged()}},
	     "UPDATE key ('1') new ('2', unchanged-toast)"},
	    {"UpdateFull", Update{1, OldTupleKind::kFull, {Text("1"), Null()}, {Text("1"), Text("x")}},
	     "UPDATE old ('1', null) new ('1', 'x')"},
	    {"DeleteKey", Delete{1, OldTupleKind::kKey, {Text("1")}}, "DELETE key ('1')"},
	    {"DeleteFull", Delete{1, OldTupleKind::kFull, {Text("1"), Binary("xy")}}, "DELETE old ('1', binary:2B)"},
	    {"TruncatePlain", Truncate{0, {5}}, "TRUNCATE 1 relation(s)"},
	    {"TruncateCascade", Truncate{kTruncateCascade, {5, 6}}, "TRUNCATE 2 relation(s) cascade"},
	    {"TruncateRestart", Truncate{kTruncateRestartIdentity, {}}, "TRUNCATE 0 relation(s) restart identity"},
	    {"TruncateBoth", Truncate{3, {1, 2, 3}}, "TRUNCATE 3 relation(s) cascade restart identity"},
	};
}

class WireDescribe : public ::testing::TestWithParam<DescribeCase> {};

TEST_P(WireDescribe, RendersTheMessage) { EXPECT_EQ(Describe(Encode(GetParam().message)), GetParam().expected); }

INSTANTIATE_TEST_SUITE_P(Messages, WireDescribe, ::testing::ValuesIn(DescribeCases()),
                         [](const ::testing::TestParamInfo<DescribeCase> &info) { return info.param.name; });

TEST(WireDescribeMalformed, NamesTheFirstError) {
	EXPECT_EQ(Describe(""), "malformed message: message truncated at offset 0");
	EXPECT_EQ(Describe("X"), "malformed message: unknown message type at offset 0");
	EXPECT_EQ(Describe("C" + std::string(24, '\0') + "!"),
	          "malformed message: trailing bytes after message at offset 25");
	EXPECT_EQ(Describe("I" + BigEndian(1, 4) + BigEndian(2, 2) + "n"),
	          "malformed message: message truncated at offset 8");
}

TEST(WireFormatLsn, PrintsLikePostgres) {
	EXPECT_EQ(FormatLsn(0), "0/0");
	EXPECT_EQ(FormatLsn(0x16B3748), "0/16B3748");
	EXPECT_EQ(FormatLsn(0x100000000), "1/0");
	EXPECT_EQ(FormatLsn(0x0000000AFFFFFFFF), "A/FFFFFFFF");
	EXPECT_EQ(FormatLsn(std::numeric_limits<uint64_t>::max()), "FFFFFFFF/FFFFFFFF");
}

/* ---------------------------------------------------------------------------
 * Seeded mutation: never crash, never over-read, accept only canonical bytes
 * ------------------------------------------------------------------------- */

std::string Mutate(std::string bytes, std::mt19937_64 &rng) {
	int mutations = 1 + static_cast<int>(rng() % 4);
	for (int i = 0; i < mutations; i++) {
		size_t at = bytes.empty() ? 0 : rng() % bytes.size();
		switch (rng() % 6) {
		case 0: /* overwrite one byte */
			if (!bytes.empty())
				bytes[at] = static_cast<char>(rng());
			break;
		case 1: /* cut */
			bytes.resize(at);
			break;
		case 2: /* insert a byte */
			bytes.insert(bytes.begin() + static_cast<std::ptrdiff_t>(at), static_cast<char>(rng()));
			break;
		case 3: /* delete a byte */
			if (!bytes.empty())
				bytes.erase(at, 1);
			break;
		default: { /* a hostile 32-bit length or count somewhere */
			static const uint32_t kHostile[] = {0, 1, 0x7FFFFFFF, 0x3FFFFFFF, 0x40000000, 0xFFFFFFFF, 0xFFFF};
			std::string v = BigEndian(kHostile[rng() % (sizeof(kHostile) / sizeof(kHostile[0]))], 4);
			if (bytes.size() >= 4)
				bytes.replace(rng() % (bytes.size() - 3), 4, v);
			break;
		}
		}
	}
	return bytes;
}

TEST(WireFuzz, AcceptedInputIsCanonicalAndRejectedInputIsReported) {
	std::vector<std::string> seeds;
	for (const Case &c : RoundTripCases()) {
		std::string bytes = Encode(c.make());
		if (bytes.size() <= 1024)
			seeds.push_back(bytes);
	}
	ASSERT_GT(seeds.size(), 20u);
	std::mt19937_64 rng(0xC0C0A);
	size_t accepted = 0;
	for (int iter = 0; iter < 30000 && !HasFailure(); iter++) {
		std::string bytes = Mutate(seeds[rng() % seeds.size()], rng);
		Decoded d = Decode(bytes);
		std::string description = Describe(bytes);
		if (d.ok) {
			accepted++;
			EXPECT_EQ(Encode(d.message), bytes) << "iteration " << iter;
			EXPECT_FALSE(IsMalformed(description)) << "iteration " << iter;
		} else {
			EXPECT_LE(d.error_offset, bytes.size()) << "iteration " << iter;
			EXPECT_EQ(description, "malformed message: " + d.error + " at offset " + std::to_string(d.error_offset))
			    << "iteration " << iter;
		}
	}
	/* Some mutations (a changed value byte, say) keep the message well formed. */
	EXPECT_GT(accepted, 100u);
}

TEST(WireFuzz, RandomBytesNeverCrash) {
	std::mt19937_64 rng(42);
	const std::string types = "BRIUDTC";
	for (int iter = 0; iter < 20000 && !HasFailure(); iter++) {
		std::string bytes(rng() % 48, '\0');
		for (char &c : bytes)
			c = static_cast<char>(rng() % 8 == 0 ? 0xFF : rng() % 4);
		if (!bytes.empty() && rng() % 2 == 0)
			bytes[0] = types[rng() % types.size()];
		Decoded d = Decode(bytes);
		if (d.ok)
			EXPECT_EQ(Encode(d.message), bytes) << "iteration " << iter;
		else
			EXPECT_LE(d.error_offset, bytes.size()) << "iteration " << iter;
		EXPECT_EQ(IsMalformed(Describe(bytes)), !d.ok) << "iteration " << iter;
	}
}

} // namespace
} // namespace concord::protocol

/* ---- Batches: length-prefixed messages in one frame -------------------------- */

namespace concord::protocol {
namespace {

/* A sink that can patch a length written earlier, as the output plugin's is. */
struct PatchableSink {
	std::string bytes;
	void Append(const char *data, size_t len) { bytes.append(data, len); }
	size_t size() const { return bytes.size(); }
	void Patch(size_t offset, const char *data, size_t len) { bytes.replace(offset, len, data, len); }
};

std::string Encoded(void (*write)(Writer<StringSink> &)) {
	StringSink sink;
	Writer<StringSink> w(sink);
	write(w);
	return sink.bytes;
}

TEST(Batch, FramerWritesEachMessageWithItsLength) {
	PatchableSink sink;
	MessageFramer<PatchableSink> framer(sink);
	Writer<PatchableSink> w(sink);
	framer.Start();
	w.Begin(BeginMessage{1, 2, 3, "n1"});
	framer.Finish();
	framer.Start();
	w.Commit(CommitMessage{4, 5, 6});
	framer.Finish();

	std::string begin = Encoded([](Writer<StringSink> &x) { x.Begin(BeginMessage{1, 2, 3, "n1"}); });
	std::string commit = Encoded([](Writer<StringSink> &x) { x.Commit(CommitMessage{4, 5, 6}); });
	EXPECT_EQ(sink.bytes, FrameMessage(begin) + FrameMessage(commit));

	PayloadReader payload(sink.bytes.data(), sink.bytes.size());
	const char *m;
	size_t len;
	ASSERT_TRUE(payload.Next(&m, &len));
	EXPECT_EQ(std::string(m, len), begin);
	ASSERT_TRUE(payload.Next(&m, &len));
	EXPECT_EQ(std::string(m, len), commit);
	EXPECT_FALSE(payload.Next(&m, &len));
	EXPECT_TRUE(payload.ok());
}

TEST(Batch, EmptyPayloadHoldsNoMessage) {
	PayloadReader payload("", 0);
	const char *m;
	size_t len;
	EXPECT_FALSE(payload.Next(&m, &len));
	EXPECT_TRUE(payload.ok());
}

TEST(Batch, TruncatedLengthOrMessageIsMalformedAtEveryCut) {
	std::string commit = Encoded([](Writer<StringSink> &x) { x.Commit(CommitMessage{4, 5, 6}); });
	std::string framed = FrameMessage(commit);
	for (size_t cut = 1; cut < framed.size(); cut++) {
		std::string bytes = framed.substr(0, cut);
		PayloadReader payload(bytes.data(), bytes.size());
		const char *m;
		size_t len;
		EXPECT_FALSE(payload.Next(&m, &len)) << "cut at " << cut;
		EXPECT_FALSE(payload.ok()) << "cut at " << cut;
	}
}

TEST(Batch, ZeroLengthMessageIsMalformed) {
	std::string bytes(4, '\0');
	PayloadReader payload(bytes.data(), bytes.size());
	const char *m;
	size_t len;
	EXPECT_FALSE(payload.Next(&m, &len));
	EXPECT_FALSE(payload.ok());
	EXPECT_STREQ(payload.error(), "empty message in payload");
}

TEST(Batch, DescribePayloadRendersOneLinePerMessage) {
	std::string begin = Encoded([](Writer<StringSink> &x) { x.Begin(BeginMessage{1, 2, 3, "n1"}); });
	std::string commit = Encoded([](Writer<StringSink> &x) { x.Commit(CommitMessage{4, 5, 6}); });
	std::string framed = FrameMessage(begin) + FrameMessage(commit);
	EXPECT_EQ(DescribePayload(framed.data(), framed.size()), "BEGIN origin n1\nCOMMIT");
	std::string truncated = framed.substr(0, framed.size() - 1);
	EXPECT_EQ(DescribePayload(truncated.data(), truncated.size()).rfind("BEGIN origin n1\nmalformed payload: ", 0), 0u);
	EXPECT_EQ(DescribePayload("", 0), "malformed payload: no message");
}

} // namespace
} // namespace concord::protocol
