/*
 * stream_client.cpp — START_REPLICATION and CopyBoth traffic over libpq.
 */
#include "extension/bridge/pg_compat.hpp"
#include "worker/stream/stream_client.hpp"

extern "C" {
#include "utils/builtins.h"
#include "utils/timestamp.h"
}

#include "common/protocol/stream_frame.hpp"
#include "common/protocol/wire.hpp"
#include "extension/remote/remote.hpp"

namespace concord::stream {

void Start(StreamConnection *sc, const char *dsn, const char *peer, const char *appname, const char *slot,
           XLogRecPtr start) {
	sc->peer = peer;
	sc->frame = nullptr;
	sc->conn = remote::RemoteConnect(dsn, true, appname, peer);
	char *cmd = psprintf("START_REPLICATION SLOT %s LOGICAL %X/%X (proto_version '%u')", quote_identifier(slot),
	                     CONCORD_LSN_ARGS(start), protocol::kProtocolVersion);
	PGresult *res = remote::RemoteExec(sc->conn, cmd, PGRES_COPY_BOTH, "starting replication", peer);
	PQclear(res);
}

int Receive(StreamConnection *sc, const char **data) {
	if (sc->frame != nullptr) {
		PQfreemem(sc->frame);
		sc->frame = nullptr;
	}
	int len = PQgetCopyData(sc->conn, &sc->frame, 1);
	if (len == 0) {
		if (PQconsumeInput(sc->conn) == 0)
			remote::RaiseRemoteError(sc->conn, "receiving changes", sc->peer);
		len = PQgetCopyData(sc->conn, &sc->frame, 1);
	}
	if (len > 0) {
		*data = sc->frame;
		return len;
	}
	if (len == 0)
		return 0;
	if (len == -1) {
		/* The server ended COPY: collect its reason. */
		PGresult *res = PQgetResult(sc->conn);
		const char *why = res != nullptr ? PQresultErrorMessage(res) : "";
		char *copy = pstrdup(why[0] != '\0' ? why : "the peer ended the replication stream");
		if (res != nullptr)
			PQclear(res);
		ereport(ERROR, (errcode(ERRCODE_CONNECTION_FAILURE),
		                errmsg("replication from peer \"%s\" ended: %s", sc->peer, copy)));
	}
	remote::RaiseRemoteError(sc->conn, "receiving changes", sc->peer);
}

void SendStatus(StreamConnection *sc, XLogRecPtr written, XLogRecPtr flushed, XLogRecPtr applied,
                bool reply_requested) {
	char buf[protocol::kStatusUpdateSize];
	protocol::BuildStatusUpdate(written, flushed, applied, GetCurrentTimestamp(), reply_requested, buf);
	if (PQputCopyData(sc->conn, buf, sizeof(buf)) <= 0 || PQflush(sc->conn) < 0)
		remote::RaiseRemoteError(sc->conn, "sending feedback", sc->peer);
}

pgsocket Socket(const StreamConnection *sc) { return PQsocket(sc->conn); }

void Close(StreamConnection *sc) {
	if (sc->frame != nullptr) {
		PQfreemem(sc->frame);
		sc->frame = nullptr;
	}
	remote::RemoteClose(sc->conn);
	sc->conn = nullptr;
}

} // namespace concord::stream
