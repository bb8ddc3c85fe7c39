/*
 * mesh_functions.cpp — concord.join_mesh(), concord.leave_mesh() and
 * concord.copy_table().
 *
 * join_mesh and leave_mesh orchestrate several nodes.  Each step runs on its
 * node through a libpq connection in its own transaction — this node's own
 * steps too, through a connection to its own DSN — so the calling backend
 * never holds a transaction id while a peer builds a slot snapshot on this
 * node (which would wait for it forever).  join_mesh order, for a new node N
 * joining through member V with other members M:
 *   1. N: create_node; add the tables V replicates, with V's policies;
 *   2. N: subscribe to every M, paused: M's slots for N start now;
 *   3. each M: wait until V has applied everything M committed so far, so
 *      all M wrote before its slot for N is in V's data;
 *   4. N: subscribe to V with copy_data: V's rows as of V's slot start;
 *   5. N: resume the M subscriptions: M's changes after step 2 arrive; those
 *      also in the copy meet their own copied versions and are skipped;
 *   6. V and every M subscribe to N; wait until N has applied all they sent.
 * If a step fails, what was set up is taken down again, best effort.
 */
extern "C" {
#include "postgres.h"

#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
}

#include "common/conninfo/conninfo.hpp"
#include "common/naming/names.hpp"
#include "extension/bridge/pg_guard.hpp"
#include "extension/catalog/catalog.hpp"
#include "extension/remote/remote.hpp"
#include "extension/shmem/shared_state.hpp"
#include "extension/sqlapi/access.hpp"
#include "extension/sqlapi/peer_wait.hpp"
#include "extension/sqlapi/pending.hpp"
#include "extension/sqlapi/secret_guard.hpp"
#include "extension/sqlapi/subscription_ops.hpp"
#include "extension/sqlapi/worker_control.hpp"
#include "worker/sync/initial_copy.hpp"

extern "C" {
PG_FUNCTION_INFO_V1(concord_join_mesh);
PG_FUNCTION_INFO_V1(concord_leave_mesh);
PG_FUNCTION_INFO_V1(concord_copy_table);
}

namespace concord::sqlapi {

namespace {

struct Member {
	char *name;
	char *dsn;
};

/* Runs one statement with text parameters on conn; returns the first value (or nullptr). */
char *RemoteValue(PGconn *conn, const char *sql, int nparams, const char *const *params, const char *what,
                  const char *peer) {
	PGresult *res = remote::RemoteExecParams(conn, sql, nparams, params, PGRES_TUPLES_OK, what, peer);
	char *value = PQntuples(res) > 0 && !PQgetisnull(res, 0, 0) ? pstrdup(PQgetvalue(res, 0, 0)) : nullptr;
	PQclear(res);
	return value;
}

/* Runs fn(conn) on a fresh connection to a member; the connection is closed whatever happens. */
template <typename F>
void OnMember(const char *dsn, const char *member, F &&fn) {
	PGconn *conn = remote::RemoteConnect(dsn, false, "concord mesh", member);
	PG_TRY();
	{
		fn(conn);
	}
	PG_FINALLY();
	{
		remote::RemoteClose(conn);
	}
	PG_END_TRY();
}

char *IntervalText(Interval *timeout) {
	return DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(timeout)));
}

/* Waits on `conn`'s node until `peer` applied everything committed there; raises on timeout. */
void WaitForPeerOn(PGconn *conn, const char *where, const char *peer, const char *timeout) {
	char *peers = psprintf("{%s}", peer);
	const char *params[2] = {timeout, peers};
	char *ok = RemoteValue(conn, "SELECT concord.wait_for_peers($1::interval, $2::text[])", 2, params,
	                       "waiting for a peer", where);
	if (ok == nullptr || strcmp(ok, "t") != 0)
		ereport(ERROR, (errcode(ERRCODE_QUERY_CANCELED),
		                errmsg("node \"%s\" did not apply everything from node \"%s\" within %s", peer, where,
		                       timeout)));
}

