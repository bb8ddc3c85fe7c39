/*
 * remote.cpp — non-blocking libpq connect and query execution with latch waits.
 */
#include "extension/remote/remote.hpp"

#include "extension/settings.hpp"

extern "C" {
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/timestamp.h"
}

namespace concord::remote {

namespace {

/* Trims libpq's trailing newline for use in errmsg. */
char *CleanMessage(const char *msg) {
	char *copy = pstrdup(msg != nullptr && msg[0] != '\0' ? msg : "unknown error");
	size_t len = strlen(copy);
	while (len > 0 && (copy[len - 1] == '\n' || copy[len - 1] == ' '))
		copy[--len] = '\0';
	return copy;
}

void WaitOnSocket(PGconn *conn, int events, long timeout_ms) {
	int rc = WaitLatchOrSocket(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH | events | (timeout_ms >= 0 ? WL_TIMEOUT : 0),
	                           PQsocket(conn), timeout_ms, PG_WAIT_EXTENSION);
	if (rc & WL_LATCH_SET)
		ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
}

} // namespace

void RaiseRemoteError(PGconn *conn, const char *what, const char *peer, const PGresult *res) {
	const char *msg = res != nullptr ? PQresultErrorMessage(res) : nullptr;
	if (msg == nullptr || msg[0] == '\0')
		msg = conn != nullptr ? PQerrorMessage(conn) : nullptr;
	ereport(ERROR, (errcode(ERRCODE_CONNECTION_FAILURE), errmsg("%s on peer \"%s\" failed: %s", what, peer,
	                                                             CleanMessage(msg))));
	pg_unreachable();
}

PGconn *RemoteConnect(const char *dsn, bool replication, const char *appname, const char *peer,
                      int requested_timeout_s) {
	/*
	 * TCP keepalives and a user timeout derived from concord.peer_timeout: a
	 * peer whose host vanishes or whose network silently drops packets is
	 * noticed by the kernel within that time, not after the TCP default of
	 * minutes (a frozen peer that still ACKs is caught by the worker's own
	 * silence check).  Given after the DSN, these win over its own values.
	 */
	int timeout_s = Max(settings::peer_timeout_ms / 1000, 3);
	char idle[16], interval[16], user_timeout[16];
	snprintf(idle, sizeof(idle), "%d", Max(timeout_s / 4, 1));
	snprintf(interval, sizeof(interval), "%d", Max(timeout_s / 8, 1));
	snprintf(user_timeout, sizeof(user_timeout), "%d", timeout_s * 1000);
	const char *keys[10];
	const char *vals[10];
	int n = 0;
	keys[n] = "dbname";
	vals[n++] = dsn;
	if (replication) {
		keys[n] = "replication";
		vals[n++] = "database";
	}
	keys[n] = "fallback_application_name";
	vals[n++] = appname;
	if (settings::peer_timeout_ms > 0) {
		keys[n] = "keepalives";
		vals[n++] = "1";
		keys[n] = "keepalives_idle";
		vals[n++] = idle;
		keys[n] = "keepalives_interval";
		vals[n++] = interval;
		keys[n] = "keepalives_count";
		vals[n++] = "3";
		keys[n] = "tcp_user_timeout";
		vals[n++] = user_timeout;
	}
	/* volatile: read inside PG_TRY below */
	volatile int connect_timeout_s =
	    settings::peer_timeout_ms > 0 ? Min(requested_timeout_s, timeout_s) : requested_timeout_s;
	keys[n] = nullptr;
	vals[n] = nullptr;

	PGconn *conn = PQconnectStartParams(keys, vals, /* expand_dbname */ 1);
	if (conn == nullptr)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("could not allocate a connection to peer \"%s\"", peer)));
	if (PQstatus(conn) == CONNECTION_BAD) {
		char *msg = CleanMessage(PQerrorMessage(conn));
		PQfinish(conn);
		ereport(ERROR, (errcode(ERRCODE_CONNECTION_FAILURE), errmsg("could not connect to peer \"%s\": %s", peer, msg)));
	}

	TimestampTz deadline = GetCurrentTimestamp() + (TimestampTz)connect_timeout_s * USECS_PER_SEC;
	PostgresPollingStatusType poll = PGRES_POLLING_WRITING;
	PG_TRY();
	{
		while (poll != PGRES_POLLING_OK && poll != PGRES_POLLING_FAILED) {
			long remaining = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
			if (remaining <= 0)
				ereport(ERROR, (errcode(ERRCODE_CONNECTION_FAILURE),
				                errmsg("could not connect to peer \"%s\": timed out after %d seconds", peer,
				                       connect_timeout_s)));
			WaitOnSocket(conn, poll == PGRES_POLLING_READING ? WL_SOCKET_READABLE : WL_SOCKET_WRITEABLE, remaining);
			poll = PQconnectPoll(conn);
		}
	}
	PG_CATCH();
	{
		PQfinish(conn);
		PG_RE_THROW();
	}
	PG_END_TRY();

	if (poll == PGRES_POLLING_FAILED || PQstatus(conn) != CONNECTION_OK) {
		char *msg = CleanMessage(PQerrorMessage(conn));
		PQfinish(conn);
		ereport(ERROR, (errcode(ERRCODE_CONNECTION_FAILURE), errmsg("could not connect to peer \"%s\": %s", peer, msg)));
	}
	if (PQsetnonblocking(conn, 1) != 0) {
		PQfinish(conn);
		ereport(ERROR, (errcode(ERRCODE_CONNECTION_FAILURE), errmsg("could not make the connection to peer \"%s\" non-blocking", peer)));
	}
	/*
	 * Values cross between nodes as text: make the peer's output unambiguous
	 * and exact whatever its defaults (as core logical replication does).
	 */
	PG_TRY();
	{
		PGresult *res = RemoteExec(conn, "SET datestyle = ISO; SET intervalstyle = postgres; SET extra_float_digits = 3",
		                           PGRES_COMMAND_OK, "setting up the session", peer);
		PQclear(res);
	}
	PG_CATCH();
	{
		PQfinish(conn);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return conn;
}

