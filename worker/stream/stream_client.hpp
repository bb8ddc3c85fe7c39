/*
 * stream_client.hpp — the apply worker's replication connection to its peer.
 *
 * Starts logical streaming from a slot with concord's output plugin, hands
 * out frames as they arrive without ever blocking the process, and sends
 * status updates.  Frames returned by Receive stay valid until the next call.
 */
#pragma once

extern "C" {
#include "postgres.h"

#include "access/xlogdefs.h"
#include "datatype/timestamp.h"
}

#include <libpq-fe.h>

namespace concord::stream {

struct StreamConnection {
	PGconn *conn;
	const char *peer;       /* for messages */
	char *frame;            /* last buffer from PQgetCopyData, freed on the next Receive */
};

/* Connects (replication=database) and starts streaming from `slot` at `start`. */
void Start(StreamConnection *sc, const char *dsn, const char *peer, const char *appname, const char *slot,
           XLogRecPtr start);

/*
 * Returns the next frame's length with *data pointing at it; 0 when nothing
 * is available right now.  Raises when the peer ends the stream or the
 * connection breaks.
 */
int Receive(StreamConnection *sc, const char **data);

/* Sends a standby status update; raises if the connection is broken. */
void SendStatus(StreamConnection *sc, XLogRecPtr written, XLogRecPtr flushed, XLogRecPtr applied, bool reply_requested);

/* The connection's socket, for WaitLatchOrSocket. */
pgsocket Socket(const StreamConnection *sc);

void Close(StreamConnection *sc);

} // namespace concord::stream