/* This database's identity as seen through a DSN: raises unless dsn leads here. */
void CheckDsnLeadsHere(PGconn *self, const char *dsn_label) {
	char *sysid = RemoteValue(self,
	                          "SELECT (SELECT system_identifier FROM pg_catalog.pg_control_system())::text || ':' || "
	                          "(SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())::text",
	                          0, nullptr, "checking the node's own DSN", dsn_label);
	char *expected = psprintf(UINT64_FORMAT ":%u", GetSystemIdentifier(), MyDatabaseId);
	if (sysid == nullptr || strcmp(sysid, expected) != 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
		                errmsg("the dsn given to join_mesh does not lead to this database"),
		                errhint("Peers reach the new node through this DSN; it must connect to this very database.")));
}

/* What a join has set up so far, so a failure takes down exactly that. */
struct JoinProgress {
	bool node_created;
	List *subscribed_members; /* of Member *: members now pulling from the new node */
	List *added_tables;       /* of char *: tables this join added to the new node's configuration */
};

/* Copies V's table configuration onto this node (through `self`). */
void CopyTableConfig(PGconn *via, const char *via_name, PGconn *self, const char *self_name, JoinProgress *progress) {
	PGresult *res = remote::RemoteExec(
	    via,
	    "SELECT relid::text, conflict_policy, resolver::text, delta_columns::text FROM concord.replicated_table "
	    "ORDER BY relid::text",
	    PGRES_TUPLES_OK, "reading the replicated tables", via_name);
	for (int i = 0; i < PQntuples(res); i++) {
		const char *rel = PQgetvalue(res, i, 0);
		const char *policy = PQgetvalue(res, i, 1);
		bool custom = strcmp(policy, "custom") == 0;
		const char *add[2] = {rel, custom ? "last_update_wins" : policy};
		/* A table kept from an earlier membership only takes the mesh's policy. */
		const char *exists_param[1] = {rel};
		char *exists = RemoteValue(self, "SELECT EXISTS (SELECT 1 FROM concord.tables WHERE relation = $1::regclass)", 1,
		                           exists_param, "reading the replicated tables", self_name);
		bool kept = exists != nullptr && strcmp(exists, "t") == 0;
		PQclear(remote::RemoteExecParams(self,
		                                 kept ? "SELECT concord.set_conflict_policy($1::regclass, $2)"
		                                      : "SELECT concord.add_table($1::regclass, $2)",
		                                 2, add, PGRES_TUPLES_OK, "adding a replicated table", self_name));
		if (!kept)
			progress->added_tables = lappend(progress->added_tables, pstrdup(rel));
		if (custom) {
			const char *set[2] = {rel, PQgetvalue(res, i, 2)};
			PQclear(remote::RemoteExecParams(self,
			                                 "SELECT concord.set_conflict_policy($1::regclass, 'custom', $2::regprocedure)",
			                                 2, set, PGRES_TUPLES_OK, "setting a custom resolver", self_name));
		}
		if (strcmp(PQgetvalue(res, i, 3), "{}") != 0) {
			const char *set[2] = {rel, PQgetvalue(res, i, 3)};
			PQclear(remote::RemoteExecParams(self, "SELECT concord.set_delta_columns($1::regclass, $2::text[])", 2, set,
			                                 PGRES_TUPLES_OK, "setting delta columns", self_name));
		}
	}
	PQclear(res);
}


/*
 * Best-effort teardown after a failed join: the members this join made pull
 * from the new node stop, and the new node forgets itself (if this join
 * created it).  Nothing else in the mesh is touched.
 */
