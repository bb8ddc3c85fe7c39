/*
 * peer.cpp — identity check and slot creation on a peer, over libpq.
 */
#include "extension/remote/peer.hpp"

extern "C" {
#include "access/xlog.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"
}

#include "extension/remote/remote.hpp"

namespace concord::remote {

void CheckPeerIdentity(const char *dsn, const char *peer_name) {
	PGconn *conn = RemoteConnect(dsn, false, "concord", peer_name);
	PG_TRY();
	{
		PGresult *res = RemoteExec(conn,
		                           "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'concord'), "
		                           "(SELECT system_identifier FROM pg_catalog.pg_control_system())::text, "
		                           "(SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())::text",
		                           PGRES_TUPLES_OK, "checking the peer", peer_name);
		bool has_concord = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
		uint64 sysid = strtoull(PQgetvalue(res, 0, 1), nullptr, 10);
		Oid dboid = (Oid)strtoul(PQgetvalue(res, 0, 2), nullptr, 10);
		PQclear(res);
		if (sysid == GetSystemIdentifier() && dboid == MyDatabaseId)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			                errmsg("cannot subscribe to peer \"%s\": its connection string leads to this database",
			                       peer_name),
			                errhint("A node never subscribes to itself; give the DSN of another node.")));
		if (!has_concord)
			ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			                errmsg("peer \"%s\" does not have the concord extension installed", peer_name),
			                errhint("Run CREATE EXTENSION concord and concord.create_node() on the peer.")));
		res = RemoteExec(conn, "SELECT node_name FROM concord.node", PGRES_TUPLES_OK, "reading the peer's node",
		                 peer_name);
		if (PQntuples(res) == 0) {
			PQclear(res);
			ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			                errmsg("peer \"%s\" is not a concord node yet", peer_name),
			                errhint("Call concord.create_node() on the peer first.")));
		}
		char *actual = pstrdup(PQgetvalue(res, 0, 0));
		PQclear(res);
		if (strcmp(actual, peer_name) != 0)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			                errmsg("the node at the given connection string is named \"%s\", not \"%s\"", actual,
			                       peer_name),
			                errhint("Subscribe using the peer's own node name.")));
	}
	PG_FINALLY();
	{
		RemoteClose(conn);
	}
	PG_END_TRY();
}

XLogRecPtr CreateRemoteSlot(const char *dsn, const char *slot, const char *peer_name) {
	PGconn *conn = RemoteConnect(dsn, true, "concord", peer_name);
	XLogRecPtr lsn = InvalidXLogRecPtr;
	PG_TRY();
	{
		char *cmd = psprintf("CREATE_REPLICATION_SLOT %s LOGICAL concord (SNAPSHOT 'nothing')", quote_identifier(slot));
		PGresult *res = RemoteExec(conn, cmd, PGRES_TUPLES_OK, "creating the replication slot", peer_name);
		/* columns: slot_name, consistent_point, snapshot_name, output_plugin */
		lsn = DatumGetLSN(DirectFunctionCall1(pg_lsn_in, CStringGetDatum(PQgetvalue(res, 0, 1))));
		PQclear(res);
	}
	PG_FINALLY();
	{
		RemoteClose(conn);
	}
	PG_END_TRY();
	return lsn;
}

} // namespace concord::remote
