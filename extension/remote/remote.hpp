/*
 * remote.hpp — talking to a peer over libpq without ever blocking the process.
 *
 * Every wait goes through WaitLatchOrSocket, so SQL functions stay cancellable
 * and workers react to SIGTERM and postmaster death.  Errors are raised with
 * ereport(ERROR) naming the peer; connection strings are never part of a
 * message.  These functions own no C++ objects (they may raise).
 *
 * Ownership: RemoteConnect returns a PGconn the caller must RemoteClose, also
 * on error (PG_FINALLY, or process exit in a worker).  RemoteExec returns a
 * PGresult the caller must PQclear.
 */
#pragma once

extern "C" {
#include "postgres.h"
}

#include <libpq-fe.h>

namespace concord::remote {

/*
 * Connects to `dsn` (replication=database when `replication`), waiting at most
 * connect_timeout_s.  `peer` names the other side in error messages.
 */
PGconn *RemoteConnect(const char *dsn, bool replication, const char *appname, const char *peer,
                      int connect_timeout_s = 30);

/*
 * Sends sql and returns its (last) result, which must have `expect` status.
 * `what` describes the step for error messages ("creating the slot").
 */
PGresult *RemoteExec(PGconn *conn, const char *sql, ExecStatusType expect, const char *what, const char *peer);

/* Like RemoteExec with parameters (text format). */
PGresult *RemoteExecParams(PGconn *conn, const char *sql, int nparams, const char *const *values,
                           ExecStatusType expect, const char *what, const char *peer);

/* Waits until the socket is readable, the latch is set, or timeout_ms passes (-1 = no timeout). */
void RemoteWaitReadable(PGconn *conn, long timeout_ms);

/* Closes conn if not null. */
void RemoteClose(PGconn *conn);

/* Raises an error "<what> on peer "<peer>": <libpq message>". */
[[noreturn]] void RaiseRemoteError(PGconn *conn, const char *what, const char *peer, const PGresult *res = nullptr);

} // namespace concord::remote