void UndoJoin(const char *name, const char *dsn, const JoinProgress &progress) {
	ListCell *lc;
	foreach (lc, progress.subscribed_members) {
		auto *m = static_cast<Member *>(lfirst(lc));
		const char *keys[] = {"dbname", "connect_timeout", nullptr};
		const char *vals[] = {m->dsn, "10", nullptr};
		PGconn *conn = PQconnectdbParams(keys, vals, 1);
		if (PQstatus(conn) == CONNECTION_OK) {
			const char *params[1] = {name};
			PQclear(PQexecParams(conn,
			                     "SELECT concord.unsubscribe(peer_name) FROM concord.peers WHERE peer_name = $1", 1,
			                     nullptr, params, nullptr, nullptr, 0));
		}
		PQfinish(conn);
	}
	if (!progress.node_created)
		return;
	const char *keys[] = {"dbname", "connect_timeout", nullptr};
	const char *vals[] = {dsn, "10", nullptr};
	PGconn *self = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(self) == CONNECTION_OK) {
		PQclear(PQexec(self, "SELECT concord.drop_node() FROM concord.node"));
		foreach (lc, progress.added_tables) {
			const char *params[1] = {static_cast<const char *>(lfirst(lc))};
			PQclear(PQexecParams(self, "SELECT concord.remove_table($1::regclass)", 1, nullptr, params, nullptr,
			                     nullptr, 0));
		}
	}
	PQfinish(self);
}

void JoinSteps(const char *name, const char *dsn, const char *via_dsn, const char *timeout, PGconn *self,
               PGconn *via, const char *via_name, List *members, JoinProgress *progress) {
	/* 1 */
	const char *create[2] = {name, dsn};
	PQclear(remote::RemoteExecParams(self, "SELECT concord.create_node($1, $2)", 2, create, PGRES_TUPLES_OK,
	                                 "creating the node", name));
	progress->node_created = true;
	CopyTableConfig(via, via_name, self, name, progress);

	/* 2 and 3 */
	ListCell *lc;
	foreach (lc, members) {
		auto *m = static_cast<Member *>(lfirst(lc));
		const char *params[2] = {m->name, m->dsn};
		PQclear(remote::RemoteExecParams(self, "SELECT concord.subscribe($1, $2, false, false)", 2, params,
		                                 PGRES_TUPLES_OK, "subscribing to a member", name));
		OnMember(m->dsn, m->name, [&](PGconn *mconn) { WaitForPeerOn(mconn, m->name, via_name, timeout); });
	}

	/* 4 */
	const char *copy[2] = {via_name, via_dsn};
	PQclear(remote::RemoteExecParams(self, "SELECT concord.subscribe($1, $2, true)", 2, copy, PGRES_TUPLES_OK,
	                                 "copying the data", name));

	/* 5 */
	foreach (lc, members) {
		auto *m = static_cast<Member *>(lfirst(lc));
		const char *params[1] = {m->name};
		PQclear(remote::RemoteExecParams(self, "SELECT concord.resume($1)", 1, params, PGRES_TUPLES_OK,
		                                 "resuming a member", name));
	}

	/* 6: every member, the one we came through included, subscribes to us, then waits for us to catch up. */
	Member via_member{const_cast<char *>(via_name), const_cast<char *>(via_dsn)};
	List *all = lappend(list_copy(members), &via_member);
	foreach (lc, all) {
		auto *m = static_cast<Member *>(lfirst(lc));
		OnMember(m->dsn, m->name, [&](PGconn *mconn) {
			const char *params[2] = {name, dsn};
			PQclear(remote::RemoteExecParams(mconn, "SELECT concord.subscribe($1, $2)", 2, params, PGRES_TUPLES_OK,
			                                 "subscribing a member to the new node", m->name));
		});
		progress->subscribed_members = lappend(progress->subscribed_members, m);
	}
	foreach (lc, all) {
		auto *m = static_cast<Member *>(lfirst(lc));
		OnMember(m->dsn, m->name, [&](PGconn *mconn) { WaitForPeerOn(mconn, m->name, name, timeout); });
	}
}

