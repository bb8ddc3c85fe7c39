/*
 * stream_frame_test.cpp — the COPY BOTH envelope (common/protocol/stream_frame.{hpp,cpp}).
 *
 * Parses 'w' XLogData and 'k' keepalive frames laid out as PostgreSQL's
 * walsender sends them, rejects every short frame and unknown type, and
 * builds 'r' standby status updates byte for byte.  Frames are parsed from
 * exactly-sized heap buffers so ASan catches any read past the end.
 */
#include "common/protocol/stream_frame.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "tests/unit/support/support.hpp"

namespace concord::protocol {
namespace {

using test::BigEndian;
using test::Bytes;
using test::ExactBuffer;

std::string XLogData(uint64_t data_start, uint64_t wal_end, int64_t send_time, const std::string &payload) {
	return "w" + BigEndian(data_start, 8) + BigEndian(wal_end, 8) + BigEndian(static_cast<uint64_t>(send_time), 8) +
	       payload;
}

std::string Keepalive(uint64_t wal_end, int64_t send_time, uint8_t reply) {
	return "k" + BigEndian(wal_end, 8) + BigEndian(static_cast<uint64_t>(send_time), 8) + Bytes({reply});
}

struct Parsed {
	bool ok = false;
	Frame frame;
	std::string error;
	std::string payload; /* copied out while the buffer lives */
	size_t payload_offset = 0;
};

Parsed Parse(const std::string &bytes, Frame start = Frame{}) {
	ExactBuffer buf(bytes);
	Parsed p;
	p.frame = start;
	const char *error = nullptr;
	p.ok = ParseFrame(buf.data(), buf.size(), &p.frame, &error);
	if (!p.ok) {
		EXPECT_NE(error, nullptr);
		p.error = error != nullptr ? error : "";
	} else if (p.frame.payload != nullptr) {
		p.payload_offset = static_cast<size_t>(p.frame.payload - buf.data());
		p.payload.assign(p.frame.payload, p.frame.payload_len);
	}
	return p;
}

/* ---- XLogData -------------------------------------------------------------- */

struct XLogCase {
	std::string name;
	uint64_t data_start;
	uint64_t wal_end;
	int64_t send_time;
	std::string payload;
};

class StreamFrameXLogData : public ::testing::TestWithParam<XLogCase> {};

TEST_P(StreamFrameXLogData, ParsesHeaderAndPayload) {
	const XLogCase &c = GetParam();
	Parsed p = Parse(XLogData(c.data_start, c.wal_end, c.send_time, c.payload));
	ASSERT_TRUE(p.ok) << p.error;
	EXPECT_EQ(p.frame.type, FrameType::kXLogData);
	EXPECT_EQ(p.frame.data_start, c.data_start);
	EXPECT_EQ(p.frame.wal_end, c.wal_end);
	EXPECT_EQ(p.frame.send_time, c.send_time);
	EXPECT_FALSE(p.frame.reply_requested);
	ASSERT_NE(p.frame.payload, nullptr);
	EXPECT_EQ(p.payload_offset, 25u);
	EXPECT_EQ(p.frame.payload_len, c.payload.size());
	EXPECT_EQ(p.payload, c.payload);
}

TEST_P(StreamFrameXLogData, EveryShortHeaderIsRejected) {
	const XLogCase &c = GetParam();
	std::string bytes = XLogData(c.data_start, c.wal_end, c.send_time, c.payload);
	for (size_t n = 0; n < 25; n++) {
		Parsed p = Parse(bytes.substr(0, n));
		ASSERT_FALSE(p.ok) << n << " bytes accepted";
		EXPECT_EQ(p.error, n == 0 ? "empty replication frame" : "truncated XLogData frame") << n << " bytes";
	}
}

INSTANTIATE_TEST_SUITE_P(
    Frames, StreamFrameXLogData,
    ::testing::Values(XLogCase{"EmptyPayload", 0x16B3748, 0x16B3790, 1234, ""},
                      XLogCase{"Begin", 1, 2, 3, "B" + std::string(24, '\0')},
                      XLogCase{"PayloadWithNuls", 0, 0, 0, std::string("\0\0\0", 3)},
                      XLogCase{"Extremes", std::numeric_limits<uint64_t>::max(), std::numeric_limits<uint64_t>::max(),
                               std::numeric_limits<int64_t>::min(), "x"},
                      XLogCase{"NegativeTime", 0x0102030405060708, 0x1112131415161718, -1, std::string(70000, 'p')}),
    [](const ::testing::TestParamInfo<XLogCase> &info) { return info.param.name; });

TEST(StreamFrameLayout, XLogDataFieldsAreBigEndian) {
	std::string bytes = "w" + Bytes({1, 2, 3, 4, 5, 6, 7, 8}) +
	                    Bytes({0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18}) +
	                    Bytes({0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE}) + "pay";
	Parsed p = Parse(bytes);
	ASSERT_TRUE(p.ok);
	EXPECT_EQ(p.frame.data_start, 0x0102030405060708u);
	EXPECT_EQ(p.frame.wal_end, 0x1112131415161718u);
	EXPECT_EQ(p.frame.send_time, -2);
	EXPECT_EQ(p.payload, "pay");
}

/* ---- keepalive ------------------------------------------------------------- */

struct KeepaliveCase {
	std::string name;
	uint64_t wal_end;
	int64_t send_time;
	uint8_t reply_byte;
	bool reply_requested;
};

class StreamFrameKeepalive : public ::testing::TestWithParam<KeepaliveCase> {};

TEST_P(StreamFrameKeepalive, Parses) {
	const KeepaliveCase &c = GetParam();
	Parsed p = Parse(Keepalive(c.wal_end, c.send_time, c.reply_byte));
	ASSERT_TRUE(p.ok) << p.error;
	EXPECT_EQ(p.frame.type, FrameType::kKeepalive);
	EXPECT_EQ(p.frame.wal_end, c.wal_end);
	EXPECT_EQ(p.frame.send_time, c.send_time);
	EXPECT_EQ(p.frame.reply_requested, c.reply_requested);
	EXPECT_EQ(p.frame.data_start, 0u);
	EXPECT_EQ(p.frame.payload, nullptr);
	EXPECT_EQ(p.frame.payload_len, 0u);
}

TEST_P(StreamFrameKeepalive, EveryShortFrameIsRejected) {
	const KeepaliveCase &c = GetParam();
	std::string bytes = Keepalive(c.wal_end, c.send_time, c.reply_byte);
	ASSERT_EQ(bytes.size(), 18u);
	for (size_t n = 0; n < bytes.size(); n++) {
		Parsed p = Parse(bytes.substr(0, n));
		ASSERT_FALSE(p.ok) << n << " bytes accepted";
		EXPECT_EQ(p.error, n == 0 ? "empty replication frame" : "truncated keepalive frame") << n << " bytes";
	}
}

INSTANTIATE_TEST_SUITE_P(Frames, StreamFrameKeepalive,
                         ::testing::Values(KeepaliveCase{"NoReply", 0x16B3790, 777, 0, false},
                                           KeepaliveCase{"ReplyRequested", 0x16B3790, 777, 1, true},
                                           KeepaliveCase{"AnyNonZeroIsTrue", 5, -5, 0x80, true},
                                           KeepaliveCase{"Extremes", std::numeric_limits<uint64_t>::max(),
                                                         std::numeric_limits<int64_t>::max(), 0xFF, true}),
                         [](const ::testing::TestParamInfo<KeepaliveCase> &info) { return info.param.name; });

/* ---- reuse of one Frame across calls, unknown types ------------------------- */

TEST(StreamFrame, KeepaliveAfterXLogDataClearsThePayload) {
	Parsed w = Parse(XLogData(10, 20, 30, "abc"));
	ASSERT_TRUE(w.ok);
	Parsed k = Parse(Keepalive(40, 50, 1), w.frame);
	ASSERT_TRUE(k.ok);
	EXPECT_EQ(k.frame.type, FrameType::kKeepalive);
	EXPECT_EQ(k.frame.payload, nullptr);
	EXPECT_EQ(k.frame.payload_len, 0u);
	EXPECT_EQ(k.frame.data_start, 0u);
	EXPECT_EQ(k.frame.wal_end, 40u);
	EXPECT_TRUE(k.frame.reply_requested);
}

TEST(StreamFrame, XLogDataAfterKeepaliveClearsReplyRequested) {
	Parsed k = Parse(Keepalive(40, 50, 1));
	ASSERT_TRUE(k.ok && k.frame.reply_requested);
	Parsed w = Parse(XLogData(10, 20, 30, ""), k.frame);
	ASSERT_TRUE(w.ok);
	EXPECT_EQ(w.frame.type, FrameType::kXLogData);
	EXPECT_FALSE(w.frame.reply_requested);
	EXPECT_EQ(w.frame.data_start, 10u);
}

TEST(StreamFrame, UnknownTypesAreRejected) {
	for (int b = 0; b < 256; b++) {
		if (b == 'w' || b == 'k')
			continue;
		std::string bytes = std::string(1, static_cast<char>(b)) + std::string(33, '\0');
		Parsed p = Parse(bytes);
		EXPECT_FALSE(p.ok) << "type byte " << b;
		EXPECT_EQ(p.error, "unknown replication frame type") << "type byte " << b;
	}
}

/* ---- standby status update ------------------------------------------------- */

struct StatusCase {
	std::string name;
	uint64_t written;
	uint64_t flushed;
	uint64_t applied;
	int64_t send_time;
	bool reply;
	std::string expected;
};

class StreamFrameStatus : public ::testing::TestWithParam<StatusCase> {};

TEST_P(StreamFrameStatus, BuildsExactBytes) {
	const StatusCase &c = GetParam();
	ASSERT_EQ(c.expected.size(), kStatusUpdateSize);
	std::vector<char> buf(kStatusUpdateSize);
	BuildStatusUpdate(c.written, c.flushed, c.applied, c.send_time, c.reply, buf.data());
	EXPECT_EQ(std::string(buf.data(), buf.size()), c.expected);
}

TEST_P(StreamFrameStatus, WritesNothingBeyondItsSize) {
	const StatusCase &c = GetParam();
	std::vector<char> buf(kStatusUpdateSize + 16, '\x5A');
	BuildStatusUpdate(c.written, c.flushed, c.applied, c.send_time, c.reply, buf.data() + 8);
	EXPECT_EQ(std::string(buf.data(), 8), std::string(8, '\x5A'));
	EXPECT_EQ(std::string(buf.data() + 8, kStatusUpdateSize), c.expected);
	EXPECT_EQ(std::string(buf.data() + 8 + kStatusUpdateSize, 8), std::string(8, '\x5A'));
}

INSTANTIATE_TEST_SUITE_P(
    Replies, StreamFrameStatus,
    ::testing::Values(StatusCase{"Zero", 0, 0, 0, 0, false, "r" + std::string(33, '\0')},
                      StatusCase{"Typical", 0x16B3790, 0x16B3748, 0x16B3748, 760000000000000, false,
                                 "r" + BigEndian(0x16B3790, 8) + BigEndian(0x16B3748, 8) + BigEndian(0x16B3748, 8) +
                                     BigEndian(760000000000000, 8) + Bytes({0})},
                      StatusCase{"ReplyAndNegativeTime", 1, 2, 3, -2, true,
                                 "r" + BigEndian(1, 8) + BigEndian(2, 8) + BigEndian(3, 8) +
                                     Bytes({0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE}) + Bytes({1})},
                      StatusCase{"Extremes", std::numeric_limits<uint64_t>::max(), 0x8000000000000000,
                                 0x0102030405060708, std::numeric_limits<int64_t>::min(), true,
                                 "r" + std::string(8, '\xFF') + BigEndian(0x8000000000000000, 8) +
                                     Bytes({1, 2, 3, 4, 5, 6, 7, 8}) + BigEndian(0x8000000000000000, 8) + Bytes({1})}),
    [](const ::testing::TestParamInfo<StatusCase> &info) { return info.param.name; });

TEST(StreamFrameLayout, StatusUpdateSizeIsWhatPostgresExpects) {
	/* 'r' + written + flushed + applied + send time + reply flag */
	EXPECT_EQ(kStatusUpdateSize, 34u);
}

} // namespace
} // namespace concord::protocol

namespace concord::protocol {
namespace {

TEST(Keepalive, ExtraBytesAreRefused) {
	/* A keepalive is exactly 18 bytes, as PostgreSQL's walreceiver insists; found by the fuzzer. */
	Parsed p = Parse(Keepalive(1, 2, 0) + "x");
	EXPECT_FALSE(p.ok);
	EXPECT_EQ(p.error, "oversized keepalive frame");
}

} // namespace
} // namespace concord::protocol
