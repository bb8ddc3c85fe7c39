/*
 * stream_frame.hpp — the streaming-replication envelope around concord messages
 * (pure C++).  Inside COPY BOTH the server sends
 *   'w' XLogData:  u64 data_start, u64 wal_end, i64 send_time, payload
 *   'k' keepalive: u64 wal_end, i64 send_time, u8 reply_requested
 * and the client answers with
 *   'r' status:    u64 written, u64 flushed, u64 applied, i64 send_time, u8 reply_requested
 * This file parses and builds exactly those frames; it knows nothing of sockets.
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace concord::protocol {

enum class FrameType : char {
	kXLogData = 'w',
	kKeepalive = 'k',
};

struct Frame {
	FrameType type = FrameType::kKeepalive;
	uint64_t data_start = 0; /* XLogData only */
	uint64_t wal_end = 0;
	int64_t send_time = 0;
	bool reply_requested = false; /* keepalive only */
	const char *payload = nullptr; /* XLogData only: the concord message */
	size_t payload_len = 0;
};

/*
 * Parses one CopyData frame.  Returns false (with *error set to a static
 * description) on an unknown type, a short frame or a keepalive longer than
 * its fixed size.
 */
bool ParseFrame(const char *data, size_t len, Frame *out, const char **error);

inline constexpr size_t kStatusUpdateSize = 1 + 8 + 8 + 8 + 8 + 1;

/* Builds a standby status update into buf (kStatusUpdateSize bytes). */
void BuildStatusUpdate(uint64_t written, uint64_t flushed, uint64_t applied, int64_t send_time, bool reply_requested,
                       char *buf);

} // namespace concord::protocol