void RemoteWaitReadable(PGconn *conn, long timeout_ms) { WaitOnSocket(conn, WL_SOCKET_READABLE, timeout_ms); }

namespace {

/* Flushes the send queue, then collects results until none is left. */
PGresult *CollectResult(PGconn *conn, ExecStatusType expect, const char *what, const char *peer) {
	for (;;) {
		int flushed = PQflush(conn);
		if (flushed < 0)
			RaiseRemoteError(conn, what, peer);
		if (flushed == 0)
			break;
		WaitOnSocket(conn, WL_SOCKET_READABLE | WL_SOCKET_WRITEABLE, -1);
		if (PQconsumeInput(conn) == 0)
			RaiseRemoteError(conn, what, peer);
	}

	PGresult *last = nullptr;
	for (;;) {
		while (PQisBusy(conn)) {
			WaitOnSocket(conn, WL_SOCKET_READABLE, -1);
			if (PQconsumeInput(conn) == 0) {
				if (last != nullptr)
					PQclear(last);
				RaiseRemoteError(conn, what, peer);
			}
		}
		PGresult *res = PQgetResult(conn);
		if (res == nullptr)
			break;
		ExecStatusType st = PQresultStatus(res);
		if (last != nullptr)
			PQclear(last);
		last = res;
		/* COPY states end the command stream for now; the caller continues. */
		if (st == PGRES_COPY_BOTH || st == PGRES_COPY_OUT || st == PGRES_COPY_IN)
			break;
	}
	if (last == nullptr || PQresultStatus(last) != expect) {
		char *msg = CleanMessage(last != nullptr ? PQresultErrorMessage(last) : PQerrorMessage(conn));
		if (last != nullptr)
			PQclear(last);
		ereport(ERROR, (errcode(ERRCODE_CONNECTION_EXCEPTION), errmsg("%s on peer \"%s\" failed: %s", what, peer, msg)));
	}
	return last;
}

} // namespace

PGresult *RemoteExec(PGconn *conn, const char *sql, ExecStatusType expect, const char *what, const char *peer) {
	if (PQsendQuery(conn, sql) == 0)
		RaiseRemoteError(conn, what, peer);
	return CollectResult(conn, expect, what, peer);
}

PGresult *RemoteExecParams(PGconn *conn, const char *sql, int nparams, const char *const *values,
                           ExecStatusType expect, const char *what, const char *peer) {
	if (PQsendQueryParams(conn, sql, nparams, nullptr, values, nullptr, nullptr, 0) == 0)
		RaiseRemoteError(conn, what, peer);
	return CollectResult(conn, expect, what, peer);
}

void RemoteClose(PGconn *conn) {
	if (conn != nullptr)
		PQfinish(conn);
}

} // namespace concord::remote