Datum JoinMesh(FunctionCallInfo fcinfo) {
	RequireAdmin("concord.join_mesh");
	RequirePreloaded();
	RequireServerSettings();
	char *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char *dsn = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char *via_dsn = text_to_cstring(PG_GETARG_TEXT_PP(2));
	char *timeout = IntervalText(PG_GETARG_INTERVAL_P(3));
	if (const char *problem = naming::NodeNameProblem(name))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("invalid node name \"%s\"", name),
		                errdetail("%s.", problem)));
	catalog::NodeInfo existing;
	if (catalog::LoadLocalNode(&existing))
		ereport(ERROR, (errcode(ERRCODE_DUPLICATE_OBJECT),
		                errmsg("this database is already concord node \"%s\"", existing.node_name)));

	PGconn *self = remote::RemoteConnect(dsn, false, "concord join", name);
	PGconn *via = nullptr;
	List *members = NIL;
	char *via_name = nullptr;
	JoinProgress progress{false, NIL, NIL};
	ErrorData *failure = nullptr;
	MemoryContext caller = CurrentMemoryContext;
	PG_TRY();
	{
		CheckDsnLeadsHere(self, name);
		via = remote::RemoteConnect(via_dsn, false, "concord join", "via_dsn");
		char *has_concord = RemoteValue(via, "SELECT to_regclass('concord.node') IS NOT NULL", 0, nullptr,
		                                "checking the member", "via_dsn");
		if (has_concord == nullptr || strcmp(has_concord, "t") != 0)
			ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			                errmsg("the database at via_dsn does not have the concord extension installed")));
		via_name = RemoteValue(via, "SELECT node_name FROM concord.node", 0, nullptr, "reading the member's node",
		                       "via_dsn");
		if (via_name == nullptr)
			ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			                errmsg("the database at via_dsn is not a concord node")));
		if (strcmp(via_name, name) == 0)
			ereport(ERROR, (errcode(ERRCODE_DUPLICATE_OBJECT),
			                errmsg("the mesh already has a node named \"%s\"", name)));
		PGresult *res = remote::RemoteExec(via, "SELECT peer_name, peer_dsn FROM concord.subscription ORDER BY 1",
		                                   PGRES_TUPLES_OK, "reading the mesh's members", via_name);
		for (int i = 0; i < PQntuples(res); i++) {
			if (strcmp(PQgetvalue(res, i, 0), name) == 0) {
				PQclear(res);
				ereport(ERROR, (errcode(ERRCODE_DUPLICATE_OBJECT),
				                errmsg("the mesh already has a node named \"%s\"", name)));
			}
			auto *m = static_cast<Member *>(palloc(sizeof(Member)));
			m->name = pstrdup(PQgetvalue(res, i, 0));
			m->dsn = pstrdup(PQgetvalue(res, i, 1));
			members = lappend(members, m);
		}
		PQclear(res);
		JoinSteps(name, dsn, via_dsn, timeout, self, via, via_name, members, &progress);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(caller);
		failure = CopyErrorData();
		FlushErrorState();
	}
	PG_END_TRY();
	remote::RemoteClose(via);
	remote::RemoteClose(self);
	if (failure != nullptr) {
		UndoJoin(name, dsn, progress);
		ReThrowError(failure);
	}
	PG_RETURN_VOID();
}

