/*
 * make_corpus.cpp — writes the fuzzers' seed corpus (tests/fuzz/corpus/).
 *
 *   build/fuzz/make_corpus tests/fuzz/corpus     # or: make -C tests/fuzz corpus
 *
 * Every valid seed is built with the codec's Writer (through Encode), so the
 * seeds are what the output plugin sends; the broken ones are valid encodings
 * cut short, extended, or with one field made hostile.  Before writing, each
 * seed is run through the same decoding the fuzzers use and must end the way
 * its name says (applied, malformed or rejected): the generator is its own
 * test, and a codec change that alters a verdict stops it.
 *
 * Output is deterministic; scripts/test/fuzz.sh regenerates it and fails if
 * the committed corpus differs.
 */
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common/protocol/wire.hpp"
#include "tests/fuzz/support/apply_session.hpp"
#include "tests/fuzz/support/messages.hpp"

namespace concord::fuzz {
namespace {

std::string out_dir;
int written = 0;

[[noreturn]] void Die(const std::string &what) {
	std::fprintf(stderr, "make_corpus: %s\n", what.c_str());
	std::exit(1);
}

void MakeDir(const std::string &path) {
	if (mkdir(path.c_str(), 0755) != 0 && errno != EEXIST)
		Die("cannot create " + path + ": " + std::strerror(errno));
}

void WriteSeed(const std::string &target, const std::string &name, const std::string &bytes) {
	MakeDir(out_dir + "/" + target);
	std::string path = out_dir + "/" + target + "/" + name;
	FILE *f = std::fopen(path.c_str(), "wb");
	if (f == nullptr || std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size() || std::fclose(f) != 0)
		Die("cannot write " + path);
	written++;
}

/* ---- sample data -------------------------------------------------------------- */

constexpr uint32_t kAccounts = 16384;
constexpr uint32_t kOrders = 16390;

OwnedValue Null() { return {ValueKind::kNull, {}}; }
OwnedValue Unchanged() { return {ValueKind::kUnchanged, {}}; }
OwnedValue Text(std::string s) { return {ValueKind::kText, std::move(s)}; }

/* public.accounts (id int4 key, owner text, balance numeric, note text) */
Relation Accounts() {
	return Relation{kAccounts,
	                "public",
	                "accounts",
	                'd',
	                {{1, "id", 23, -1}, {0, "owner", 25, -1}, {0, "balance", 1700, 655366}, {0, "note", 25, -1}}};
}

/* "Sales Dept"."order; lines" (two-column key; quoted identifiers as peers may send them). */
Relation Orders() {
	return Relation{kOrders,
	                "Sales Dept",
	                "order; lines",
	                'f',
	                {{1, "order id", 20, -1}, {1, "line", 23, -1}, {0, "select", 25, -1}}};
}

Tuple AccountRow(const std::string &id, const std::string &owner) {
	return {Text(id), Text(owner), Text("10.50"), Text("it's \"quoted\" \xc3\xa9")};
}

Begin SampleBegin(uint64_t lsn) { return Begin{lsn, 790000000000000, 731, "node_b"}; }
Commit SampleCommit(uint64_t lsn) { return Commit{lsn, lsn + 0x28, 790000000000123}; }

/* ---- streams for apply_decoder ---------------------------------------------------- */

class Stream {
public:
	Stream &Frame(std::string frame) {
		frames_.push_back(std::move(frame));
		return *this;
	}
	Stream &Msg(const Message &m) {
		lsn_ += 0x40;
		return Frame(XLogDataFrame(lsn_, lsn_ + 0x40, 790000000000000 + static_cast<int64_t>(lsn_),
		                           protocol::FrameMessage(Encode(m))));
	}
	Stream &Raw(const std::string &payload) {
		lsn_ += 0x40;
		return Frame(XLogDataFrame(lsn_, lsn_ + 0x40, 0, protocol::FrameMessage(payload)));
	}
	Stream &Keepalive(bool reply) { return Frame(KeepaliveFrame(lsn_, 790000000000999, reply)); }

