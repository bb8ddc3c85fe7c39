/*
 * stream_frame.cpp — parse 'w' / 'k' frames and build 'r' replies; see stream_frame.hpp.
 */
#include "common/protocol/stream_frame.hpp"

#include "common/protocol/wire.hpp"

namespace concord::protocol {

namespace {

/* Writes one big-endian integer through the codec's Writer. */
struct FixedSink {
	char *at;
	void Append(const char *data, size_t len) {
		for (size_t i = 0; i < len; i++)
			*at++ = data[i];
	}
};

} // namespace

bool ParseFrame(const char *data, size_t len, Frame *out, const char **error) {
	Reader r(data, len);
	uint8_t type = r.GetU8();
	if (!r.ok()) {
		*error = "empty replication frame";
		return false;
	}
	switch (static_cast<FrameType>(type)) {
	case FrameType::kXLogData:
		out->type = FrameType::kXLogData;
		out->data_start = r.GetU64();
		out->wal_end = r.GetU64();
		out->send_time = r.GetI64();
		out->reply_requested = false;
		if (!r.ok()) {
			*error = "truncated XLogData frame";
			return false;
		}
		out->payload = data + r.offset();
		out->payload_len = r.remaining();
		return true;
	case FrameType::kKeepalive:
		out->type = FrameType::kKeepalive;
		out->data_start = 0;
		out->wal_end = r.GetU64();
		out->send_time = r.GetI64();
		out->reply_requested = r.GetU8() != 0;
		out->payload = nullptr;
		out->payload_len = 0;
		if (!r.ok()) {
			*error = "truncated keepalive frame";
			return false;
		}
		/* A keepalive has a fixed size (as walreceiver.c checks): extra bytes are malformed. */
		if (!r.AtEnd()) {
			*error = "oversized keepalive frame";
			return false;
		}
		return true;
	}
	*error = "unknown replication frame type";
	return false;
}

void BuildStatusUpdate(uint64_t written, uint64_t flushed, uint64_t applied, int64_t send_time, bool reply_requested,
                       char *buf) {
	FixedSink sink{buf};
	Writer<FixedSink> w(sink);
	w.PutU8('r');
	w.PutU64(written);
	w.PutU64(flushed);
	w.PutU64(applied);
	w.PutI64(send_time);
	w.PutU8(reply_requested ? 1 : 0);
}

} // namespace concord::protocol