Datum LeaveMesh(FunctionCallInfo fcinfo) {
	RequireAdmin("concord.leave_mesh");
	RequirePreloaded();
	catalog::NodeInfo node;
	catalog::RequireLocalNode(&node);
	Interval *timeout = PG_GETARG_INTERVAL_P(0);
	List *subs = catalog::LoadSubscriptions();

	/*
	 * What this node committed must reach every member before they let go of
	 * it: a member's unsubscribe drops its slot here, and what it had not
	 * applied by then would never reach it.
	 */
	if (!WaitForSubscribers(node.node_name, NIL, IntervalMs(timeout)))
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
		                errmsg("not every member applied what node \"%s\" committed within %s", node.node_name,
		                       IntervalText(timeout)),
		                errdetail("Nothing was changed: every member still subscribes to this node."),
		                errhint("Check concord.peers on the members (a paused or failing link never catches up), "
		                        "then call leave_mesh again, with a longer timeout if they are only behind.")));

	/* Every member stops pulling from us first: its unsubscribe drops its slot here. */
	ListCell *lc;
	foreach (lc, subs) {
		auto *sub = static_cast<catalog::SubscriptionInfo *>(lfirst(lc));
		OnMember(sub->peer_dsn, sub->peer_name, [&](PGconn *conn) {
			const char *params[1] = {node.node_name};
			PQclear(remote::RemoteExecParams(conn,
			                                 "SELECT concord.unsubscribe(peer_name) FROM concord.peers "
			                                 "WHERE peer_name = $1",
			                                 1, params, PGRES_TUPLES_OK, "unsubscribing from the leaving node",
			                                 sub->peer_name));
		});
	}
	/* Then this node stops pulling from them (their slots go at commit) and forgets itself. */
	RemoveNode(node.node_name, subs);
	PG_RETURN_VOID();
}

Datum CopyTable(FunctionCallInfo fcinfo) {
	RequireAdmin("concord.copy_table");
	RequirePreloaded();
	Oid relid = PG_GETARG_OID(0);
	char *peer_name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	catalog::SubscriptionInfo sub;
	if (!catalog::LoadSubscriptionByName(peer_name, &sub))
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("no subscription to peer \"%s\"", peer_name)));
	catalog::TableInfo table;
	if (!catalog::LoadTable(relid, &table))
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
		                errmsg("table \"%s\" is not replicated by concord", get_rel_name(relid)),
		                errhint("Call concord.add_table() first.")));
	/*
	 * No apply worker may write the table while it fills: every peer pauses
	 * until this transaction ends, then resumes where it was; what the peers
	 * sent meanwhile meets the copied rows' versions.
	 */
	List *subs = catalog::LoadSubscriptions();
	ListCell *lc;
	foreach (lc, subs) {
		auto *s = static_cast<catalog::SubscriptionInfo *>(lfirst(lc));
		LWLockAcquire(&shmem::state->lock, LW_SHARED);
		shmem::PeerSlot *p = shmem::FindPeer(MyDatabaseId, s->sub_id);
		bool paused = p != nullptr && p->pause_requested;
		bool stopped = p != nullptr && p->stop_requested;
		LWLockRelease(&shmem::state->lock);
		StopWorker(s->sub_id, s->peer_name, Request::kPause);
		RestoreRequestsAtCommit(MyDatabaseId, s->sub_id, paused, stopped);
	}
	WakeWorkersAtCommit();
	uint64 rows = sync::CopyOneTable(sub.peer_dsn, sub.peer_name, relid);
	PG_RETURN_INT64(static_cast<int64>(rows));
}

} // namespace

} // namespace concord::sqlapi

using concord::pg::Entry;

Datum concord_join_mesh(PG_FUNCTION_ARGS) {
	/* Both DSNs may carry a password: scrub the one of via_dsn too, by nesting. */
	char *dsn = PG_ARGISNULL(1) ? nullptr : text_to_cstring(PG_GETARG_TEXT_PP(1));
	char *via_dsn = PG_ARGISNULL(2) ? nullptr : text_to_cstring(PG_GETARG_TEXT_PP(2));
	return Entry([&] {
		return concord::sqlapi::HideSecrets(dsn, [&] {
			return concord::sqlapi::HideSecrets(via_dsn, [&] { return concord::sqlapi::JoinMesh(fcinfo); });
		});
	});
}
Datum concord_leave_mesh(PG_FUNCTION_ARGS) { return Entry([&] { return concord::sqlapi::LeaveMesh(fcinfo); }); }
Datum concord_copy_table(PG_FUNCTION_ARGS) { return Entry([&] { return concord::sqlapi::CopyTable(fcinfo); }); }