	std::string Bytes() const {
		std::string s;
		for (const std::string &f : frames_)
			AppendFrame(&s, f);
		return s;
	}

private:
	std::vector<std::string> frames_;
	uint64_t lsn_ = 0x16B3700;
};

/* Runs the stream as the fuzzer does and checks the last verdict. */
void ApplySeed(const std::string &name, const Stream &stream, Verdict expected) {
	std::string bytes = stream.Bytes();
	ApplySession session;
	Verdict last = Verdict::kApplied;
	std::string error;
	for (std::string_view f : SplitFrames(reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size())) {
		ExactBuffer frame(f);
		Outcome out = session.HandleFrame(frame.data(), frame.size());
		last = out.verdict;
		error = out.error;
		if (last != Verdict::kApplied)
			break;
	}
	if (last != expected)
		Die("apply_decoder seed " + name + " ended " + std::to_string(static_cast<int>(last)) + " (" + error +
		    "), expected " + std::to_string(static_cast<int>(expected)));
	WriteSeed("apply_decoder", name, bytes);
}

std::string Cut(std::string s, size_t drop) { return s.substr(0, s.size() - drop); }

/* An INSERT into accounts whose first text value claims `len` bytes. */
std::string InsertWithLength(uint32_t len, const std::string &data) {
	std::string row = Encode(Insert{kAccounts, {Null(), Null(), Null(), Null()}});
	/* 'I', relid, ncols, then the four values: replace the first with a text value. */
	std::string head = row.substr(0, 1 + 4 + 2);
	protocol::StringSink sink;
	protocol::Writer<protocol::StringSink> w(sink);
	w.PutU8(static_cast<uint8_t>(ValueKind::kText));
	w.PutU32(len);
	return head + sink.bytes + data + row.substr(1 + 4 + 2 + 1);
}

void ApplyDecoderSeeds() {
	const Relation accounts = Accounts(), orders = Orders();
	const Tuple row1 = AccountRow("1", "alice");
	const Tuple key1 = {Text("1"), Null(), Null(), Null()};

	ApplySeed("keepalive", Stream().Keepalive(false).Keepalive(true), Verdict::kApplied);
	ApplySeed("begin_commit", Stream().Msg(SampleBegin(1)).Keepalive(false).Msg(SampleCommit(1)), Verdict::kApplied);
	ApplySeed("clock", Stream().Msg(Clock{790000000000123}).Msg(SampleBegin(1)).Msg(SampleCommit(1)).Msg(Clock{790000000000456}),
	          Verdict::kApplied);
	ApplySeed("insert", Stream().Msg(accounts).Msg(SampleBegin(2)).Msg(Insert{kAccounts, row1}).Msg(SampleCommit(2)),
	          Verdict::kApplied);
	ApplySeed("update_none",
	          Stream()
	              .Msg(SampleBegin(3))
	              .Msg(accounts)
	              .Msg(Update{kAccounts, OldTupleKind::kNone, {}, {Text("1"), Text("bob"), Unchanged(), Null()}})
	              .Msg(SampleCommit(3)),
	          Verdict::kApplied);
	ApplySeed("update_key",
	          Stream()
	              .Msg(accounts)
	              .Msg(SampleBegin(4))
	              .Msg(Update{kAccounts, OldTupleKind::kKey, key1, AccountRow("2", "alice")})
	              .Msg(SampleCommit(4)),
	          Verdict::kApplied);
	ApplySeed("update_full",
	          Stream()
	              .Msg(accounts)
	              .Msg(SampleBegin(5))
	              .Msg(Update{kAccounts, OldTupleKind::kFull, row1, AccountRow("1", "carol")})
	              .Msg(SampleCommit(5)),
	          Verdict::kApplied);
	ApplySeed("delete_key",
	          Stream()
	              .Msg(accounts)
	              .Msg(SampleBegin(6))
	              .Msg(Delete{kAccounts, OldTupleKind::kKey, key1})
	              .Msg(SampleCommit(6)),
	          Verdict::kApplied);
	ApplySeed("delete_full",
	          Stream()
	              .Msg(accounts)
	              .Msg(SampleBegin(7))
	              .Msg(Delete{kAccounts, OldTupleKind::kFull, row1})
	              .Msg(SampleCommit(7)),
	          Verdict::kApplied);
	ApplySeed("truncate",
	          Stream()
	              .Msg(accounts)
	              .Msg(orders)
	              .Msg(SampleBegin(8))
	              .Msg(Truncate{protocol::kTruncateCascade | protocol::kTruncateRestartIdentity, {kAccounts, kOrders}})
	              .Msg(SampleCommit(8)),
	          Verdict::kApplied);
	ApplySeed("mixed",
	          Stream()
	              .Keepalive(false)
	              .Msg(SampleBegin(9))
	              .Msg(accounts)
	              .Msg(orders)
	              .Msg(Insert{kAccounts, row1})
	              .Msg(Insert{kOrders, {Text("9000000000"), Text("1"), Text("")}})
	              .Msg(Update{kOrders,
	                          OldTupleKind::kKey,
	                          {Text("9000000000"), Text("1"), Null()},
	                          {Text("9000000000"), Text("2"), Unchanged()}})
	              .Msg(Delete{kAccounts, OldTupleKind::kKey, key1})
	              .Msg(SampleCommit(9))
	              .Keepalive(true)
	              .Msg(SampleBegin(10))
	              .Msg(Truncate{0, {kOrders}})
	              .Msg(SampleCommit(10)),
	          Verdict::kApplied);
	{
		Relation wide{16400, "public", "wide", 'd', {}};
		Tuple row;
		for (int i = 0; i < 300; i++) {
			wide.columns.push_back(Column{static_cast<uint8_t>(i == 0 ? 1 : 0), "c" + std::to_string(i), 25, -1});
			row.push_back(i % 3 == 0 ? Null() : Text(std::string(static_cast<size_t>(i % 17), 'x')));
		}
		ApplySeed("wide_tuple", Stream().Msg(wide).Msg(SampleBegin(11)).Msg(Insert{16400, row}).Msg(SampleCommit(11)),
		          Verdict::kApplied);
	}

	/* Malformed: the Reader or ParseFrame refuses. */
	ApplySeed("truncated_insert",
	          Stream().Msg(accounts).Msg(SampleBegin(12)).Raw(Cut(Encode(Insert{kAccounts, row1}), 1)),
	          Verdict::kMalformed);
	ApplySeed("truncated_relation", Stream().Raw(Cut(Encode(accounts), 7)), Verdict::kMalformed);
	ApplySeed("oversized_commit", Stream().Msg(SampleBegin(13)).Raw(Encode(SampleCommit(13)) + "x"),
	          Verdict::kMalformed);
	ApplySeed("oversized_relation", Stream().Raw(Encode(accounts) + std::string(4, '\0')), Verdict::kMalformed);
	ApplySeed("value_length_huge", Stream().Msg(accounts).Msg(SampleBegin(14)).Raw(InsertWithLength(0xFFFFFFFF, "1")),
	          Verdict::kMalformed);
	ApplySeed("value_length_beyond",
	          Stream().Msg(accounts).Msg(SampleBegin(15)).Raw(InsertWithLength(1000, "0123456789")),
	          Verdict::kMalformed);
	{
		std::string t = Encode(Truncate{0, {}});
		t[2] = '\x40'; /* nrels 0x40000000 with no relids behind it */
		ApplySeed("truncate_count_huge", Stream().Msg(accounts).Msg(SampleBegin(16)).Raw(t), Verdict::kMalformed);
	}
	{
		Relation r = accounts;
		r.columns.resize(1);
		std::string bytes = Encode(r);
		size_t natts_at = 1 + 4 + 4 + r.nspname.size() + 4 + r.relname.size() + 1;
		bytes[natts_at] = '\xff';
		bytes[natts_at + 1] = '\xff'; /* 65535 columns announced, one sent */
		ApplySeed("relation_natts_short", Stream().Raw(bytes), Verdict::kMalformed);
	}
	ApplySeed("unknown_message_type", Stream().Raw("X"), Verdict::kMalformed);
	ApplySeed("unknown_old_kind",
	          Stream()
	              .Msg(accounts)
	              .Msg(SampleBegin(17))
	              .Raw(Encode(Delete{kAccounts, OldTupleKind::kKey, key1}).replace(5, 1, "Z")),
	          Verdict::kMalformed);
	ApplySeed("empty_payload", Stream().Raw(""), Verdict::kMalformed);
	ApplySeed("empty_frame", Stream().Frame(""), Verdict::kMalformed);
	ApplySeed("unknown_frame_type", Stream().Frame("x" + std::string(24, '\0')), Verdict::kMalformed);
	ApplySeed("short_xlogdata", Stream().Frame(Cut(XLogDataFrame(1, 2, 3, ""), 1)), Verdict::kMalformed);
	ApplySeed("short_keepalive", Stream().Frame(Cut(KeepaliveFrame(1, 2, true), 1)), Verdict::kMalformed);
	ApplySeed("oversized_keepalive", Stream().Frame(KeepaliveFrame(1, 2, true) + "x"), Verdict::kMalformed);

	/* Well-formed but refused by the worker. */
	ApplySeed("change_outside_xact", Stream().Msg(accounts).Msg(Insert{kAccounts, row1}), Verdict::kRejected);
	ApplySeed("commit_outside_xact", Stream().Msg(SampleCommit(18)), Verdict::kRejected);
	ApplySeed("clock_inside_xact", Stream().Msg(SampleBegin(18)).Msg(Clock{790000000000123}), Verdict::kRejected);
	ApplySeed("nested_begin", Stream().Msg(SampleBegin(19)).Msg(SampleBegin(20)), Verdict::kRejected);
	ApplySeed("unknown_relation", Stream().Msg(SampleBegin(21)).Msg(Insert{kAccounts, row1}), Verdict::kRejected);
	ApplySeed("column_count_mismatch",
	          Stream().Msg(accounts).Msg(SampleBegin(22)).Msg(Insert{kAccounts, {Text("1"), Text("x")}}),
	          Verdict::kRejected);
	ApplySeed("binary_value",
	          Stream()
	              .Msg(accounts)
	              .Msg(SampleBegin(23))
	              .Msg(Insert{kAccounts, {{ValueKind::kBinary, std::string("\0\0\0\1", 4)}, Null(), Null(), Null()}}),
	          Verdict::kRejected);
	{
		Relation keyless = accounts;
		keyless.columns[0].flags = 0;
		ApplySeed("relation_without_key", Stream().Msg(keyless).Msg(SampleBegin(24)).Msg(Insert{kAccounts, row1}),
		          Verdict::kRejected);
	}
}

/* ---- single messages for describe --------------------------------------------------- */

void DescribeSeed(const std::string &name, const std::string &bytes, bool expect_ok) {
	ExactBuffer buf(bytes);
	Decoded d = Decode(buf.data(), buf.size());
	CheckDescribeAgrees(buf.data(), buf.size(), d);
	if (d.ok != expect_ok)
		Die("describe seed " + name + (d.ok ? " was accepted" : std::string(" was refused: ") + d.error));
	WriteSeed("describe", name, bytes);
}

void DescribeSeeds() {
	const Tuple every_kind = {Null(), Unchanged(), Text("it's"), {ValueKind::kBinary, std::string("\0\xff", 2)}};
	const std::vector<std::pair<std::string, Message>> valid = {
	    {"begin", SampleBegin(1)},
	    {"commit", SampleCommit(1)},
	    {"clock", Clock{790000000000123}},
	    {"relation", Accounts()},
	    {"relation_quoted", Orders()},
	    {"insert", Insert{kAccounts, every_kind}},
	    {"insert_empty", Insert{kAccounts, {}}},
	    {"update_none", Update{kAccounts, OldTupleKind::kNone, {}, every_kind}},
	    {"update_key", Update{kAccounts, OldTupleKind::kKey, {Text("1")}, every_kind}},
	    {"update_full", Update{kAccounts, OldTupleKind::kFull, every_kind, every_kind}},
	    {"delete_key", Delete{kAccounts, OldTupleKind::kKey, {Text("1"), Null()}}},
	    {"delete_full", Delete{kAccounts, OldTupleKind::kFull, every_kind}},
	    {"truncate", Truncate{protocol::kTruncateCascade | protocol::kTruncateRestartIdentity, {kAccounts, kOrders}}},
	    {"truncate_none", Truncate{0, {}}},
	};
	for (const auto &[name, m] : valid) {
		std::string bytes = Encode(m);
		DescribeSeed(name, bytes, true);
		DescribeSeed(name + "_truncated", Cut(bytes, 1), false);
		DescribeSeed(name + "_oversized", bytes + "\x01", false);
	}
	DescribeSeed("empty", "", false);
	DescribeSeed("unknown_type", "X", false);
	DescribeSeed("value_length_huge", InsertWithLength(0xFFFFFFFF, "1"), false);
	DescribeSeed("value_length_beyond", InsertWithLength(1000, "0123456789"), false);
	DescribeSeed("empty_relation_name", Encode(Relation{1, "", "t", 'd', {}}), false);
	DescribeSeed("empty_column_name", Encode(Relation{1, "s", "t", 'd', {{1, "", 23, -1}}}), false);
}

/* ---- roundtrip: inputs only choose values, so any bytes do -------------------------- */

void RoundtripSeeds() {
	std::mt19937 random(20240601);
	for (size_t size : {0, 1, 16, 64, 256, 1024, 4096}) {
		std::string bytes(size, '\0');
		for (char &c : bytes)
			c = static_cast<char>(random() & 0xFF);
		WriteSeed("roundtrip", "random_" + std::to_string(size), bytes);
	}
	/* Leading bytes pick the check; the message seeds make good value streams. */
	for (const char *name : {"relation", "update_full", "truncate"}) {
		Message m = std::string(name) == "relation" ? Message(Accounts())
		            : std::string(name) == "update_full"
		                ? Message(Update{kAccounts, OldTupleKind::kFull, AccountRow("1", "a"), AccountRow("1", "b")})
		                : Message(Truncate{3, {kAccounts, kOrders}});
		WriteSeed("roundtrip", std::string("message_") + name, Encode(m));
	}
}

} // namespace
} // namespace concord::fuzz

int main(int argc, char **argv) {
	using namespace concord::fuzz;
	if (argc != 2) {
		std::fprintf(stderr, "usage: %s OUTPUT_DIR\n", argv[0]);
		return 2;
	}
	out_dir = argv[1];
	MakeDir(out_dir);
	ApplyDecoderSeeds();
	DescribeSeeds();
	RoundtripSeeds();
	std::printf("make_corpus: %d seeds written to %s\n", written, out_dir.c_str());
	return 0;
}
